import assert from "node:assert/strict";
import { type AgentConfig, parseCommandLine, UsageError } from "../lib/cli.ts";
import { formatDuration, parseDuration } from "../lib/duration.ts";

const ENV = { cwd: "/home/ops", hostname: "node-1" };

/** The defaults, as contract.md lists them. */
function baseConfig(): AgentConfig {
  return {
    socket: "/run/containerd/containerd.sock",
    manifests: "/etc/tinylet/manifests",
    intervalMs: 2000,
    instance: "default",
    podLogRoot: "/var/log/pods",
    root: "/var/lib/tinylet",
    nodeName: "node-1",
    parallel: 4,
    logFormat: "text",
    logLevel: "info",
    insecureManifestPermissions: false,
    registryConfig: undefined,
    listen: undefined,
    containerLogMaxSize: 10 * 1024 * 1024,
    containerLogMaxFiles: 5,
    containerLogMonitorIntervalMs: 10_000,
  };
}

Deno.test("parseCommandLine with no arguments runs the agent with the contract's defaults", () => {
  assert.deepEqual(parseCommandLine([], ENV), {
    command: "run",
    config: baseConfig(),
  });
});

const RUN_CASES: {
  name: string;
  args: string[];
  change: Partial<AgentConfig>;
}[] = [
  {
    name: "takes an explicit run command",
    args: ["run"],
    change: {},
  },
  {
    name: "takes --socket with a separate value",
    args: ["--socket", "/x/cri.sock"],
    change: { socket: "/x/cri.sock" },
  },
  {
    name: "takes --socket=value",
    args: ["--socket=/x/cri.sock"],
    change: { socket: "/x/cri.sock" },
  },
  {
    name: "takes the original single-dash -socket=/x",
    args: ["-socket=/x"],
    change: { socket: "/x" },
  },
  {
    name: "takes the original single-dash -socket with a separate value",
    args: ["-socket", "/x"],
    change: { socket: "/x" },
  },
  {
    name: "takes --manifests",
    args: ["--manifests", "/srv/pods"],
    change: { manifests: "/srv/pods" },
  },
  {
    name: "makes a relative --manifests absolute against the working directory",
    args: ["--manifests", "pods"],
    change: { manifests: "/home/ops/pods" },
  },
  {
    name: "normalizes .. in a relative --manifests",
    args: ["--manifests", "./a/../pods/"],
    change: { manifests: "/home/ops/pods" },
  },
  {
    name: "makes a relative --socket absolute against the working directory",
    args: ["--socket=run/cri.sock"],
    change: { socket: "/home/ops/run/cri.sock" },
  },
  {
    name: "makes relative --root and --pod-log-root absolute",
    args: ["--root", "state", "--pod-log-root", "../logs"],
    change: { root: "/home/ops/state", podLogRoot: "/home/logs" },
  },
  {
    name: "takes --interval in Go duration syntax",
    args: ["--interval", "500ms"],
    change: { intervalMs: 500 },
  },
  {
    name: "takes --interval=1m30s",
    args: ["--interval=1m30s"],
    change: { intervalMs: 90_000 },
  },
  {
    name: "takes the original single-dash -interval 5s",
    args: ["-interval", "5s"],
    change: { intervalMs: 5000 },
  },
  {
    name: "takes --instance",
    args: ["--instance", "test-1"],
    change: { instance: "test-1" },
  },
  {
    name: "takes --node-name instead of the host name",
    args: ["--node-name", "edge-7"],
    change: { nodeName: "edge-7" },
  },
  {
    name: "takes the single-dash -node-name=edge-7",
    args: ["-node-name=edge-7"],
    change: { nodeName: "edge-7" },
  },
  {
    name: "takes --parallel",
    args: ["--parallel", "8"],
    change: { parallel: 8 },
  },
  {
    name: "takes --log-format json",
    args: ["--log-format", "json"],
    change: { logFormat: "json" },
  },
  {
    name: "takes --log-level debug",
    args: ["--log-level=debug"],
    change: { logLevel: "debug" },
  },
  {
    name: "takes --insecure-manifest-permissions",
    args: ["--insecure-manifest-permissions"],
    change: { insecureManifestPermissions: true },
  },
  {
    name: "takes the single-dash -insecure-manifest-permissions",
    args: ["-insecure-manifest-permissions"],
    change: { insecureManifestPermissions: true },
  },
  {
    name: "takes --registry-config, made absolute against the working directory",
    args: ["--registry-config", "creds/config.json"],
    change: { registryConfig: "/home/ops/creds/config.json" },
  },
  {
    name: "takes --container-log-max-size as a quantity and --container-log-max-files",
    args: ["--container-log-max-size=64Ki", "--container-log-max-files", "3"],
    change: { containerLogMaxSize: 65536, containerLogMaxFiles: 3 },
  },
  {
    name: "takes --container-log-monitor-interval as a duration",
    args: ["--container-log-monitor-interval", "1s"],
    change: { containerLogMonitorIntervalMs: 1000 },
  },
  {
    name: "takes flags after an explicit run",
    args: ["run", "--socket", "/x", "-interval=1s"],
    change: { socket: "/x", intervalMs: 1000 },
  },
  {
    name: "takes flags before an explicit run",
    args: ["--socket", "/x", "run"],
    change: { socket: "/x" },
  },
];

