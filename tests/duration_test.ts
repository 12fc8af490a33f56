import assert from "node:assert/strict";
import {
  durationFlag,
  formatDuration,
  formatDurationNs,
  MAX_TIMER_MS,
  parseDuration,
  parseDurationNs,
} from "../lib/base/duration.ts";

const NS = 1n;
const US = 1_000n * NS;
const MS = 1_000n * US;
const S = 1_000n * MS;
const MIN = 60n * S;
const H = 60n * MIN;

// Go's `parseDurationTests` (package time): the inputs and the values Go's rules give them.
const GO_CASES: [string, bigint][] = [
  // simple
  ["0", 0n],
  ["5s", 5n * S],
  ["30s", 30n * S],
  ["1478s", 1478n * S],
  // sign
  ["-5s", -5n * S],
  ["+5s", 5n * S],
  ["-0", 0n],
  ["+0", 0n],
  // decimal
  ["5.0s", 5n * S],
  ["5.6s", 5n * S + 600n * MS],
  ["5.s", 5n * S],
  [".5s", 500n * MS],
  ["1.0s", 1n * S],
  ["1.00s", 1n * S],
  ["1.004s", 1n * S + 4n * MS],
  ["1.0040s", 1n * S + 4n * MS],
  ["100.00100s", 100n * S + 1n * MS],
  // different units
  ["10ns", 10n * NS],
  ["11us", 11n * US],
  ["12\u00b5s", 12n * US],
  ["12\u03bcs", 12n * US],
  ["13ms", 13n * MS],
  ["14s", 14n * S],
  ["15m", 15n * MIN],
  ["16h", 16n * H],
  // composite durations
  ["3h30m", 3n * H + 30n * MIN],
  ["10.5s4m", 4n * MIN + 10n * S + 500n * MS],
  ["-2m3.4s", -(2n * MIN + 3n * S + 400n * MS)],
  ["1h2m3s4ms5us6ns", 1n * H + 2n * MIN + 3n * S + 4n * MS + 5n * US + 6n * NS],
  ["39h9m14.425s", 39n * H + 9n * MIN + 14n * S + 425n * MS],
  // large value
  ["52763797000ns", 52763797000n * NS],
  // more than 9 digits after the decimal point
  ["0.3333333333333333333h", 20n * MIN],
  // 2^53+1 cannot be held exactly by a double
  ["9007199254740993ns", (1n << 53n) + 1n],
  // the largest duration int64 nanoseconds hold
  ["9223372036854775807ns", (1n << 63n) - 1n],
  ["9223372036854775.807us", (1n << 63n) - 1n],
  ["9223372036s854ms775us807ns", (1n << 63n) - 1n],
  ["-9223372036854775808ns", -(1n << 63n)],
  ["-9223372036854775.808us", -(1n << 63n)],
  ["-9223372036s854ms775us808ns", -(1n << 63n)],
  // the largest negative round trip value
  ["-2562047h47m16.854775808s", -(1n << 63n)],
  // a long fraction
  ["0.100000000000000000000h", 6n * MIN],
  ["1.0000000000000000000001s", 1n * S],
  // the first overflow check of Go's leadingFraction
  ["0.830103483285477580700h", 49n * MIN + 48n * S + 372539827n * NS],
  // tinylet's own
  ["1.s", 1n * S],
  ["2h0m0s", 2n * H],
  ["1000us", 1n * MS],
];

for (const [text, want] of GO_CASES) {
  Deno.test(`parseDurationNs reads ${JSON.stringify(text)} as Go does: ${want} ns`, () => {
    assert.equal(parseDurationNs(text), want);
  });
}

// Go's `parseDurationErrorTests`, the invalid UTF-8 ones as the U+FFFD a command line gives, and
// spellings tinylet's tests had before.
const GO_ERRORS = [
  "",
  "3",
  "-",
  "s",
  ".",
  "-.",
  ".s",
  "+.s",
  "1d",
  "\ufffd",
  "\ufffd hello \ufffd world",
  // overflow
  "9223372036854775810ns",
  "9223372036854775808ns",
  "-9223372036854775809ns",
  "9223372036854776us",
  "3000000h",
  "9223372036854775.808us",
  "9223372036854ms775us808ns",
  // tinylet's own
  "5",
  "abc",
  "1x",
  "1s2",
  "1 s",
  " 1s",
  "2S",
  "+-1s",
  "--1s",
  "1e3ms",
  "0x10s",
  "１s", // a full-width digit
];

for (const text of GO_ERRORS) {
  Deno.test(`parseDurationNs refuses ${JSON.stringify(text)}, quoting it`, () => {
    assert.throws(() => parseDurationNs(text), (err: unknown) => {
      assert.ok(err instanceof Error);
      assert.ok(
        err.message.startsWith(`invalid duration ${JSON.stringify(text)}: `),
        `message ${JSON.stringify(err.message)} should quote the input`,
      );
      return true;
    });
  });
}

