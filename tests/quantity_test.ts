import assert from "node:assert/strict";
import { cpuMillis, memoryBytes, parseQuantity, QuantityError } from "../lib/manifest/quantity.ts";

// Expected values worked out by hand:
//   1Ki = 1024, 1Mi = 1048576, 1Gi = 1073741824, 64Mi = 67108864,
//   1.5Gi = 1610612736, 1.1Gi = 1181116006.4, 2^63-1 = 9223372036854775807.

const values: { name: string; value: string | number; want: number }[] = [
  { name: "a plain integer is itself", value: "1", want: 1 },
  { name: "a decimal fraction is exact", value: "0.5", want: 0.5 },
  { name: "milli scales by a thousandth", value: "250m", want: 0.25 },
  { name: "micro scales by a millionth", value: "100u", want: 0.0001 },
  { name: "nano scales by a billionth", value: "5n", want: 5e-9 },
  { name: "lowercase k is a thousand", value: "2k", want: 2000 },
  { name: "uppercase M is a million", value: "3M", want: 3000000 },
  { name: "G is a billion", value: "1G", want: 1000000000 },
  { name: "T is ten to the twelfth", value: "1T", want: 1000000000000 },
  { name: "P is ten to the fifteenth", value: "1P", want: 1000000000000000 },
  { name: "E alone is ten to the eighteenth", value: "1E", want: 1000000000000000000 },
  { name: "Ki is 1024", value: "1Ki", want: 1024 },
  { name: "Mi is 1024 squared", value: "64Mi", want: 67108864 },
  { name: "Gi with a fraction is exact", value: "1.5Gi", want: 1610612736 },
  { name: "Gi with a fraction keeps its decimal part", value: "1.1Gi", want: 1181116006.4 },
  { name: "Ti is 2 to the fortieth", value: "1Ti", want: 1099511627776 },
  { name: "Pi is 2 to the fiftieth", value: "1Pi", want: 1125899906842624 },
  { name: "a lowercase exponent multiplies by ten to it", value: "129e6", want: 129000000 },
  { name: "an uppercase exponent works too", value: "1E3", want: 1000 },
  { name: "an exponent may have a plus sign", value: "2e+3", want: 2000 },
  { name: "an exponent may be negative", value: "15e-1", want: 1.5 },
  { name: "a fraction may come with an exponent", value: "1.5e3", want: 1500 },
  { name: "a number may start with its decimal point", value: ".5", want: 0.5 },
  { name: "a number may end with its decimal point", value: "1.", want: 1 },
  { name: "a number may end with its decimal point before a suffix", value: "1.G", want: 1e9 },
  { name: "a leading plus sign is allowed", value: "+2", want: 2 },
  { name: "leading zeros are ignored", value: "007", want: 7 },
  { name: "zero is zero", value: "0", want: 0 },
  { name: "zero with a suffix is zero", value: "0Mi", want: 0 },
  { name: "negative zero is zero", value: "-0", want: 0 },
  { name: "less than a nano rounds up to one nano as in Kubernetes", value: "0.1n", want: 1e-9 },
  { name: "a tiny exponent rounds up to one nano", value: "1e-400", want: 1e-9 },
  { name: "a YAML integer is accepted", value: 2, want: 2 },
  { name: "a YAML float is accepted", value: 0.5, want: 0.5 },
  { name: "a YAML float with an exponent is accepted", value: 1e-7, want: 0.0000001 },
  {
    name: "the largest int64 is accepted",
    value: "9223372036854775807",
    want: 9223372036854775807,
  },
];

for (const c of values) {
  Deno.test(`parseQuantity: ${c.name}`, () => {
    assert.equal(parseQuantity(c.value), c.want);
  });
}

const millis: { name: string; value: string | number; want: number }[] = [
  { name: "250m is 250 millicores", value: "250m", want: 250 },
  { name: "500m is 500 millicores", value: "500m", want: 500 },
  { name: "one core is 1000 millicores", value: "1", want: 1000 },
  { name: "0.1 is exactly 100 millicores", value: "0.1", want: 100 },
  { name: "0.3 is exactly 300 millicores", value: "0.3", want: 300 },
  { name: "1.0001 rounds up to 1001 millicores", value: "1.0001", want: 1001 },
  { name: "100u rounds up to 1 millicore", value: "100u", want: 1 },
  { name: "1n rounds up to 1 millicore", value: "1n", want: 1 },
  { name: "a YAML 2 is 2000 millicores", value: 2, want: 2000 },
  { name: "a YAML 0.5 is 500 millicores", value: 0.5, want: 500 },
  { name: "1.5 is 1500 millicores", value: "1.5", want: 1500 },
  { name: "2k cores is two million millicores", value: "2k", want: 2000000 },
  { name: "zero is zero millicores", value: "0", want: 0 },
];

for (const c of millis) {
  Deno.test(`cpuMillis: ${c.name}`, () => {
    assert.equal(cpuMillis(c.value), c.want);
  });
}

