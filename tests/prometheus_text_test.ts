/**
 * The strict Prometheus text parser the metrics tests use: what it reads from well-formed text,
 * and each kind of malformed text it refuses.
 */
import assert from "node:assert/strict";
import { parsePrometheus, PrometheusTextError, sampleOf } from "../testing/prometheus_text.ts";

const GOOD =
  `# HELP container_cpu_usage_seconds_total Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="app",namespace="shop",pod="web"} 2.5 1800000000000
container_cpu_usage_seconds_total{container="side",namespace="shop",pod="web"} 1e-3 1800000000001
# HELP node_memory_working_set_bytes Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 753647616
# HELP odd A help with a \\\\ backslash and a \\n newline
# TYPE odd gauge
odd{path="C:\\\\x",quote="say \\"hi\\"",nl="a\\nb"} NaN
odd{path="y"} -Inf -5
# HELP empty A family without samples
# TYPE empty counter
# HELP d A histogram
# TYPE d histogram
d_bucket{le="0.1"} 1
d_bucket{le="+Inf"} 2
d_sum 0.3
d_count 2
`;

Deno.test("reads families, help, types, labels, values and timestamps", () => {
  const f = parsePrometheus(GOOD);
  assert.deepEqual([...f.keys()], [
    "container_cpu_usage_seconds_total",
    "node_memory_working_set_bytes",
    "odd",
    "empty",
    "d",
  ]);
  const cpu = f.get("container_cpu_usage_seconds_total")!;
  assert.equal(cpu.type, "counter");
  assert.equal(cpu.help, "Cumulative cpu time consumed by the container in core-seconds");
  assert.deepEqual(cpu.samples[0], {
    name: "container_cpu_usage_seconds_total",
    labels: { container: "app", namespace: "shop", pod: "web" },
    value: 2.5,
    timestampMs: 1800000000000,
  });
  assert.equal(cpu.samples[1]?.value, 0.001);
  assert.deepEqual(sampleOf(f, "node_memory_working_set_bytes"), {
    name: "node_memory_working_set_bytes",
    labels: {},
    value: 753647616,
  });
  assert.equal(f.get("odd")?.help, "A help with a \\ backslash and a \n newline");
  const odd = sampleOf(f, "odd", { path: "C:\\x", quote: 'say "hi"', nl: "a\nb" });
  assert.ok(Number.isNaN(odd.value));
  assert.deepEqual(sampleOf(f, "odd", { path: "y" }), {
    name: "odd",
    labels: { path: "y" },
    value: -Infinity,
    timestampMs: -5,
  });
  assert.deepEqual(f.get("empty")?.samples, []);
  assert.deepEqual(f.get("d")?.samples.map((s) => [s.name, s.value]), [
    ["d_bucket", 1],
    ["d_bucket", 2],
    ["d_sum", 0.3],
    ["d_count", 2],
  ]);
  assert.throws(() => sampleOf(f, "odd", { path: "z" }), /No sample of "odd"/);
  assert.throws(() => sampleOf(f, "missing"), /No family "missing"/);
});

const HEAD = "# HELP m M\n# TYPE m gauge\n";

/** Each malformed text, and the reason the parser gives. */
const BAD: [string, string, RegExp][] = [
  ["no final newline", HEAD + "m 1", /no final newline/],
  ["a blank line", HEAD + "\nm 1\n", /a blank line/],
  ["a carriage return", HEAD + "m 1\r\n", /a carriage return/],
  ["another comment", "# hello\n" + HEAD, /a comment other than HELP or TYPE/],
  ["a sample before HELP and TYPE", "m 1\n" + HEAD, /before its family's HELP and TYPE/],
  ["a sample after HELP only", "# HELP m M\nm 1\n", /before its family's HELP and TYPE/],
  ["HELP without TYPE at the end", "# HELP m M\n", /lacks HELP or TYPE/],
  ["HELP of one, TYPE of another", "# HELP m M\n# TYPE n gauge\n", /"m" lacks HELP or TYPE/],
  ["a second HELP", HEAD + "# HELP m again\n", /a second HELP/],
  ["an unknown type", "# HELP m M\n# TYPE m meter\n", /an unknown type "meter"/],
  ["a split family", HEAD + "m 1\n# HELP n N\n# TYPE n gauge\n" + HEAD, /is split/],
  [
    "a sample of another family",
    HEAD + "# HELP n N\n# TYPE n gauge\nm 1\n",
    /it follows the family "n"/,
  ],
  ["a bad metric name", "# HELP 1m M\n", /a bad metric name "1m"/],
  ["no value", HEAD + "m\n", /no value/],
  ["two spaces", HEAD + "m  1\n", /one space/],
  ["a tab", HEAD + "m\t1\n", /no value/],
  ["a trailing space", HEAD + "m 1 \n", /one space/],
  ["a bad value", HEAD + "m one\n", /a bad value "one"/],
  ["Infinity spelled as JavaScript does", HEAD + "m Infinity\n", /a bad value "Infinity"/],
  ["undefined", HEAD + "m undefined\n", /a bad value "undefined"/],
  ["a fractional timestamp", HEAD + "m 1 1.5\n", /not an integer "1.5"/],
  ["an exponent timestamp", HEAD + "m 1 1e12\n", /not an integer "1e12"/],
  ["four fields", HEAD + "m 1 2 3\n", /one space/],
  ["a bad label name", HEAD + 'm{1a="x"} 1\n', /a bad label name "1a"/],
  ["a reserved label name", HEAD + 'm{__name__="x"} 1\n', /reserved/],
  ["an unquoted label value", HEAD + "m{a=x} 1\n", /not quoted/],
  ["an unclosed label value", HEAD + 'm{a="x} 1\n', /not closed/],
  ["a label twice", HEAD + 'm{a="x",a="y"} 1\n', /the label "a" twice/],
  ["a trailing comma", HEAD + 'm{a="x",} 1\n', /a trailing comma/],
  ["empty braces", HEAD + "m{} 1\n", /empty braces/],
  ["a space after a comma", HEAD + 'm{a="x", b="y"} 1\n', /a bad label name " b"/],
  ["an unknown escape", HEAD + 'm{a="\\t"} 1\n', /an unknown escape "\\t"/],
  ["an unknown escape in HELP", "# HELP m a \\q\n", /an unknown escape/],
  ["no space after the labels", HEAD + 'm{a="x"}1\n', /one space/],
  ["a series twice", HEAD + 'm{a="x",b="y"} 1\nm{b="y",a="x"} 2\n', /a series twice/],
  ["a negative counter", "# HELP c C\n# TYPE c counter\nc -1\n", /a negative counter/],
  ["a bucket without le", "# HELP d D\n# TYPE d histogram\nd_bucket 1\n", /without le/],
];

for (const [what, text, reason] of BAD) {
  Deno.test(`refuses ${what}`, () => {
    assert.throws(() => parsePrometheus(text), (err: unknown) => {
      assert.ok(err instanceof PrometheusTextError, String(err));
      assert.match(err.message, reason);
      return true;
    });
  });
}
