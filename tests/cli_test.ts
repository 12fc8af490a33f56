import assert from "node:assert/strict";
import { type AgentConfig, type Command, parseCommandLine, UsageError } from "../lib/cmd/cli.ts";
import { COMMAND_OPTIONS } from "../lib/cmd/flags.ts";
import { HELP } from "../lib/cmd/help.ts";

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
    autoUpdateIntervalMs: 3_600_000,
    rollbackWindowMs: 0,
    manifestUrl: undefined,
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
    name: "takes --auto-update-interval in Go duration syntax",
    args: ["--auto-update-interval", "5s"],
    change: { autoUpdateIntervalMs: 5_000 },
  },
  {
    name: "takes --rollback-window in Go duration syntax",
    args: ["--rollback-window", "1m30s"],
    change: { rollbackWindowMs: 90_000 },
  },
  {
    name: "takes --rollback-window 0 (off) in any zero form",
    args: ["--rollback-window", "0s"],
    change: { rollbackWindowMs: 0 },
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
    name: "a --rollback-window under a second",
    args: ["--rollback-window", "500ms"],
    message: /--rollback-window: "500ms" is shorter than 1s/,
  },
  {
    name: "a --rollback-window that is not a duration",
    args: ["--rollback-window", "soon"],
    message: /--rollback-window: /,
  },
  {
    name: "an --auto-update-interval under a second",
    args: ["--auto-update-interval", "500ms"],
    message: /--auto-update-interval: "500ms" is shorter than 1s/,
  },
  {
    name: "an argument to auto-update",
    args: ["auto-update", "web"],
    message: /unexpected argument "web"/,
  },
  {
    name: "--dry-run on another command",
    args: ["plan", "--dry-run"],
    message: /--dry-run is not an option of "tinylet plan"/,
  },
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

Deno.test("parseCommandLine reads auto-update's --dry-run and --timeout", () => {
  assert.deepEqual(parseCommandLine(["auto-update"], ENV), {
    command: "auto-update",
    config: baseConfig(),
    dryRun: false,
    timeoutMs: 120_000,
  });
  assert.deepEqual(parseCommandLine(["auto-update", "--dry-run", "--timeout=30s"], ENV), {
    command: "auto-update",
    config: baseConfig(),
    dryRun: true,
    timeoutMs: 30_000,
  });
});

Deno.test("parseCommandLine accepts an --instance of 63 characters", () => {
  const instance = "a".repeat(63);
  assert.deepEqual(parseCommandLine(["--instance", instance], ENV), {
    command: "run",
    config: { ...baseConfig(), instance },
  });
});

// Each command with the least it needs; the common flags go before or after it.
const COMMANDS: [string, string[]][] = [
  ["run", ["run"]],
  ["check", ["check"]],
  ["plan", ["plan"]],
  ["pods", ["pods"]],
  ["describe", ["describe", "web"]],
  ["logs", ["logs", "web"]],
  ["exec", ["exec", "web", "--", "true"]],
  ["down", ["down", "--all"]],
  ["auto-update", ["auto-update", "--dry-run"]],
  ["convert", ["convert", "pod.yaml"]],
  ["version", ["version"]],
  ["help", ["help"]],
];

// Every flag of the agent, with a value other than its default, and what it sets.
const COMMON_FLAGS: [string[], Partial<AgentConfig>][] = [
  [["--socket=/x/cri.sock"], { socket: "/x/cri.sock" }],
  [["--manifests", "m"], { manifests: "/home/ops/m" }],
  [["--interval=5s"], { intervalMs: 5000 }],
  [["--instance=blue"], { instance: "blue" }],
  [["--pod-log-root=/logs"], { podLogRoot: "/logs" }],
  [["--root=/state"], { root: "/state" }],
  [["--node-name=edge-7"], { nodeName: "edge-7" }],
  [["--parallel=2"], { parallel: 2 }],
  [["--listen=127.0.0.1:10248"], { listen: { hostname: "127.0.0.1", port: 10248 } }],
  [["--log-format=json"], { logFormat: "json" }],
  [["--log-level=debug"], { logLevel: "debug" }],
  [["--insecure-manifest-permissions"], { insecureManifestPermissions: true }],
  [["--registry-config=/r.json"], { registryConfig: "/r.json" }],
  [["--container-log-max-size=1Mi"], { containerLogMaxSize: 1024 * 1024 }],
  [["--container-log-max-files=3"], { containerLogMaxFiles: 3 }],
  [["--container-log-monitor-interval=1s"], { containerLogMonitorIntervalMs: 1000 }],
  [["--auto-update-interval=10m"], { autoUpdateIntervalMs: 600_000 }],
  [["--rollback-window=5m"], { rollbackWindowMs: 300_000 }],
  [["-socket=/x/cri.sock"], { socket: "/x/cri.sock" }],
];

Deno.test("every flag of the agent is in the common flags, and the help lists each", () => {
  const flags = COMMON_FLAGS.map(([args]) => /^-+([a-z-]+)/.exec(args[0]!)![1]!);
  for (const [command, options] of Object.entries(COMMAND_OPTIONS)) {
    for (const flag of flags) {
      assert.ok(options.includes(flag as never), `${command} should take --${flag}`);
    }
  }
  for (const flag of new Set(flags)) assert.match(HELP, new RegExp(`\\n  --${flag}\\b`));
});

function configOf(command: Command): AgentConfig | undefined {
  return "config" in command ? command.config : undefined;
}

