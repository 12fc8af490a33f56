/**
 * ConfigMaps and Secrets end to end, on a real containerd with the agent as a process (with
 * the permissions it ships with): the files and env a container gets from them, in their own
 * files or beside the pod (configMap, secret and projected volumes, env, envFrom); an edit seen
 * in the container's file without a restart; a Secret file others can read refused; an env
 * change replacing the pod; a pod waiting for a missing object and starting when it appears;
 * a deleted object leaving the pod running, its exited container restarted with its files,
 * also after the agent restarts; no secret value in anything the agent or the commands print
 * or write outside the pods' tmpfs; and no mount left once the pods are gone.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags, COMPILE_PERMISSIONS } from "../testing/agent_args.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import {
  catIn,
  containerMounts,
  envIn,
  execIn,
  execOk,
  exists,
  filesHolding,
  hostMountsUnder,
  linksIn,
  modesIn,
  namesIn,
  parseEnv,
  pick,
  runningPod,
  tinylet,
  writeAtomic,
} from "../testing/in_container.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "config-e2e";
const [SECRET, TOKEN, INLINE, LATE, LATER] = ["pw", "tok", "key", "late", "later"].map((p) =>
  `${p}-${crypto.randomUUID()}`
) as [string, string, string, string, string];
/** Every secret value, decoded and in base64: none may show anywhere but in the pods. */
const SECRETS = [SECRET, TOKEN, INLINE, LATE, LATER].flatMap((s) => [s, btoa(s)]);
/** The timestamped directory `..data` points to: `..YYYY_MM_DD_HH_MM_SS.<random>`. */
const STAMP = /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\S+$/;

function pod(name: string, image: string, body: string): string {
  return `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: app
    image: ${image}
    command: [sh, -c, "trap 'exit 0' TERM; sleep 3600 & wait"]
${body}`;
}

const object = (kind: string, name: string, data: string) =>
  `apiVersion: v1\nkind: ${kind}\nmetadata: {name: ${name}}\n${data}\n`;

const configYaml = (appConf: string, level: string) =>
  object(
    "ConfigMap",
    "app-config",
    `data: {app.conf: ${JSON.stringify(appConf)}, greeting.txt: hello}`,
  ) +
  `---\n${object("ConfigMap", "app-env", `data: {LEVEL: ${level}, color: blue}`)}`;

const SECRET_YAML = object(
  "Secret",
  "app-secret",
  `type: Opaque\ndata: {password: ${btoa(SECRET)}}\nstringData: {token: ${TOKEN}}`,
);

// The item mode is written as the Kubernetes documentation writes it: 0400, octal.
const filesPod = (image: string) =>
  pod(
    "files",
    image,
    `    env:
    - {name: LOG_LEVEL, valueFrom: {configMapKeyRef: {name: app-env, key: LEVEL}}}
    - {name: DB_PASSWORD, valueFrom: {secretKeyRef: {name: app-secret, key: password}}}
    envFrom: [{prefix: CFG_, configMapRef: {name: app-env}}, {prefix: SEC_, secretRef: {name: app-secret}}]
    volumeMounts:
    - {name: config, mountPath: /etc/app}
    - {name: creds, mountPath: /etc/creds}
    - {name: config, mountPath: /etc/sub.conf, subPath: app.conf}
    - {name: all, mountPath: /etc/all}
  volumes:
  - {name: config, configMap: {name: app-config}}
  - name: all
    projected:
      sources:
      - configMap: {name: app-config, items: [{key: app.conf, path: config/app.conf}]}
      - secret: {name: app-secret, items: [{key: token, path: token}]}
      - downwardAPI: {items: [{path: name, fieldRef: {fieldPath: metadata.name}}]}
  - name: creds
    secret:
      secretName: app-secret
      items: [{key: password, path: db/password, mode: 0400}, {key: token, path: token}]
`,
  );

