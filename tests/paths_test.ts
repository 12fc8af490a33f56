import assert from "node:assert/strict";
import { parseCommandLine } from "../lib/cmd/cli.ts";
import { logsCommand } from "../lib/cmd/logs.ts";
import { execute } from "../lib/reconcile/executor.ts";
import type { ExecutorOptions } from "../lib/reconcile/executor_options.ts";
import { ImagePuller } from "../lib/node/images.ts";
import { createLogger } from "../lib/base/log.ts";
import {
  checkedPodLogDir,
  checkedPodStateDir,
  containerLogPathProblem,
  podIdentityProblem,
  podUidProblem,
  removeBelow,
  resolveBelow,
  UnsafePathError,
} from "../lib/node/paths.ts";
import type { DeletePod, RemoveContainers } from "../lib/reconcile/actions.ts";
import { podUid } from "../lib/manifest/pod.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { FakeCri } from "../testing/fake_cri.ts";

const UID = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** A temp dir holding `root`, `logs` and a `victim` directory beside them, with a file in it. */
async function world(): Promise<
  { dir: string; root: string; logs: string; victim: string } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-paths-" });
  const root = `${dir}/a/root`;
  const logs = `${dir}/a/logs`;
  const victim = `${dir}/victim`;
  await Deno.mkdir(`${root}/pods`, { recursive: true });
  await Deno.mkdir(logs, { recursive: true });
  await Deno.mkdir(victim);
  await Deno.writeTextFile(`${victim}/precious`, "keep me");
  return {
    dir,
    root,
    logs,
    victim,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

// ---- what a pod UID and identity are ----

Deno.test("a UID as tinylet writes it passes; anything else is refused", async () => {
  assert.equal(podUidProblem(await podUid("default", "web", "v1:abc")), undefined);
  assert.equal(podUidProblem(UID), undefined);
  for (
    const bad of [
      "../../../victim",
      "",
      ".",
      "..",
      UID.toUpperCase(),
      `${UID}\n`,
      `${UID}/..`,
      UID.replaceAll("-", ""),
      `{${UID}}`,
      "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1fg",
    ]
  ) {
    assert.ok(podUidProblem(bad), `${JSON.stringify(bad)} is refused`);
  }
  assert.equal(
    podUidProblem("../../../victim"),
    'its UID "../../../victim" is not a pod UID (32 lower-case hex digits in 8-4-4-4-12 groups, as tinylet writes them)',
  );
});

Deno.test("an identity names paths only with a DNS-1123 namespace and name and a log directory name Linux can have", () => {
  const ok = { namespace: "default", name: "web.v1", uid: UID };
  assert.equal(podIdentityProblem(ok), undefined);
  assert.match(podIdentityProblem({ ...ok, namespace: ".." }) ?? "", /^its namespace "\.\."/);
  assert.match(podIdentityProblem({ ...ok, namespace: "a.b" }) ?? "", /DNS-1123 label/);
  assert.match(podIdentityProblem({ ...ok, name: "a/b" }) ?? "", /^its name "a\/b"/);
  assert.match(podIdentityProblem({ ...ok, name: "" }) ?? "", /DNS-1123 subdomain/);
  // 63 + 1 + 200 + 1 + 36 = 301 bytes: each part is valid, their directory name is not.
  const long = { namespace: "n".repeat(63), name: "p".repeat(200), uid: UID };
  assert.match(podIdentityProblem(long) ?? "", /has 301 bytes, more than the 255 Linux allows/);
  // Control characters in what the runtime said are quoted escaped.
  assert.equal(
    podIdentityProblem({ ...ok, name: "ev\x1b[2Jil\u009b" })?.includes(
      '"ev\\u001b[2Jil\\u009b"',
    ),
    true,
  );
});

Deno.test("the state and log directories of an identity that cannot name paths are never built", () => {
  const id = { namespace: "default", name: "evil", uid: "../../../victim" };
  assert.throws(
    () => checkedPodStateDir("/var/lib/tinylet", id),
    (err) =>
      err instanceof UnsafePathError &&
      err.message ===
        'Cannot build the state directory of pod "default/evil": its UID "../../../victim" is not a pod UID (32 lower-case hex digits in 8-4-4-4-12 groups, as tinylet writes them)',
  );
  assert.throws(() => checkedPodLogDir("/var/log/pods", id), UnsafePathError);
  assert.throws(
    () => checkedPodLogDir("/var/log/pods", { namespace: "..", name: "x", uid: UID }),
    /Cannot build the log directory of pod "\.\.\/x": its namespace "\.\."/,
  );
  const good = { namespace: "default", name: "web", uid: UID };
  assert.equal(checkedPodStateDir("/var/lib/tinylet", good), `/var/lib/tinylet/pods/${UID}`);
  assert.equal(checkedPodLogDir("/var/log/pods", good), `/var/log/pods/default_web_${UID}`);
});

Deno.test("a container's log path is one tinylet handles only where tinylet put it", () => {
  const pod = { namespace: "default", name: "web", uid: UID };
  const dir = `/var/log/pods/default_web_${UID}`;
  assert.equal(containerLogPathProblem(`${dir}/app/0.log`, pod, "/var/log/pods"), undefined);
  assert.equal(containerLogPathProblem(`${dir}/app/0.log`, pod), undefined);
  const refused: [string, RegExp][] = [
    [`${dir}/app/../../../../etc/0.log`, /without "\." or "\.\." components/],
    [`${dir}/./app/0.log`, /without "\." or "\.\." components/],
    [`default_web_${UID}/app/0.log`, /not an absolute path/],
    [`/var/log/pods/default_db_${UID}/app/0.log`, /not in the log directory of its pod/],
    [`${dir}/0.log`, /not in the log directory of its pod/],
    [`${dir}/App_1/0.log`, /not in a directory named after a container/],
    [`${dir}/app/passwd`, /does not end in <restart count>\.log/],
    [`${dir}/app/01.log`, /does not end in <restart count>\.log/],
    [`/etc/default_web_${UID}/app/0.log`, /not below the pod log root "\/var\/log\/pods"/],
  ];
  for (const [path, why] of refused) {
    assert.match(containerLogPathProblem(path, pod, "/var/log/pods") ?? "", why, path);
  }
});

// ---- removing only below a root ----

Deno.test("removal refuses a path that is not below the root as written, and deletes nothing", async () => {
  await using w = await world();
  for (const path of [`${w.root}/pods/../../../victim`, w.root, `${w.root}/..`, w.victim]) {
    await assert.rejects(
      removeBelow(w.root, path),
      (err) => err instanceof UnsafePathError && err.message.startsWith("Refusing to remove "),
      path,
    );
  }
  assert.equal(await Deno.readTextFile(`${w.victim}/precious`), "keep me");
  assert.ok(await exists(w.root));
});

Deno.test("removal refuses a path below the root that a symlinked directory takes outside it", async () => {
  await using w = await world();
  await Deno.remove(`${w.root}/pods`);
  await Deno.symlink(w.dir, `${w.root}/pods`); // pods -> the directory holding the victim
  await assert.rejects(
    removeBelow(w.root, `${w.root}/pods/victim`),
    (err) =>
      err instanceof UnsafePathError &&
      err.message.includes(`it resolves to "${w.victim}", which is not below`),
  );
  assert.equal(await Deno.readTextFile(`${w.victim}/precious`), "keep me");
});

Deno.test("removal takes a symlink below the root away without following it", async () => {
  await using w = await world();
  await Deno.symlink(w.victim, `${w.root}/pods/${UID}`);
  assert.equal(await resolveBelow(w.root, `${w.root}/pods/${UID}`), `${w.root}/pods/${UID}`);
  await removeBelow(w.root, `${w.root}/pods/${UID}`);
  assert.equal(await exists(`${w.root}/pods/${UID}`), false);
  assert.equal(await Deno.readTextFile(`${w.victim}/precious`), "keep me");
});

Deno.test("removal below a root that does not exist (yet) does nothing", async () => {
  await using w = await world();
  assert.equal(await resolveBelow(`${w.dir}/none`, `${w.dir}/none/pods/x`), undefined);
  await removeBelow(`${w.dir}/none`, `${w.dir}/none/pods/x`);
  await removeBelow(w.root, `${w.root}/pods/${UID}`);
  await removeBelow(w.root, `${w.root}/missing/${UID}`);
});

// ---- the executor's removals ----

function executorOptions(cri: FakeCri, root: string, logs: string): ExecutorOptions {
  return {
    cri,
    log: createLogger({ write: () => {} }),
    images: new ImagePuller({ cri, now: Date.now }),
    root,
    podLogRoot: logs,
    parallel: 1,
  };
}

async function sandboxWith(cri: FakeCri, uid: string, logDirectory?: string): Promise<string> {
  return await cri.runPodSandbox({
    metadata: { name: "evil", namespace: "default", uid, attempt: 0 },
    ...(logDirectory ? { logDirectory } : {}),
  });
}

function deletion(sandboxId: string, uid: string, removeState: boolean): DeletePod {
  return {
    type: "deletePod",
    key: "default/evil",
    reason: "test",
    sandboxId,
    namespace: "default",
    name: "evil",
    uid,
    stopGroups: [],
    containerNames: {},
    gracePeriodSeconds: 1,
    removeState,
    hostPaths: removeState,
  };
}

Deno.test("asked to remove the directories of a UID that cannot name them, the executor fails before it calls the runtime", async () => {
  await using w = await world();
  const cri = new FakeCri();
  const id = await sandboxWith(cri, "../../../victim");
  cri.calls.length = 0;
  const [r] = await execute(
    [deletion(id, "../../../victim", true)],
    executorOptions(cri, w.root, w.logs),
  );
  assert.ok(r?.error instanceof UnsafePathError, String(r?.error));
  assert.match(r.error.message, /^Cannot build the state directory of pod "default\/evil"/);
  assert.deepEqual(cri.methods(), []);
  assert.equal(await Deno.readTextFile(`${w.victim}/precious`), "keep me");
});

Deno.test("a sandbox whose UID cannot name paths is stopped and removed by id, and no host path is touched", async () => {
  await using w = await world();
  const cri = new FakeCri();
  const id = await sandboxWith(cri, "../../../victim");
  // A spec where its state directory would be: never read (no preStop hook from it).
  await Deno.writeTextFile(`${w.victim}/pod.json`, "{");
  const [r] = await execute(
    [deletion(id, "../../../victim", false)],
    executorOptions(cri, w.root, w.logs),
  );
  assert.equal(r?.error, undefined);
  assert.deepEqual(await cri.listPodSandbox(), []);
  assert.equal(await Deno.readTextFile(`${w.victim}/precious`), "keep me");
  assert.ok(await exists(`${w.victim}/pod.json`));
});

Deno.test("a pod's state directory that is a symlink out of the root goes as a link; what it points to stays", async () => {
  await using w = await world();
  const cri = new FakeCri();
  const id = await sandboxWith(cri, UID);
  await Deno.symlink(w.victim, `${w.root}/pods/${UID}`);
  await Deno.symlink(w.victim, `${w.logs}/default_evil_${UID}`);
  const [r] = await execute([deletion(id, UID, true)], executorOptions(cri, w.root, w.logs));
  assert.equal(r?.error, undefined);
  assert.equal(await exists(`${w.root}/pods/${UID}`), false);
  assert.equal(await exists(`${w.logs}/default_evil_${UID}`), false);
  assert.equal(await Deno.readTextFile(`${w.victim}/precious`), "keep me");
});

Deno.test("a sandbox removal the runtime accepts but does not carry out fails the action", async () => {
  await using w = await world();
  const cri = new FakeCri();
  const id = await sandboxWith(cri, UID);
  cri.removePodSandbox = () => Promise.resolve(); // accepted, not done
  const [r] = await execute([deletion(id, UID, true)], executorOptions(cri, w.root, w.logs));
  assert.equal(
    r?.error?.message,
    `Cannot remove sandbox "${id}" of pod default/evil: the runtime accepted its removal but still has it`,
  );
});

Deno.test("a container removal the runtime accepts but does not carry out fails the action", async () => {
  await using w = await world();
  const cri = new FakeCri({ images: ["busybox"] });
  const sandbox = await sandboxWith(cri, UID);
  const cid = await cri.createContainer(sandbox, {
    metadata: { name: "app", attempt: 0 },
    image: { image: "busybox" },
  }, { metadata: { name: "evil", namespace: "default", uid: UID, attempt: 0 } });
  cri.removeContainer = () => Promise.resolve();
  const action: RemoveContainers = {
    type: "removeContainers",
    key: "default/evil",
    reason: "test",
    containers: [{ id: cid, logPath: "" }],
  };
  const [r] = await execute([action], executorOptions(cri, w.root, w.logs));
  assert.equal(
    r?.error?.message,
    `Cannot remove container "${cid}" of pod default/evil: the runtime accepted its removal but still has it`,
  );
});

Deno.test("the log files of a removed container go only from below the pod log root", async () => {
  await using w = await world();
  const cri = new FakeCri({ images: ["busybox"] });
  const sandbox = await sandboxWith(cri, UID);
  const config = { metadata: { name: "evil", namespace: "default", uid: UID, attempt: 0 } };
  const image = { image: "busybox" };
  const outside = await cri.createContainer(
    sandbox,
    { metadata: { name: "a", attempt: 0 }, image },
    config,
  );
  const inside = await cri.createContainer(
    sandbox,
    { metadata: { name: "b", attempt: 0 }, image },
    config,
  );
  await Deno.mkdir(`${w.logs}/default_evil_${UID}/b`, { recursive: true });
  await Deno.writeTextFile(`${w.logs}/default_evil_${UID}/b/0.log`, "log");
  await Deno.writeTextFile(`${w.victim}/0.log`, "not a log of ours");
  const [r] = await execute([{
    type: "removeContainers",
    key: "default/evil",
    reason: "test",
    containers: [
      { id: inside, logPath: `${w.logs}/default_evil_${UID}/b/0.log` },
      { id: outside, logPath: `${w.logs}/../../victim/0.log` },
    ],
  }], executorOptions(cri, w.root, w.logs));
  assert.ok(r?.error instanceof UnsafePathError, String(r?.error));
  assert.equal(await exists(`${w.logs}/default_evil_${UID}/b/0.log`), false);
  assert.equal(await Deno.readTextFile(`${w.victim}/0.log`), "not a log of ours");
  assert.equal(await Deno.readTextFile(`${w.victim}/precious`), "keep me");
});

Deno.test("a container whose log path is refused does not keep the next containers of the action from being removed", async () => {
  await using w = await world();
  const cri = new FakeCri({ images: ["busybox"] });
  const sandbox = await sandboxWith(cri, UID);
  const config = { metadata: { name: "evil", namespace: "default", uid: UID, attempt: 0 } };
  const image = { image: "busybox" };
  const [first, second] = [
    await cri.createContainer(sandbox, { metadata: { name: "a", attempt: 0 }, image }, config),
    await cri.createContainer(sandbox, { metadata: { name: "b", attempt: 0 }, image }, config),
  ];
  await Deno.mkdir(`${w.logs}/default_evil_${UID}/b`, { recursive: true });
  await Deno.writeTextFile(`${w.logs}/default_evil_${UID}/b/0.log`, "log");
  await Deno.writeTextFile(`${w.victim}/0.log`, "not a log of ours");
  const [r] = await execute([{
    type: "removeContainers",
    key: "default/evil",
    reason: "test",
    containers: [
      { id: first!, logPath: `${w.logs}/../../victim/0.log` },
      { id: second!, logPath: `${w.logs}/default_evil_${UID}/b/0.log` },
    ],
  }], executorOptions(cri, w.root, w.logs));
  assert.ok(r?.error instanceof UnsafePathError, String(r?.error));
  assert.deepEqual(await cri.listContainers(), []);
  assert.equal(await exists(`${w.logs}/default_evil_${UID}/b/0.log`), false);
  assert.equal(await Deno.readTextFile(`${w.victim}/0.log`), "not a log of ours");
});

// ---- tinylet logs ----

Deno.test("tinylet logs reads a container's log only where tinylet puts it", async () => {
  await using w = await world();
  const cri = new FakeCri({ images: ["busybox"] });
  const labels = {
    "tinylet": "true",
    "tinylet/instance": "default",
    [KEYS.podNamespace]: "default",
  };
  const line = "2026-11-29T07:00:00.000000000Z stdout F ";
  const podWith = async (name: string, logDirectory: string, text: string) => {
    const config = {
      metadata: { name, namespace: "default", uid: UID, attempt: 0 },
      labels: { ...labels, [KEYS.podName]: name, [KEYS.podUid]: UID },
      logDirectory,
    };
    const sandbox = await cri.runPodSandbox(config);
    await cri.createContainer(sandbox, {
      metadata: { name: "app", attempt: 0 },
      image: { image: "busybox" },
      logPath: "app/0.log",
      labels: config.labels,
    }, config);
    await Deno.mkdir(`${logDirectory}/app`, { recursive: true });
    await Deno.writeTextFile(`${logDirectory}/app/0.log`, `${line}${text}\n`);
  };
  await podWith("web", `${w.logs}/default_web_${UID}`, "hello");
  // A sandbox made with tinylet's labels whose log directory is elsewhere.
  await podWith("evil", `${w.victim}/logs`, "a secret");
  // Named as a pod's log directory, but not below --pod-log-root.
  await podWith("deep", `${w.victim}/default_deep_${UID}`, "another secret");
  const config = parseCommandLine(
    ["logs", "default/web", "--root", w.root, "--pod-log-root", w.logs],
    { cwd: w.dir, hostname: "node1" },
  );
  assert.ok("config" in config);
  const run = async (name: string) => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    const code = await logsCommand(config.config, cri, {
      pod: { namespace: "default", name },
      container: undefined,
      follow: false,
      tail: undefined,
      previous: false,
      timestamps: false,
    }, io);
    return { code, out, err };
  };
  assert.deepEqual(await run("web"), { code: 0, out: ["hello"], err: [] });
  const evil = await run("evil");
  assert.equal(evil.code, 1);
  assert.deepEqual(evil.out, []);
  assert.match(
    evil.err.join("\n"),
    /^Cannot read the log of container "app" of pod default\/evil: its log path ".*\/victim\/logs\/app\/0\.log" is not in the log directory of its pod$/,
  );
  const deep = await run("deep");
  assert.equal(deep.code, 1);
  assert.deepEqual(deep.out, []);
  assert.match(
    deep.err.join("\n"),
    /^Cannot read the log of container "app" of pod default\/deep: /,
  );
});