Deno.test("parseDurationNs says why an overflow is refused", () => {
  assert.throws(
    () => parseDurationNs("3000000h"),
    /^Error: invalid duration "3000000h": it is out of range: the longest is 2562047h47m16\.854775807s$/,
  );
  assert.throws(() => parseDurationNs("1d"), /the unit "d" is not ns, us, µs, ms, s, m or h/);
  assert.throws(() => parseDurationNs("3"), /"3": it has no unit/);
});

const MS_CASES: [string, number][] = [
  ["500ms", 500],
  ["1.5s", 1500],
  ["1m30s", 90_000],
  ["2h", 7_200_000],
  ["0", 0],
  ["-0", 0],
  ["+5s", 5000],
  ["-1.5s", -1500],
  ["1ns", 0.000001],
  ["1500us", 1.5],
  ["596h31m23.647s", 2 ** 31 - 1],
];

for (const [text, ms] of MS_CASES) {
  Deno.test(`parseDuration reads ${JSON.stringify(text)} as ${ms} ms`, () => {
    assert.equal(parseDuration(text), ms);
  });
}

// Go's `Duration.String` for these values.
const FORMAT_NS: [bigint, string][] = [
  [0n, "0s"],
  [1n, "1ns"],
  [1100n, "1.1µs"],
  [2200n * US, "2.2ms"],
  [3300n * MS, "3.3s"],
  [4n * MIN + 5n * S, "4m5s"],
  [4n * MIN + 5001n * MS, "4m5.001s"],
  [5n * H + 6n * MIN + 7001n * MS, "5h6m7.001s"],
  [8n * MIN + 1n, "8m0.000000001s"],
  [(1n << 63n) - 1n, "2562047h47m16.854775807s"],
  [-(1n << 63n), "-2562047h47m16.854775808s"],
  [-5n * S, "-5s"],
];

for (const [ns, text] of FORMAT_NS) {
  Deno.test(`formatDurationNs writes ${ns} ns as Go does: ${text}`, () => {
    assert.equal(formatDurationNs(ns), text);
    assert.equal(parseDurationNs(text), ns);
  });
}

const FORMAT_MS: [number, string][] = [
  [0, "0s"],
  [500, "500ms"],
  [1500, "1.5s"],
  [2000, "2s"],
  [61_000, "1m1s"],
  [90_000, "1m30s"],
  [3_723_000, "1h2m3s"],
  [7_200_000, "2h0m0s"],
  [2 ** 31 - 1, "596h31m23.647s"],
  [0.5, "500µs"],
];

for (const [ms, text] of FORMAT_MS) {
  Deno.test(`formatDuration writes ${ms} ms as ${text} and parseDuration reads it back`, () => {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(formatDuration(ms)), ms);
  });
}

Deno.test("the longest timer is 2^31-1 ms: 596h31m23.647s", () => {
  assert.equal(MAX_TIMER_MS, 2_147_483_647);
  // 596 h = 2,145,600 s; 31 min = 1,860 s; 2,145,600 + 1,860 + 23.647 = 2,147,483.647 s
  assert.equal(596 * 3_600_000 + 31 * 60_000 + 23_647, MAX_TIMER_MS);
});

const FLAG_CASES: { text: string; ms?: number; error?: RegExp }[] = [
  { text: "2s", ms: 2000 },
  { text: "+5s", ms: 5000 },
  { text: "10ms", ms: 10 },
  { text: "596h31m23.647s", ms: 2 ** 31 - 1 },
  { text: "9ms", error: /^--interval: "9ms" is shorter than 10ms$/ },
  { text: "0", error: /^--interval: "0" is shorter than 10ms$/ },
  { text: "-0", error: /^--interval: "-0" is shorter than 10ms$/ },
  { text: "-5s", error: /^--interval: "-5s" is negative: give 10ms or more$/ },
  {
    text: "596h31m23.648s",
    error:
      /^--interval: "596h31m23\.648s" is longer than a timer can hold: the longest is 596h31m23\.647s$/,
  },
  { text: "600h", error: /^--interval: "600h" is longer than a timer can hold/ },
  { text: "2562047h47m16.854775807s", error: /is longer than a timer can hold/ },
  { text: "3000000h", error: /^--interval: invalid duration "3000000h": it is out of range/ },
  { text: "9223372036854775808ns", error: /^--interval: invalid duration .*out of range/ },
  { text: "5", error: /^--interval: invalid duration "5": it has no unit/ },
];

for (const c of FLAG_CASES) {
  Deno.test(
    `durationFlag with a 10ms minimum ${c.error ? "refuses" : "takes"} ${JSON.stringify(c.text)}`,
    () => {
      if (c.error) {
        const error = c.error;
        assert.throws(() => durationFlag("interval", c.text, { minMs: 10 }), (err: unknown) => {
          assert.ok(err instanceof Error);
          assert.match(err.message, error);
          return true;
        });
      } else {
        assert.equal(durationFlag("interval", c.text, { minMs: 10 }), c.ms);
      }
    },
  );
}
