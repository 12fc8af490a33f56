/**
 * Kubernetes resource quantities (`250m`, `0.5`, `64Mi`, `1G`, `129e6`), with
 * the grammar and rounding of apimachinery's `resource.Quantity`.
 *
 * Values are computed exactly, in whole nano units held in a `bigint`, and
 * only turned into a `number` at the end: `"0.1"` CPU is exactly 100 millis
 * and `"1.1Gi"` rounds up to exactly 1181116007 bytes.
 *
 * @module
 */

/** A quantity that does not follow the Kubernetes grammar, is negative, or is too large. */
export class QuantityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "QuantityError";
  }
}

/** Powers of two of the binary SI suffixes. */
const BINARY: Readonly<Record<string, number>> = {
  Ki: 10,
  Mi: 20,
  Gi: 30,
  Ti: 40,
  Pi: 50,
  Ei: 60,
};

/** Powers of ten of the decimal SI suffixes (lowercase k, uppercase M). */
const DECIMAL: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  "": 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

const WRITE =
  `Write the quantity as a number with an optional suffix, e.g. "250m", "0.5", "64Mi" or "1G"`;
const SUFFIXES = "Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E or an exponent such as e3";

/** 2^63 - 1: the largest amount a Kubernetes quantity can give as an integer. */
const MAX_INT64 = (1n << 63n) - 1n;
const NANOS_PER_UNIT = 1_000_000_000n;
const MAX_NANOS = MAX_INT64 * NANOS_PER_UNIT;

/**
 * Parses `value` into whole nano units, rounding a finer value up to the next
 * nano as Kubernetes does ("0.1n" is 1n).
 */
function parseNanos(value: string | number): bigint {
  let text: string;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) {
      throw new QuantityError(`${WRITE}: ${value} is not a finite number`);
    }
    text = String(value);
  } else {
    text = value;
  }
  if (text === "") throw new QuantityError(`${WRITE}: the value is empty`);
  if (/\s/.test(text)) throw new QuantityError(`${WRITE}: "${text}" contains a space`);

  const m = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/s.exec(text);
  const [, sign = "", whole = "", fraction = "", suffix = ""] = m ?? [];
  if (whole === "" && fraction === "") {
    throw new QuantityError(`${WRITE}: "${text}" has no digits`);
  }
  if (suffix.includes(".")) {
    throw new QuantityError(`${WRITE}: "${text}" has more than one decimal point`);
  }

  let exp10 = -fraction.length;
  let exp2 = 0;
  const binary = BINARY[suffix];
  const decimal = DECIMAL[suffix];
  const exponent = /^[eE]([+-]?[0-9]+)$/.exec(suffix);
  if (binary !== undefined) {
    exp2 = binary;
  } else if (decimal !== undefined) {
    exp10 += decimal;
  } else if (exponent) {
    exp10 += Number(exponent[1]);
  } else {
    throw new QuantityError(
      `${WRITE}: "${text}" has an unknown suffix "${suffix}" (use ${SUFFIXES})`,
    );
  }

  const digits = (whole + fraction).replace(/^0+/, "");
  if (digits === "") return 0n;
  if (sign === "-") {
    throw new QuantityError(
      `Use a quantity of zero or more, e.g. "250m" or "64Mi": "${text}" is negative`,
    );
  }
  const tooLarge = new QuantityError(
    `Use a smaller quantity: "${text}" is more than 2^63-1, the largest Kubernetes allows`,
  );

  // value = digits * 10^exp10 * 2^exp2, in nanos: digits * 10^(exp10 + 9) * 2^exp2.
  const scale = exp10 + 9;
  // Rough size check before any big power is built: 2^60 < 10^19.
  if (digits.length + scale - 1 > 19 + 9 + Math.ceil(exp2 * 0.302)) throw tooLarge;
  const mantissa = BigInt(digits) << BigInt(exp2);
  let nanos: bigint;
  if (scale >= 0) {
    nanos = mantissa * 10n ** BigInt(scale);
  } else if (-scale > digits.length + 20) {
    // Less than one nano (the mantissa has at most digits + 19 digits): round up to 1n.
    nanos = 1n;
  } else {
    const divisor = 10n ** BigInt(-scale);
    nanos = (mantissa + divisor - 1n) / divisor;
  }
  if (nanos > MAX_NANOS) throw tooLarge;
  return nanos;
}

/** Divides positive `n` by `d`, rounding up. */
function ceilDiv(n: bigint, d: bigint): bigint {
  return (n + d - 1n) / d;
}

/**
 * Parses a Kubernetes quantity ("250m", "1", "0.5", "64Mi", "1G", "129e6",
 * "1.5Gi"); numbers from YAML (2, 0.5) are accepted too. Returns its value as
 * a number ("250m" is 0.25, "64Mi" is 67108864), rounded up to a whole nano
 * as Kubernetes does.
 *
 * The grammar: an optional sign, digits with an optional decimal point ("1.",
 * ".5"), then a binary suffix (Ki Mi Gi Ti Pi Ei), a decimal suffix (n u m k M
 * G T P E, or none), or an exponent ("e3", "E-2"). Throws a
 * {@linkcode QuantityError} for anything else, for negative values, and for
 * values above 2^63-1.
 */
export function parseQuantity(value: string | number): number {
  const nanos = parseNanos(value);
  const text = nanos.toString().padStart(10, "0");
  return Number(`${text.slice(0, -9)}.${text.slice(-9)}`);
}

/**
 * CPU in millicores, rounded up like Kubernetes' `MilliValue`: "250m" is 250,
 * "1" is 1000, "0.1" is 100, "1.0001" is 1001, "100u" is 1. Throws a
 * {@linkcode QuantityError} when `value` is not a valid quantity.
 */
export function cpuMillis(value: string | number): number {
  return Number(ceilDiv(parseNanos(value), 1_000_000n));
}

/**
 * Memory in bytes, rounded up to a whole byte like Kubernetes' `Value`:
 * "64Mi" is 67108864, "1G" is 1000000000, "1.5Ki" is 1536, "500m" is 1.
 * Throws a {@linkcode QuantityError} when `value` is not a valid quantity.
 */
export function memoryBytes(value: string | number): number {
  return Number(ceilDiv(parseNanos(value), NANOS_PER_UNIT));
}