for (const [command, args] of COMMANDS) {
  for (const [flag, change] of COMMON_FLAGS) {
    Deno.test(`tinylet ${command} takes ${flag.join(" ")}, before or after the command`, () => {
      for (const line of [[...flag, ...args], [args[0]!, ...flag, ...args.slice(1)]]) {
        const parsed = parseCommandLine(line, ENV);
        assert.equal(parsed.command, command);
        const config = configOf(parsed);
        if (config) assert.deepEqual(config, { ...baseConfig(), ...change });
      }
    });
  }
  if (command === "version" || command === "help") continue; // they print, whatever the flags
  Deno.test(`tinylet ${command} checks the common flags' values`, () => {
    assert.throws(
      () => parseCommandLine([...args.slice(0, 1), "--interval=600h", ...args.slice(1)], ENV),
      (err: unknown) => err instanceof UsageError && /--interval: "600h"/.test(err.message),
    );
  });
}

Deno.test("a command's own flags stay its own", () => {
  assert.throws(
    () => parseCommandLine(["logs", "web", "--all"], ENV),
    /--all is not an option of "tinylet logs"/,
  );
  assert.throws(
    () => parseCommandLine(["check", "-o", "json"], ENV),
    /--output is not an option of "tinylet check"/,
  );
});

Deno.test("check uses the common --instance, --root and --pod-log-root it takes", () => {
  const parsed = parseCommandLine(
    ["check", "--instance=blue", "--root=/state", "--pod-log-root=/logs", "m"],
    ENV,
  );
  assert.ok(parsed.command === "check");
  assert.equal(parsed.config.instance, "blue");
  assert.equal(parsed.config.root, "/state");
  assert.equal(parsed.config.podLogRoot, "/logs");
  assert.deepEqual(parsed.paths, ["/home/ops/m"]);
});

// The duration flags: Go's syntax, each flag's minimum, and what a timer can hold.
const DURATION_FLAGS: { flag: string; field: keyof AgentConfig; min: string }[] = [
  { flag: "interval", field: "intervalMs", min: "10ms" },
  { flag: "container-log-monitor-interval", field: "containerLogMonitorIntervalMs", min: "100ms" },
];

for (const { flag, field, min } of DURATION_FLAGS) {
  const takes: [string, number][] = [
    ["+5s", 5000],
    ["1.5s", 1500],
    [".5s", 500],
    ["1.s", 1000],
    ["1m0.5s", 60_500],
    [min, Number.parseInt(min)],
    ["596h31m23.647s", 2 ** 31 - 1],
    ["596h31m23647ms", 2 ** 31 - 1],
  ];
  for (const [text, ms] of takes) {
    Deno.test(`--${flag} takes ${JSON.stringify(text)} as ${ms} ms`, () => {
      const parsed = parseCommandLine([`--${flag}=${text}`], ENV);
      assert.equal(configOf(parsed)?.[field], ms);
    });
  }
  const refuses: [string, string][] = [
    ["600h", `--${flag}: "600h" is longer than a timer can hold: the longest is 596h31m23.647s`],
    [
      "596h31m23.648s",
      `--${flag}: "596h31m23.648s" is longer than a timer can hold: the longest is 596h31m23.647s`,
    ],
    [
      "9223372036854775807ns",
      `--${flag}: "9223372036854775807ns" is longer than a timer can hold: the longest is 596h31m23.647s`,
    ],
    [
      "3000000h",
      `--${flag}: invalid duration "3000000h": it is out of range: the longest is 2562047h47m16.854775807s`,
    ],
    [
      "9223372036854775808ns",
      `--${flag}: invalid duration "9223372036854775808ns": it is out of range: the longest is 2562047h47m16.854775807s`,
    ],
    ["-5s", `--${flag}: "-5s" is negative: give ${min} or more`],
    ["-0", `--${flag}: "-0" is shorter than ${min}`],
    ["0", `--${flag}: "0" is shorter than ${min}`],
    ["1ns", `--${flag}: "1ns" is shorter than ${min}`],
  ];
  for (const [text, message] of refuses) {
    Deno.test(`--${flag} refuses ${JSON.stringify(text)} with a UsageError`, () => {
      assert.throws(() => parseCommandLine([`--${flag}=${text}`], ENV), (err: unknown) => {
        assert.ok(err instanceof UsageError, `got ${err}`);
        assert.equal(err.message, message);
        return true;
      });
    });
  }
}

const PARSE_ARGS_MESSAGES: [string[], string][] = [
  [["plan", "--interval", "-5s"], '--interval: "-5s" starts with a dash: write --interval=-5s'],
  [["-interval", "-5s"], '--interval: "-5s" starts with a dash: write --interval=-5s'],
  [["--bogus"], 'unknown flag "--bogus" (see tinylet --help)'],
  [["pods", "-x"], 'unknown flag "-x" (see tinylet --help)'],
  [["--socket"], "--socket: the value is missing"],
  [["pods", "-n"], "--namespace: the value is missing"],
  [["--insecure-manifest-permissions=yes"], "--insecure-manifest-permissions takes no value"],
];

for (const [args, message] of PARSE_ARGS_MESSAGES) {
  Deno.test(`parseCommandLine says ${JSON.stringify(message)} for ${args.join(" ")}`, () => {
    assert.throws(() => parseCommandLine(args, ENV), (err: unknown) => {
      assert.ok(err instanceof UsageError, `got ${err}`);
      assert.equal(err.message, message);
      return true;
    });
  });
}
