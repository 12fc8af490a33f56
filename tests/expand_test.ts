import assert from "node:assert/strict";
import { expandEnv, expandVars } from "../lib/translate/expand.ts";
import { containerEnv } from "../lib/translate/container_config.ts";
import { translatePod } from "../lib/translate/desired_pod.ts";

// The variables of kubelet's own expansion tests (expand_test.go).
const VARS: Record<string, string> = {
  VAR_A: "A",
  VAR_B: "B",
  VAR_C: "C",
  VAR_REF: "$(VAR_A)",
  VAR_EMPTY: "",
};

function lookup(name: string): string | undefined {
  return Object.hasOwn(VARS, name) ? VARS[name] : undefined;
}

const cases: { name: string; text: string; want: string }[] = [
  { name: "a reference that is the whole string expands", text: "$(VAR_A)", want: "A" },
  { name: "a reference repeated expands each time", text: "$(VAR_A)-$(VAR_A)", want: "A-A" },
  { name: "a reference at the beginning expands", text: "$(VAR_A)-1", want: "A-1" },
  { name: "a reference in the middle expands", text: "___$(VAR_B)___", want: "___B___" },
  { name: "a reference at the end expands", text: "___$(VAR_C)", want: "___C" },
  { name: "several references expand", text: "$(VAR_A)_$(VAR_B)_$(VAR_C)", want: "A_B_C" },
  { name: "$$ escapes a reference", text: "$$(VAR_B)_$(VAR_A)", want: "$(VAR_B)_A" },
  { name: "two escaped references stay", text: "$$(VAR_A)_$$(VAR_B)", want: "$(VAR_A)_$(VAR_B)" },
  { name: "$$ before a bare name becomes one $", text: "f000-$$VAR_A", want: "f000-$VAR_A" },
  { name: "a backslash does not escape", text: "foo\\$(VAR_C)bar", want: "foo\\Cbar" },
  { name: "two backslashes do not escape", text: "foo\\\\$(VAR_C)bar", want: "foo\\\\Cbar" },
  {
    name: "a nested reference looks up the text up to the first closing parenthesis",
    text: "$(VAR_A$(VAR_B))",
    want: "$(VAR_A$(VAR_B))",
  },
  {
    name: "a nested reference without its second closer stays",
    text: "$(VAR_A$(VAR_B)",
    want: "$(VAR_A$(VAR_B)",
  },
  { name: "an expanded value is not expanded again", text: "$(VAR_REF)", want: "$(VAR_A)" },
  {
    name: "an expanded reference value stays literal each time",
    text: "%%$(VAR_REF)--$(VAR_REF)%%",
    want: "%%$(VAR_A)--$(VAR_A)%%",
  },
  { name: "an empty variable expands to nothing", text: "foo$(VAR_EMPTY)bar", want: "foobar" },
  {
    name: "an unterminated reference stays",
    text: "foo$(VAR_Awhoops!",
    want: "foo$(VAR_Awhoops!",
  },
  {
    name: "parentheses without a $ stay",
    text: "f00__(VAR_A)__",
    want: "f00__(VAR_A)__",
  },
  { name: "shell special variables stay", text: "$?_boo_$!", want: "$?_boo_$!" },
  { name: "a $ before a bare name stays", text: "$VAR_A", want: "$VAR_A" },
  { name: "an undefined variable stays as written", text: "$(VAR_DNE)", want: "$(VAR_DNE)" },
  {
    name: "six $ before an undefined reference become three",
    text: "$$$$$$(BIG_MONEY)",
    want: "$$$(BIG_MONEY)",
  },
  {
    name: "six $ before a defined reference become three and leave it unexpanded",
    text: "$$$$$$(VAR_A)",
    want: "$$$(VAR_A)",
  },
  {
    name: "seven $ before an undefined reference become four",
    text: "$$$$$$$(GOOD_ODDS)",
    want: "$$$$(GOOD_ODDS)",
  },
  {
    name: "seven $ before a defined reference become three and expand it",
    text: "$$$$$$$(VAR_A)",
    want: "$$$A",
  },
  { name: "a closer without an opener stays", text: "$VAR_A)", want: "$VAR_A)" },
  { name: "shell braces are not expanded", text: "${VAR_A}", want: "${VAR_A}" },
  {
    name: "a trailing incomplete reference stays",
    text: "$(VAR_B)_______$(A",
    want: "B_______$(A",
  },
  {
    name: "a trailing opener without a name stays",
    text: "$(VAR_C)_______$(",
    want: "C_______$(",
  },
  { name: "a $ at the end stays", text: "$(VAR_A)foobarzab$", want: "Afoobarzab$" },
  { name: "a lone $ stays", text: "$", want: "$" },
  {
    name: "a backslash before an incomplete reference stays",
    text: "foo-\\$(VAR_A",
    want: "foo-\\$(VAR_A",
  },
  { name: "many openers in the middle stay", text: "--$($($($($--", want: "--$($($($($--" },
  {
    name: "many openers at the beginning stay",
    text: "$($($($($--foo$(",
    want: "$($($($($--foo$(",
  },
  { name: "many openers at the end stay", text: "foo0--$($($($(", want: "foo0--$($($($(" },
  {
    name: "$$ inside a name is part of the name",
    text: "$(foo$$var)",
    want: "$(foo$$var)",
  },
  {
    name: "an opener inside a reference is part of its name",
    text: "$($(VAR_A)",
    want: "$($(VAR_A)",
  },
  {
    name: "an escape after an unterminated reference still becomes one $",
    text: "$(a$$",
    want: "$(a$",
  },
  { name: "a newline stays", text: "\n", want: "\n" },
  { name: "an empty reference looks up the empty name", text: "$()", want: "$()" },
  { name: "text without $ is unchanged", text: "plain text", want: "plain text" },
  { name: "a $ before a non-ASCII character stays", text: "$é$(VAR_A)", want: "$éA" },
];