const inlineYaml = (image: string, withConfigMap: boolean) =>
  (withConfigMap ? `${object("ConfigMap", "inline-config", "data: {motd: welcome}")}---\n` : "") +
  `${object("Secret", "inline-secret", `data: {api-key: ${btoa(INLINE)}}`)}---\n` +
  pod(
    "inline",
    image,
    `    env: [{name: API_KEY, valueFrom: {secretKeyRef: {name: inline-secret, key: api-key}}}]
    envFrom: [{prefix: INL_, secretRef: {name: inline-secret}}]
    volumeMounts: [{name: motd, mountPath: /etc/inline}, {name: key, mountPath: /etc/inline-secret}]
  volumes:
  - {name: motd, configMap: {name: inline-config}}
  - {name: key, secret: {secretName: inline-secret, defaultMode: 256}}
`,
  );

realRuntimeTest("ConfigMaps and Secrets reach pods on containerd", async (t, rc) => {
  using cri = connectCri(rc.socket);
  const dir = `${rc.dir}/config-e2e`;
  const [manifests, root, logs] = ["manifests", "root", "logs"].map((d) => `${dir}/${d}`) as [
    string,
    string,
    string,
  ];
  await Deno.mkdir(manifests, { recursive: true, mode: 0o755 });
  const image = rc.busyboxImage;
  const flags = { socket: rc.socket, manifests, instance: INSTANCE, root, podLogRoot: logs };
  const common = agentFlags(flags);
  const start = (logFormat: "text" | "json") =>
    startAgent(
      agentFlags({ ...flags, interval: "1s", listen: "127.0.0.1:0", logFormat, logLevel: "debug" }),
      { permissions: COMPILE_PERMISSIONS },
    );
  /** Everything printed or served that a secret must not be in, with where it came from. */
  const places: [string, string][] = [];
  const command = async (args: string[]) => {
    const r = await tinylet([...args, ...common], COMPILE_PERMISSIONS);
    places.push([`tinylet ${args.join(" ")}`, r.out + r.err]);
    return r;
  };
  const served = async (lines: string[], name: string) => {
    const line = lines.find((l) => l.includes("Serving /healthz")) ?? "";
    const endpoint = `http://${/(127\.0\.0\.1:\d+)/.exec(line)?.[1]}`;
    for (const path of ["/pods", "/metrics"]) {
      places.push([`${path} of the ${name} agent`, await (await fetch(endpoint + path)).text()]);
    }
  };
  /** The host's mounts under the pods' directories, as `UID/PATH tmpfs|disk`. */
  const podMounts = async () =>
    (await hostMountsUnder(`${root}/pods`)).map((m) =>
      `${m.target.slice(root.length + 6).replace("/volumes/", "/")} ${
        m.fstype === "tmpfs" ? "tmpfs" : "disk"
      }`
    ).sort();
  /** The mounts of pods files and inline: their secret and projected tmpfs, the subPath's bind mount. */
  const mountsOf = (files: string, inline: string) =>
    [
      `${files}/kubernetes.io~projected/all tmpfs`,
      `${files}/kubernetes.io~secret/creds tmpfs`,
      `${files}/volume-subpaths/config/app/2 disk`,
      `${inline}/kubernetes.io~secret/key tmpfs`,
    ].sort();

  await writeAtomic(`${manifests}/config.yaml`, configYaml("mode=one\n", "info"));
  await writeAtomic(`${manifests}/secret.yaml`, SECRET_YAML, 0o600);
  await writeAtomic(`${manifests}/files.yaml`, filesPod(image));
  await writeAtomic(`${manifests}/inline.yaml`, inlineYaml(image, true), 0o600);

  const text = start("text");
  let agent = text;
  const said = () => agent.lines.join("\n");
  try {
    await agent.waitForLine(/Serving \/healthz, \/metrics and \/pods on /);
    let files = await runningPod(cri, INSTANCE, "files", { log: said });
    const inline = await runningPod(cri, INSTANCE, "inline", { log: said });
    const filesId = () => files.containers[0]!.id;
    let inlineId = inline.containers[0]!.id;
    const cat = async (id: string, path: string) => (await catIn(cri, id, [path]))[0];

    await t.step("the files and env of ConfigMaps and Secrets in their own files", async () => {
      const r = await tinylet(
        ["exec", "default/files", ...common, "--", "env"],
        COMPILE_PERMISSIONS,
      );
      assert.equal(r.code, 0, r.err);
      const want = { LOG_LEVEL: "info", DB_PASSWORD: SECRET, CFG_LEVEL: "info", CFG_color: "blue" };
      const more = { SEC_password: SECRET, SEC_token: TOKEN };
      assert.deepEqual(pick(parseEnv(r.out), { ...want, ...more }), { ...want, ...more });
      const id = filesId();
      assert.deepEqual(
        await catIn(cri, id, ["/etc/app/app.conf", "/etc/app/greeting.txt", "/etc/creds/token"]),
        ["mode=one\n", "hello", TOKEN],
      );
      assert.deepEqual(await catIn(cri, id, ["/etc/creds/db/password"]), [SECRET]);
      const projected = ["/etc/all/config/app.conf", "/etc/all/token", "/etc/all/name"];
      assert.deepEqual(await catIn(cri, id, projected), ["mode=one\n", TOKEN, "files"]);
      assert.equal(await cat(id, "/etc/sub.conf"), "mode=one\n");
      // kubelet's layout: ..data → a timestamped directory, one link per top-level name.
      const layout: [string, string[]][] = [
        ["app", ["app.conf", "greeting.txt"]],
        ["creds", ["db", "token"]],
      ];
      for (const [vol, names] of layout) {
        const [stamp = ""] = await linksIn(cri, id, [`/etc/${vol}/..data`]);
        assert.match(stamp, STAMP);
        assert.deepEqual(await namesIn(cri, id, `/etc/${vol}`), ["..data", stamp, ...names].sort());
        const links = await linksIn(cri, id, names.map((n) => `/etc/${vol}/${n}`));
        assert.deepEqual(links, names.map((n) => `..data/${n}`));
      }
      const ls = await execOk(cri, id, ["ls", "-la", "/etc/app"]);
      assert.match(ls, /^l.* \.\.data -> \.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.\S+$/m);
      assert.match(ls, /^l.* app\.conf -> \.\.data\/app\.conf$/m);
      const modes = await modesIn(cri, id, ["/etc/app/app.conf", "/etc/creds/token"]);
      assert.deepEqual(modes, ["644", "644"]);
      for (const vol of ["/etc/app", "/etc/creds"]) {
        const touch = await execIn(cri, id, ["touch", `${vol}/new`]);
        assert.notEqual(touch.code, 0);
        assert.match(touch.err, /Read-only file system/);
      }
      const mounts = await containerMounts(cri, id);
      const [app, creds] = ["/etc/app", "/etc/creds"].map((d) =>
        mounts.find((m) => m.target === d)
      );
      assert.ok(
        app?.options.includes("ro") && creds?.options.includes("ro"),
        JSON.stringify(mounts),
      );
      assert.notEqual(app?.fstype, "tmpfs");
      assert.equal(creds?.fstype, "tmpfs");
      assert.equal(mounts.find((m) => m.target === "/etc/all")?.fstype, "tmpfs");
      // On the host: each secret volume is a tmpfs under its pod's directory; a ConfigMap's is not.
      assert.deepEqual(await podMounts(), mountsOf(files.uid, inline.uid));
      const onDisk = `${root}/pods/${files.uid}/volumes/kubernetes.io~configmap/config/app.conf`;
      assert.equal(await Deno.readTextFile(onDisk), "mode=one\n");
    });

    await t.step("an item mode written 0400 in YAML is 0400, as kubectl reads it", async () => {
      assert.deepEqual(await modesIn(cri, filesId(), ["/etc/creds/db/password"]), ["400"]);
    });

    await t.step("the files and env of a ConfigMap and a Secret beside the pod", async () => {
      const want = { API_KEY: INLINE, "INL_api-key": INLINE };
      assert.deepEqual(pick(await envIn(cri, inlineId), want), want);
      const paths = ["/etc/inline/motd", "/etc/inline-secret/api-key"];
      assert.deepEqual(await catIn(cri, inlineId, paths), ["welcome", INLINE]);
      assert.deepEqual(await modesIn(cri, inlineId, paths), ["644", "400"]);
      const mounts = await containerMounts(cri, inlineId);
      assert.equal(mounts.find((m) => m.target === "/etc/inline-secret")?.fstype, "tmpfs");
    });

    /**
     * Writes `file` (atomically, or in place when `plain`), then polls `path` in container `id`
     * until it holds `want`; returns the milliseconds from the write.
     */
    const edit = async (
      file: string,
      text: string,
      id: string,
      path: string,
      want: string,
      plain = false,
    ) => {
      const mode = (await Deno.stat(file)).mode! & 0o777;
      const written = performance.now();
      if (plain) await Deno.writeTextFile(file, text);
      else await writeAtomic(file, text, mode);
      await waitFor(
        () => `${want} in ${path}; the agent logged:\n${said()}`,
        async () => (await execIn(cri, id, ["cat", path])).out === want,
        { timeoutMs: 10_000, everyMs: 0 },
      );
      return Math.round(performance.now() - written);
    };
    /** Ends the container `id` (its shell traps TERM) of pod `pod`; returns the one restarted. */
    const restart = async (pod: typeof files, id: string) => {
      await execIn(cri, id, ["kill", "-TERM", "1"]).catch(() => undefined);
      const running = { podSandboxId: pod.sandbox.id, state: "CONTAINER_RUNNING" } as const;
      const next = await waitFor(
        () => `a new container of pod ${pod.sandbox.metadata.name}; the agent logged:\n${said()}`,
        async () => (await cri.listContainers(running)).find((c) => c.id !== id),
        { timeoutMs: 30_000, everyMs: 100 },
      );
      return next.id;
    };
    /** Asserts that container `id` of pod `name` still runs, not restarted since `startedAt`. */
    const kept = async (name: string, id: string, startedAt: number) => {
      const now = await runningPod(cri, INSTANCE, name, { log: said });
      assert.equal(now.containers[0]!.id, id);
      assert.equal((await cri.containerStatus(id)).startedAt, startedAt);
      return now;
    };

    await t.step("an edit of the ConfigMap shows in the file, the container kept", async () => {
      const startedAt = (await cri.containerStatus(filesId())).startedAt;
      const config = `${manifests}/config.yaml`;
      const ms = await edit(
        config,
        configYaml("mode=two\n", "info"),
        filesId(),
        "/etc/app/app.conf",
        "mode=two\n",
      );
      console.log("config-update-ms", ms);
      assert.ok(ms <= 2_000, `${ms} ms`);
      await agent.waitForLine(/Updated the files of volume "config" of pod default\/files/);
      // A plain write (truncate, then write) too: an empty file read meanwhile changes nothing.
      const text = configYaml("mode=plain\n", "info");
      const plainMs = await edit(
        config,
        text,
        filesId(),
        "/etc/app/app.conf",
        "mode=plain\n",
        true,
      );
      console.log("config-update-ms (plain write)", plainMs);
      assert.ok(plainMs <= 2_000, `${plainMs} ms`);
      files = await kept("files", filesId(), startedAt);
      assert.equal(await cat(filesId(), "/etc/app/greeting.txt"), "hello");
      assert.equal(await cat(filesId(), "/etc/all/config/app.conf"), "mode=plain\n");
      // As in kubelet, a subPath mount keeps the file it had.
      assert.equal(await cat(filesId(), "/etc/sub.conf"), "mode=one\n");
      const names = await namesIn(cri, filesId(), "/etc/app");
      assert.equal(names.filter((n) => STAMP.test(n)).length, 1, names.join(" "));
    });

    await t.step("a change to a value env reads replaces the pod", async () => {
      const before = files;
      await writeAtomic(`${manifests}/config.yaml`, configYaml("mode=plain\n", "debug"));
      files = await runningPod(cri, INSTANCE, "files", {
        notSandbox: before.sandbox.id,
        log: said,
      });
      assert.notEqual(filesId(), before.containers[0]!.id);
      // Said as such: the file of the pod did not change.
      await agent.waitForLine(
        /Removed pod default\/files .*replace: a value its env reads changed/,
      );
      const want = { LOG_LEVEL: "debug", CFG_LEVEL: "debug", DB_PASSWORD: SECRET };
      assert.deepEqual(pick(await envIn(cri, filesId()), want), want);
      assert.equal(await cat(filesId(), "/etc/app/app.conf"), "mode=plain\n");
      // The old sandbox is gone, and with it its mounts.
      const mounts = mountsOf(files.uid, inline.uid);
      await waitFor(
        () => `the old pod gone; the agent logged:\n${said()}`,
        async () =>
          (await cri.listPodSandbox({ id: before.sandbox.id })).length === 0 &&
          JSON.stringify(await podMounts()) === JSON.stringify(mounts),
      );
      assert.equal((await runningPod(cri, INSTANCE, "inline")).containers[0]!.id, inlineId);
    });

    await t.step("a deleted ConfigMap leaves the pod running with its files", async () => {
      const after = agent.lines.length;
      await writeAtomic(`${manifests}/inline.yaml`, inlineYaml(image, false), 0o600);
      await agent.waitForLine(
        /Pod "default\/inline" keeps running with the ConfigMap and Secret data it had: MountVolume\.SetUp failed for volume "motd" : configmap "inline-config" not found/,
        { after },
      );
      // Two passes later, it still runs, unchanged.
      const seen = agent.lines.length;
      await waitFor(
        "two more passes",
        () => agent.lines.slice(seen).filter((l) => /Pass done/.test(l)).length >= 2,
      );
      assert.equal((await runningPod(cri, INSTANCE, "inline")).containers[0]!.id, inlineId);
      assert.equal(await cat(inlineId, "/etc/inline/motd"), "welcome");
      const d = await command(["describe", "default/inline"]);
      assert.match(d.out, /^Status: {7}Running$/m);
      assert.match(d.out, /configmap "inline-config" not found.*keeps running/);
      // Its container that exits restarts, with the files it had.
      inlineId = await restart(inline, inlineId);
      assert.equal(await cat(inlineId, "/etc/inline/motd"), "welcome");
    });

    await served(agent.lines, "text");
    places.push(["the text log", said()]);
    assert.equal(await agent.stop(), 0, said());

    // An edit while no agent runs; then the same state root, logging JSON: the first pass
    // replaces nothing (the env hashes on the sandboxes match) and writes the edit into the file.
    const startedAt = (await cri.containerStatus(filesId())).startedAt;
    const inlineStartedAt = (await cri.containerStatus(inlineId)).startedAt;
    await writeAtomic(`${manifests}/config.yaml`, configYaml("mode=three\n", "debug"));
    agent = start("json");
    const first = await agent.waitForLine(/Pass done/);
    assert.equal(JSON.parse(first).actions, 0, said());
    await waitFor(
      () => `mode=three; the agent logged:\n${said()}`,
      async () =>
        (await execIn(cri, filesId(), ["cat", "/etc/app/app.conf"])).out === "mode=three\n",
    );
    files = await kept("files", filesId(), startedAt);
    await kept("inline", inlineId, inlineStartedAt);

    await t.step(
      "after a restart, the pod without its ConfigMap runs on, and is said to",
      async () => {
        const line = await agent.waitForLine(/Pod \\"default\/inline\\" (waits|keeps running)/);
        assert.equal(await cat(inlineId, "/etc/inline/motd"), "welcome");
        // The log line and describe name the ConfigMap missing and say the pod keeps running.
        const keeps = /configmap "inline-config" not found.*keeps running/;
        assert.match(JSON.parse(line).msg, keeps);
        const d = await command(["describe", "default/inline"]);
        assert.match(d.out, /^Status: {7}Running$/m);
        assert.match(d.out, keeps);
      },
    );

    await t.step("after a restart, its container that exits restarts with its files", async () => {
      inlineId = await restart(inline, inlineId);
      assert.equal(await cat(inlineId, "/etc/inline/motd"), "welcome");
      assert.equal((await envIn(cri, inlineId)).API_KEY, INLINE);
    });

    await t.step(
      "the ConfigMap back with new data is written in place, the container kept",
      async () => {
        const status = await cri.containerStatus(inlineId);
        assert.equal(
          status.state,
          "CONTAINER_RUNNING",
          "inline runs (restarted in the step before)",
        );
        const startedAt = status.startedAt;
        const back = inlineYaml(image, true).replace("motd: welcome", "motd: welcome back");
        await edit(`${manifests}/inline.yaml`, back, inlineId, "/etc/inline/motd", "welcome back");
        await kept("inline", inlineId, startedAt);
      },
    );

    await t.step(
      "a Secret file others can read is refused; what read it keeps running",
      async () => {
        const after = agent.lines.length;
        const startedAt = (await cri.containerStatus(filesId())).startedAt;
        const secretFile = `${manifests}/secret.yaml`;
        await Deno.chmod(secretFile, 0o644);
        try {
          const line = await agent.waitForLine(/readable by its group and others \(mode 0644\)/, {
            after,
          });
          assert.ok(JSON.parse(line).msg.startsWith(`${secretFile}:1:1: error: `), line);
          const seen = agent.lines.length;
          await waitFor(
            "two more passes",
            () => agent.lines.slice(seen).filter((l) => /Pass done/.test(l)).length >= 2,
          );
          await kept("files", filesId(), startedAt);
          assert.equal(await cat(filesId(), "/etc/creds/token"), TOKEN);
        } finally {
          await Deno.chmod(secretFile, 0o600);
        }
      },
    );

    await t.step("a pod missing a ConfigMap or a Secret waits, then starts", async () => {
      const env =
        "    env: [{name: WORD, valueFrom: {configMapKeyRef: {name: late-config, key: word}}}]\n";
      await writeAtomic(`${manifests}/wait-env.yaml`, pod("wait-env", image, env));
      const vol =
        "    volumeMounts: [{name: late, mountPath: /etc/late}]\n  volumes: [{name: late, secret: {secretName: late-secret}}]\n";
      await writeAtomic(`${manifests}/wait-vol.yaml`, pod("wait-vol", image, vol));
      const want = { "wait-env": "CreateContainerConfigError", "wait-vol": "ContainerCreating" };
      await waitFor(() => `both pods waiting; the agent logged:\n${said()}`, async () => {
        const status = JSON.parse(await Deno.readTextFile(`${root}/status.json`));
        const of = (n: string) =>
          (status.pods as { name: string; status: string }[]).find((p) => p.name === n)?.status;
        return of("wait-env") === want["wait-env"] && of("wait-vol") === want["wait-vol"];
      });
      const pods = await command(["pods"]);
      for (const [name, status] of Object.entries(want)) {
        assert.match(pods.out, new RegExp(`^default\\s+${name}\\s+0/1\\s+${status}\\s+0\\s`, "m"));
      }
      const envPod = await command(["describe", "default/wait-env"]);
      assert.match(envPod.out, /^ {6}Reason: {7}CreateContainerConfigError$/m);
      assert.match(envPod.out, /configmap "late-config" not found/);
      const volPod = await command(["describe", "default/wait-vol"]);
      const setUp = /MountVolume\.SetUp failed for volume "late" : secret "late-secret" not found/;
      assert.match(volPod.out, setUp);
      const plan = await command(["plan"]);
      assert.equal(plan.code, 0, plan.err);
      assert.match(
        plan.out,
        /^wait +default\/wait-env: CreateContainerConfigError: configmap "late-config" not found/m,
      );
      const check = await command(["check", manifests]);
      assert.equal(check.code, 0, check.out + check.err);
      assert.match(check.out, /late-config/);

      const added = performance.now();
      await writeAtomic(
        `${manifests}/late-config.yaml`,
        object("ConfigMap", "late-config", "data: {word: ready}"),
      );
      await writeAtomic(
        `${manifests}/late-secret.yaml`,
        object("Secret", "late-secret", `stringData: {value: ${LATE}}`),
        0o600,
      );
      const waitEnv = await runningPod(cri, INSTANCE, "wait-env", { log: said });
      const waitVol = await runningPod(cri, INSTANCE, "wait-vol", { log: said });
      console.log("config-missing-to-running-ms", Math.round(performance.now() - added));
      assert.equal((await envIn(cri, waitEnv.containers[0]!.id)).WORD, "ready");
      assert.equal(await cat(waitVol.containers[0]!.id, "/etc/late/value"), LATE);

      // An edit of the Secret is written into its tmpfs in place, too.
      const startedAt = (await cri.containerStatus(waitVol.containers[0]!.id)).startedAt;
      const secret = object("Secret", "late-secret", `stringData: {value: ${LATER}}`);
      const ms = await edit(
        `${manifests}/late-secret.yaml`,
        secret,
        waitVol.containers[0]!.id,
        "/etc/late/value",
        LATER,
      );
      console.log("secret-update-ms", ms);
      assert.ok(ms <= 2_000, `${ms} ms`);
      await kept("wait-vol", waitVol.containers[0]!.id, startedAt);
    });

    await t.step("no secret value in any log, status, endpoint or command output", async () => {
      for (const p of ["files", "inline", "wait-env", "wait-vol"]) {
        assert.equal((await command(["describe", `default/${p}`])).code, 0);
      }
      for (
        const args of [["pods", "-o", "json"], ["pods", "-o", "wide"], ["plan"], [
          "check",
          manifests,
        ]]
      ) {
        assert.equal((await command(args)).code, 0);
      }
      const secretFiles = ["secret.yaml", "inline.yaml", "late-secret.yaml"].map((f) =>
        `${manifests}/${f}`
      );
      const convert = await command(["convert", ...secretFiles]);
      assert.equal(convert.code, 0, convert.err);
      // A Secret readable by others, and one whose data is not base64 (the raw value).
      const bad = `${dir}/bad`;
      await Deno.mkdir(bad);
      await writeAtomic(`${bad}/open.yaml`, SECRET_YAML, 0o644);
      await writeAtomic(
        `${bad}/raw.yaml`,
        object("Secret", "raw", `data: {password: ${SECRET}}`),
        0o600,
      );
      const refused = await command(["check", bad]);
      assert.equal(refused.code, 1, refused.out);
      await served(agent.lines, "JSON");
      places.push(["the JSON log", said()]);
      places.push(["status.json", await Deno.readTextFile(`${root}/status.json`)]);
      // The places are those a leak would be in: they name the Secrets and keys.
      assert.match(convert.out, /password/);
      assert.match(said(), /late-secret/);
      for (const [where, text] of places) {
        assert.deepEqual(SECRETS.filter((s) => text.includes(s)), [], `${where} holds a secret`);
      }
      const shown = await tinylet(
        ["convert", "--show-secrets", ...secretFiles],
        COMPILE_PERMISSIONS,
      );
      assert.ok(shown.out.includes(SECRET) || shown.out.includes(btoa(SECRET)), shown.out);
      // On the host, secret values are in the pods' tmpfs volumes only.
      const tmpfs = (await hostMountsUnder(root)).filter((m) => m.fstype === "tmpfs")
        .map((m) => m.target);
      assert.equal(tmpfs.length, 4);
      assert.notDeepEqual(await filesHolding(root, SECRETS), []);
      assert.deepEqual(await filesHolding(root, SECRETS, tmpfs), []);
      assert.deepEqual(await filesHolding(logs, SECRETS), []);
    });

    await t.step("removing the pods' files removes the pods and their mounts", async () => {
      await Deno.remove(`${manifests}/files.yaml`);
      await waitFor(
        () => `pod files gone; the agent logged:\n${said()}`,
        async () =>
          (await cri.listPodSandbox({ labelSelector: { "io.kubernetes.pod.name": "files" } }))
              .length === 0 &&
          (await hostMountsUnder(`${root}/pods/${files.uid}`)).length === 0 &&
          !(await exists(`${root}/pods/${files.uid}`)),
      );
      for (const f of ["inline.yaml", "wait-env.yaml", "wait-vol.yaml"]) {
        await Deno.remove(`${manifests}/${f}`);
      }
      await waitFor(
        () => `every pod gone; the agent logged:\n${said()}`,
        async () =>
          (await cri.listPodSandbox({ labelSelector: { "tinylet/instance": INSTANCE } })).length ===
            0 &&
          (await hostMountsUnder(root)).length === 0,
      );
      assert.deepEqual([...Deno.readDirSync(`${root}/pods`)].map((e) => e.name), []);
    });
    assert.equal(await agent.stop(), 0, said());
  } finally {
    await agent.kill();
    await text.kill();
  }
});