for (const c of RUN_CASES) {
  Deno.test(`parseCommandLine ${c.name}`, () => {
    assert.deepEqual(parseCommandLine(c.args, ENV), {
      command: "run",
      config: { ...baseConfig(), ...c.change },
    });
  });
}

const HELP_CASES = [["--help"], ["-h"], ["help"], ["run", "--help"]];

for (const args of HELP_CASES) {
  Deno.test(`parseCommandLine prints help for ${args.join(" ")}`, () => {
    const cmd = parseCommandLine(args, ENV);
    assert.equal(cmd.command, "help");
    assert.ok(cmd.command === "help" && cmd.text.includes("Usage"));
    assert.ok(cmd.command === "help" && cmd.text.includes("--manifests"));
  });
}

const VERSION_CASES = [["--version"], ["version"], ["-version"]];

for (const args of VERSION_CASES) {
  Deno.test(`parseCommandLine prints the version for ${args.join(" ")}`, () => {
    // deno.json: "version": "0.1.0".
    assert.deepEqual(parseCommandLine(args, ENV), {
      command: "version",
      text: "tinylet 0.1.0",
    });
  });
}

const USAGE_ERROR_CASES: { name: string; args: string[]; message: RegExp }[] = [
  {
    name: "an unknown flag",
    args: ["--bogus"],
    message: /bogus/,
  },
  {
    name: "an unknown single-dash flag",
    args: ["-bogus=1"],
    message: /-b/,
  },
  {
    name: "a flag without its value",
    args: ["--socket"],
    message: /socket/,
  },
  {
    name: "an interval without a unit",
    args: ["--interval", "5"],
    message: /--interval.*"5"/,
  },
  {
    name: "an interval that is not a duration",
    args: ["--interval", "abc"],
    message: /--interval.*"abc"/,
  },
  {
    name: "an empty interval",
    args: ["--interval="],
    message: /--interval/,
  },
  {
    name: "an interval with an unknown unit",
    args: ["--interval", "1x"],
    message: /--interval.*"1x"/,
  },
  {
    name: "--parallel 0",
    args: ["--parallel", "0"],
    message: /--parallel.*"0"/,
  },
  {
    name: "a fractional --parallel",
    args: ["--parallel", "1.5"],
    message: /--parallel.*"1.5"/,
  },
  {
    name: "a --parallel that is not a number",
    args: ["--parallel", "four"],
    message: /--parallel.*"four"/,
  },
  {
    name: "a bad --log-format",
    args: ["--log-format", "xml"],
    message: /--log-format.*"xml"/,
  },
  {
    name: "a bad --log-level",
    args: ["--log-level", "verbose"],
    message: /--log-level.*"verbose"/,
  },
  {
    name: "a --container-log-max-size that is not a size",
    args: ["--container-log-max-size", "ten"],
    message: /--container-log-max-size.*"ten"/,
  },
  {
    name: "a --container-log-max-files below 2",
    args: ["--container-log-max-files", "1"],
    message: /--container-log-max-files.*"1"/,
  },
  {
    name: "a --container-log-monitor-interval below 100ms",
    args: ["--container-log-monitor-interval", "10ms"],
    message: /--container-log-monitor-interval.*"10ms".*100ms/,
  },
  {
    name: "a --container-log-monitor-interval that is not a duration",
    args: ["--container-log-monitor-interval", "often"],
    message: /--container-log-monitor-interval/,
  },
  {
    name: "an unknown command",
    args: ["frobnicate"],
    message: /"frobnicate"/,
  },
  {
    name: "an extra argument after run",
    args: ["run", "extra"],
    message: /"extra"/,
  },
  {
    name: "an --instance with a space",
    args: ["--instance", "my agent"],
    message: /--instance.*"my agent"/,
  },
  {
    name: "an --instance with a slash",
    args: ["--instance", "a/b"],
    message: /--instance.*"a\/b"/,
  },
  {
    name: "an empty --instance",
    args: ["--instance="],
    message: /--instance/,
  },
  {
    name: "an --instance of 64 characters",
    args: ["--instance", "a".repeat(64)],
    message: /--instance/,
  },
  {
    name: "an empty --manifests",
    args: ["--manifests="],
    message: /--manifests/,
  },
];