const bytes: { name: string; value: string | number; want: number }[] = [
  { name: "64Mi is 67108864 bytes", value: "64Mi", want: 67108864 },
  { name: "1G is 1000000000 bytes", value: "1G", want: 1000000000 },
  { name: "a plain byte count is itself", value: "128974848", want: 128974848 },
  { name: "129e6 is 129000000 bytes", value: "129e6", want: 129000000 },
  { name: "123Mi is 128974848 bytes", value: "123Mi", want: 128974848 },
  { name: "1.5Ki is 1536 bytes", value: "1.5Ki", want: 1536 },
  { name: "1.1Gi rounds up to 1181116007 bytes", value: "1.1Gi", want: 1181116007 },
  { name: "500m rounds up to 1 byte", value: "500m", want: 1 },
  { name: "1.5 rounds up to 2 bytes", value: "1.5", want: 2 },
  { name: "1Ti is 1099511627776 bytes", value: "1Ti", want: 1099511627776 },
  { name: "a YAML integer is bytes", value: 1048576, want: 1048576 },
  { name: "zero is zero bytes", value: "0Mi", want: 0 },
];

for (const c of bytes) {
  Deno.test(`memoryBytes: ${c.name}`, () => {
    assert.equal(memoryBytes(c.value), c.want);
  });
}

const WRITE =
  `Write the quantity as a number with an optional suffix, e.g. "250m", "0.5", "64Mi" or "1G"`;
const SUFFIXES = "Ki, Mi, Gi, Ti, Pi, Ei, n, u, m, k, M, G, T, P, E or an exponent such as e3";

const errors: { name: string; value: string | number; message: string }[] = [
  { name: "an empty value is rejected", value: "", message: `${WRITE}: the value is empty` },
  {
    name: "a space before the suffix is rejected",
    value: "1 Gi",
    message: `${WRITE}: "1 Gi" contains a space`,
  },
  {
    name: "a leading space is rejected",
    value: " 1",
    message: `${WRITE}: " 1" contains a space`,
  },
  {
    name: "a lowercase gb suffix is rejected",
    value: "1gb",
    message: `${WRITE}: "1gb" has an unknown suffix "gb" (use ${SUFFIXES})`,
  },
  {
    name: "an uppercase K is rejected",
    value: "1K",
    message: `${WRITE}: "1K" has an unknown suffix "K" (use ${SUFFIXES})`,
  },
  {
    name: "a lowercase ki is rejected",
    value: "1ki",
    message: `${WRITE}: "1ki" has an unknown suffix "ki" (use ${SUFFIXES})`,
  },
  {
    name: "an exponent without digits is rejected",
    value: "1e",
    message: `${WRITE}: "1e" has an unknown suffix "e" (use ${SUFFIXES})`,
  },
  {
    name: "a fractional exponent is rejected",
    value: "1e1.5",
    message: `${WRITE}: "1e1.5" has more than one decimal point`,
  },
  {
    name: "a suffix after an exponent is rejected",
    value: "1e3Mi",
    message: `${WRITE}: "1e3Mi" has an unknown suffix "e3Mi" (use ${SUFFIXES})`,
  },
  { name: "a suffix alone is rejected", value: "Mi", message: `${WRITE}: "Mi" has no digits` },
  { name: "a lone decimal point is rejected", value: ".", message: `${WRITE}: "." has no digits` },
  { name: "a lone sign is rejected", value: "+", message: `${WRITE}: "+" has no digits` },
  {
    name: "two decimal points are rejected",
    value: "1.2.3",
    message: `${WRITE}: "1.2.3" has more than one decimal point`,
  },
  {
    name: "a negative value is rejected",
    value: "-1",
    message: `Use a quantity of zero or more, e.g. "250m" or "64Mi": "-1" is negative`,
  },
  {
    name: "a negative value with a suffix is rejected",
    value: "-500m",
    message: `Use a quantity of zero or more, e.g. "250m" or "64Mi": "-500m" is negative`,
  },
  {
    name: "a negative YAML number is rejected",
    value: -2,
    message: `Use a quantity of zero or more, e.g. "250m" or "64Mi": "-2" is negative`,
  },
  {
    name: "a YAML NaN is rejected",
    value: NaN,
    message: `${WRITE}: NaN is not a finite number`,
  },
  {
    name: "a YAML infinity is rejected",
    value: Infinity,
    message: `${WRITE}: Infinity is not a finite number`,
  },
  {
    name: "one more than the largest int64 is rejected",
    value: "9223372036854775808",
    message:
      `Use a smaller quantity: "9223372036854775808" is more than 2^63-1, the largest Kubernetes allows`,
  },
  {
    name: "8Ei is rejected, being 2^63",
    value: "8Ei",
    message: `Use a smaller quantity: "8Ei" is more than 2^63-1, the largest Kubernetes allows`,
  },
  {
    name: "a huge exponent is rejected without computing it",
    value: "1e99999999999",
    message:
      `Use a smaller quantity: "1e99999999999" is more than 2^63-1, the largest Kubernetes allows`,
  },
];

for (const c of errors) {
  Deno.test(`parseQuantity: ${c.name}`, () => {
    assert.throws(() => parseQuantity(c.value), (err: unknown) => {
      assert.ok(err instanceof QuantityError);
      assert.equal(err.name, "QuantityError");
      assert.equal(err.message, c.message);
      return true;
    });
  });
}

Deno.test("cpuMillis and memoryBytes: an invalid value throws a QuantityError", () => {
  assert.throws(() => cpuMillis("1 core"), QuantityError);
  assert.throws(() => memoryBytes("1gb"), QuantityError);
});
