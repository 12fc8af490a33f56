import assert from "node:assert/strict";
import {
  compareCodePoints,
  formatMap,
  goQuote,
  type PodFacts,
  podFieldValue,
} from "../lib/translate/pod_fields.ts";

// What Go's strconv.Quote gives, written out by hand from its rules.
const quotes: { name: string; text: string; want: string }[] = [
  { name: "plain text is only wrapped in quotes", text: "web", want: '"web"' },
  { name: "an empty string is two quotes", text: "", want: '""' },
  { name: "a quote and a backslash are escaped", text: 'a"b\\c', want: '"a\\"b\\\\c"' },
  { name: "a newline, tab and carriage return", text: "a\nb\tc\rd", want: '"a\\nb\\tc\\rd"' },
  { name: "bell, backspace, form feed, vertical tab", text: "\x07\b\f\v", want: '"\\a\\b\\f\\v"' },
  {
    name: "other control characters as \\x",
    text: "\x00\x01\x1b\x7f",
    want: '"\\x00\\x01\\x1b\\x7f"',
  },
  { name: "printable letters and symbols stay", text: "café – 日本 😀", want: '"café – 日本 😀"' },
  { name: "a no-break space is no printable space", text: "a\u00a0b", want: '"a\\u00a0b"' },
  { name: "a soft hyphen and a zero-width space", text: "\u00ad\u200b", want: '"\\u00ad\\u200b"' },
  { name: "a C1 control character", text: "\u0085", want: '"\\u0085"' },
  { name: "private use above the BMP as \\U", text: "\u{10fffd}", want: '"\\U0010fffd"' },
  { name: "private use in the BMP as \\u", text: "\ue000", want: '"\\ue000"' },
  { name: "a lone surrogate is the replacement character", text: "a\ud800b", want: '"a\ufffdb"' },
];

for (const c of quotes) {
  Deno.test(`goQuote: ${c.name}`, () => assert.equal(goQuote(c.text), c.want));
}

Deno.test('formatMap: one key="value" line per entry in byte order, no final newline', () => {
  const map = { b: "2", "a-b": "x", a: 'say "hi"\nbye', B: "upper" };
  assert.equal(formatMap(map), 'B="upper"\na="say \\"hi\\"\\nbye"\na-b="x"\nb="2"');
});

Deno.test("formatMap: an empty map is an empty string", () => {
  assert.equal(formatMap({}), "");
});

Deno.test("compareCodePoints: orders by code point, not by UTF-16 unit", () => {
  // U+FFFF sorts after U+1F600 in UTF-16 units (0xD83D first) but before it in UTF-8 bytes.
  assert.deepEqual(["😀", "\uffff", "a", ""].sort(compareCodePoints), ["", "a", "\uffff", "😀"]);
});

const POD: PodFacts = {
  name: "web-1",
  namespace: "shop",
  uid: "0c8e1a52-5e0f-4b8e-8d55-2f0d6a4b7e90",
  labels: { app: "shop", Tier: "web" },
  annotations: { "example.com/Note": "x\ny", plain: "" },
};

const fields: { path: string; want: string }[] = [
  { path: "metadata.name", want: "web-1" },
  { path: "metadata.namespace", want: "shop" },
  { path: "metadata.uid", want: "0c8e1a52-5e0f-4b8e-8d55-2f0d6a4b7e90" },
  { path: "metadata.labels", want: 'Tier="web"\napp="shop"' },
  { path: "metadata.annotations", want: 'example.com/Note="x\\ny"\nplain=""' },
  { path: "metadata.labels['Tier']", want: "web" },
  { path: "metadata.labels['absent']", want: "" },
  // Annotation keys are checked lowercased, so an upper-case prefix is accepted.
  { path: "metadata.annotations['example.com/Note']", want: "x\ny" },
  { path: "metadata.annotations['Example.com/absent']", want: "" },
  // A key named like an object's built-in property is absent, not found on the prototype.
  { path: "metadata.labels['constructor']", want: "" },
];

for (const c of fields) {
  Deno.test(`podFieldValue: ${c.path}`, () => {
    assert.deepEqual(podFieldValue(POD, c.path), { ok: true, value: c.want });
  });
}

const FIELDS = "metadata.name, metadata.namespace, metadata.uid, metadata.labels, " +
  "metadata.annotations, metadata.labels['KEY'] or metadata.annotations['KEY']";

const refusals: { path: string; want: string }[] = [
  { path: "spec.nodeName", want: `unsupported fieldPath: spec.nodeName: use one of ${FIELDS}` },
  {
    path: "metadata.labels[app]",
    want: `unsupported fieldPath: metadata.labels[app]: use one of ${FIELDS}`,
  },
  { path: "['app']", want: `unsupported fieldPath: ['app']: use one of ${FIELDS}` },
  {
    path: "metadata.name['x']",
    want: `fieldPath "metadata.name['x']" does not support subscript: use one of ${FIELDS}`,
  },
  {
    path: "metadata.labels['Example.com/app']",
    want: "invalid key subscript in metadata.labels['Example.com/app']: prefix part must be a " +
      "lowercase DNS-1123 subdomain",
  },
  {
    path: "metadata.labels['a b']",
    want: "invalid key subscript in metadata.labels['a b']: name part must consist of " +
      "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric " +
      "character",
  },
  {
    // kubelet splits at the first "['", and then the key holds brackets.
    path: "metadata.annotations['a[b]c']",
    want: "invalid key subscript in metadata.annotations['a[b]c']: name part must consist of " +
      "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric " +
      "character",
  },
  {
    path: "metadata.annotations['']",
    want: "invalid key subscript in metadata.annotations['']: name part must be non-empty",
  },
  {
    path: "metadata.annotations['a/b/c']",
    want: "invalid key subscript in metadata.annotations['a/b/c']: a qualified name has at most " +
      "one '/'",
  },
  {
    path: `metadata.labels['${"a".repeat(64)}']`,
    want: `invalid key subscript in metadata.labels['${"a".repeat(64)}']: name part must be no ` +
      "more than 63 characters",
  },
];

for (const c of refusals) {
  Deno.test(`podFieldValue: refuses ${c.path.slice(0, 60)}`, () => {
    assert.deepEqual(podFieldValue(POD, c.path), { ok: false, message: c.want });
  });
}