for (const c of USAGE_ERROR_CASES) {
  Deno.test(`parseCommandLine throws a UsageError for ${c.name}`, () => {
    assert.throws(
      () => parseCommandLine(c.args, ENV),
      (err: unknown) => {
        assert.ok(err instanceof UsageError, `got ${err}`);
        assert.match(err.message, c.message);
        return true;
      },
    );
  });
}

Deno.test("parseCommandLine accepts an --instance of 63 characters", () => {
  const instance = "a".repeat(63);
  assert.deepEqual(parseCommandLine(["--instance", instance], ENV), {
    command: "run",
    config: { ...baseConfig(), instance },
  });
});

const DURATION_CASES: [string, number][] = [
  ["500ms", 500],
  ["1.5s", 1500],
  ["1m30s", 90_000],
  ["2h", 7_200_000],
  ["0", 0],
  ["2s", 2000],
  ["1h2m3s", 3_723_000],
  ["1s500ms", 1500],
  [".5s", 500],
  ["1000us", 1],
];

for (const [text, ms] of DURATION_CASES) {
  Deno.test(`parseDuration reads ${JSON.stringify(text)} as ${ms} ms`, () => {
    assert.equal(parseDuration(text), ms);
  });
}

const BAD_DURATIONS = ["5", "abc", "", "1x", "s", "1s2", "1 s", "2S"];

for (const text of BAD_DURATIONS) {
  Deno.test(`parseDuration rejects ${JSON.stringify(text)}`, () => {
    assert.throws(
      () => parseDuration(text),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.ok(
          err.message.includes(JSON.stringify(text)),
          `message ${JSON.stringify(err.message)} should quote the input`,
        );
        return true;
      },
    );
  });
}

const FORMAT_CASES: [number, string][] = [
  [0, "0s"],
  [500, "500ms"],
  [1500, "1.5s"],
  [2000, "2s"],
  [61_000, "1m1s"],
  [90_000, "1m30s"],
  [3_723_000, "1h2m3s"],
  [7_200_000, "2h0m0s"],
];

for (const [ms, text] of FORMAT_CASES) {
  Deno.test(`formatDuration writes ${ms} ms as ${text} and parseDuration reads it back`, () => {
    assert.equal(formatDuration(ms), text);
    assert.equal(parseDuration(formatDuration(ms)), ms);
  });
}