for (const c of cases) {
  Deno.test(`expandVars: ${c.name}`, () => {
    assert.equal(expandVars(c.text, lookup), c.want);
  });
}

Deno.test("expandVars: the lookup gets the name between the parentheses", () => {
  const seen: string[] = [];
  expandVars("$(A)$(B C)$()$(x$(y)", (name) => {
    seen.push(name);
    return undefined;
  });
  assert.deepEqual(seen, ["A", "B C", "", "x$(y"]);
});

type Env = { name: string; value: string }[];

const envCases: { name: string; env: Env; base?: Record<string, string>; want: Env }[] = [
  {
    name: "values reference earlier variables, transitively",
    env: [
      { name: "FOO", value: "bar" },
      { name: "ZOO", value: "$(FOO)-1" },
      { name: "BLU", value: "$(ZOO)-2" },
    ],
    want: [
      { name: "FOO", value: "bar" },
      { name: "ZOO", value: "bar-1" },
      { name: "BLU", value: "bar-1-2" },
    ],
  },
  {
    name: "a reference to a later variable stays as written",
    env: [
      { name: "A", value: "$(B)" },
      { name: "B", value: "b" },
    ],
    want: [
      { name: "A", value: "$(B)" },
      { name: "B", value: "b" },
    ],
  },
  {
    name: "a value references base variables",
    env: [{ name: "URL", value: "http://$(HOST):$(PORT)" }],
    base: { HOST: "db", PORT: "5432" },
    want: [{ name: "URL", value: "http://db:5432" }],
  },
  {
    name: "an earlier variable wins over base, and base is not in the result",
    env: [
      { name: "HOST", value: "cache" },
      { name: "URL", value: "http://$(HOST)" },
    ],
    base: { HOST: "db" },
    want: [
      { name: "HOST", value: "cache" },
      { name: "URL", value: "http://cache" },
    ],
  },
  {
    name: "a duplicate keeps the first position and the last value",
    env: [
      { name: "A", value: "1" },
      { name: "B", value: "2" },
      { name: "A", value: "3" },
    ],
    want: [
      { name: "A", value: "3" },
      { name: "B", value: "2" },
    ],
  },
  {
    name: "a redefinition may reference the earlier value",
    env: [
      { name: "PATH", value: "/bin" },
      { name: "PATH", value: "/opt/bin:$(PATH)" },
    ],
    want: [{ name: "PATH", value: "/opt/bin:/bin" }],
  },
  {
    name: "a self reference before any definition stays",
    env: [{ name: "A", value: "x$(A)" }],
    want: [{ name: "A", value: "x$(A)" }],
  },
  {
    name: "an empty value stays empty and expands to nothing later",
    env: [
      { name: "E", value: "" },
      { name: "F", value: "[$(E)]" },
    ],
    want: [
      { name: "E", value: "" },
      { name: "F", value: "[]" },
    ],
  },
  {
    name: "escapes are resolved once",
    env: [
      { name: "A", value: "a" },
      { name: "B", value: "$$(A) $(A)" },
      { name: "C", value: "$(B)" },
    ],
    want: [
      { name: "A", value: "a" },
      { name: "B", value: "$(A) a" },
      { name: "C", value: "$(A) a" },
    ],
  },
  {
    name: "an inherited object property is not a base variable",
    env: [{ name: "X", value: "$(constructor)$(toString)" }],
    base: {},
    want: [{ name: "X", value: "$(constructor)$(toString)" }],
  },
  { name: "an empty env gives an empty list", env: [], want: [] },
];

for (const c of envCases) {
  Deno.test(`expandEnv: ${c.name}`, () => {
    assert.deepEqual(expandEnv(c.env, c.base), c.want);
  });
}

Deno.test("a field reference is taken literally: a node name holding $(VAR) is not expanded", async () => {
  const pod = await translatePod(
    {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "web" },
      spec: {
        containers: [{
          name: "app",
          image: "docker.io/library/busybox:1.35",
          env: [
            { name: "B", value: "expanded" },
            { name: "NODE", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
            { name: "COPY", value: "$(NODE)" },
          ],
        }],
      },
    },
    "/m/web.yaml",
    {
      instance: "default",
      podLogRoot: "/var/log/pods",
      root: "/var/lib/tinylet",
      // --node-name takes any text.
      nodeName: "edge-$(B)-$$1",
      hostDns: { servers: ["192.0.2.53"], searches: [], options: [] },
    },
  );
  const env = containerEnv(pod, "app", { podIPs: [], attempt: 0 });
  assert.deepEqual(env, [
    { key: "B", value: "expanded" },
    { key: "NODE", value: "edge-$(B)-$$1" },
    { key: "COPY", value: "edge-$(B)-$$1" },
  ]);
});
