/**
 * `imagePullPolicy` on a container's restart, by the agent itself (`main.ts` with
 * `--registry-config`) on a real containerd and a real registry: a new image pushed under the
 * same tag is what an `Always` container restarts with, while an `IfNotPresent` one restarts
 * with the image it had.
 */
import assert from "node:assert/strict";
import { connectCri } from "../lib/runtime/grpc.ts";
import type { Container, Cri } from "../lib/runtime/cri.ts";
import { KEYS } from "../lib/runtime/labels.ts";
import { startAgent } from "../testing/agent_process.ts";
import { agentFlags } from "../testing/agent_args.ts";
import { variantArchive } from "../testing/busybox_images.ts";
import { configDigest, realRegistryTest } from "../testing/registry_harness.ts";
import { waitFor } from "../testing/wait.ts";

const INSTANCE = "registry-policy-e2e";

/** A container that prints its image's `/version` and exits 0 once `/t/<name>` appears. */
function container(name: string, image: string, policy: string): string {
  const script = `cat /version; echo; trap 'exit 0' TERM; ` +
    `while [ ! -e /t/${name} ]; do sleep 0.1; done; rm /t/${name}; exit 0`;
  return `    - name: ${name}
      image: ${image}
      imagePullPolicy: ${policy}
      command: ["sh", "-c", ${JSON.stringify(script)}]
      volumeMounts: [{name: trigger, mountPath: /t}]
`;
}

/** Waits until pod `name` runs attempt `attempt` of each of its `count` containers; returns them by name. */
function runningAttempt(
  cri: Cri,
  name: string,
  attempt: number,
  count: number,
  log: () => string,
): Promise<Map<string, Container>> {
  return waitFor(
    () => `attempt ${attempt} of pod ${name} running; the agent logged:\n${log()}`,
    async () => {
      const sandboxes = await cri.listPodSandbox({
        labelSelector: { "tinylet/instance": INSTANCE, [KEYS.podName]: name },
      });
      const sb = sandboxes.find((s) => s.state === "SANDBOX_READY");
      if (!sb) return undefined;
      const cs = (await cri.listContainers({ podSandboxId: sb.id })).filter((c) =>
        c.metadata.attempt === attempt && c.state === "CONTAINER_RUNNING"
      );
      return cs.length === count && new Map(cs.map((c) => [c.metadata.name, c]));
    },
    { timeoutMs: 40_000, everyMs: 50 },
  );
}

realRegistryTest(
  "a restarted container pulls its tag again under Always and keeps its image under IfNotPresent",
  async (t, rc, registry) => {
    const dir = `${rc.dir}/policy`;
    const manifests = `${dir}/manifests`;
    const trigger = `${dir}/trigger`;
    const logs = `${dir}/logs`;
    const configFile = `${dir}/config.json`;
    await Deno.mkdir(manifests, { recursive: true });
    const host = registry.host;
    const work = await Deno.makeTempDir({ dir: registry.dir, prefix: "archives-" });
    const push = async (repo: string, text: string) => {
      const digest = await registry.push(await variantArchive(work, text), `${repo}:1`);
      return { digest, config: await configDigest(registry, repo, digest) };
    };
    const always1 = await push("always", "always-1");
    const stay1 = await push("stay", "stay-1");
    const auth = btoa(`${registry.username}:${registry.password}`);
    await Deno.writeTextFile(configFile, JSON.stringify({ auths: { [host]: { auth } } }), {
      mode: 0o600,
    });

    using cri = connectCri(rc.socket);
    await using agent = startAgent(agentFlags({
      socket: rc.socket,
      manifests,
      instance: INSTANCE,
      root: `${dir}/root`,
      podLogRoot: logs,
      interval: "500ms",
      extra: ["--registry-config", configFile],
    }));
    const agentLog = () => agent.lines.join("\n");
    await Deno.writeTextFile(
      `${manifests}/policy.yaml`,
      `apiVersion: v1
kind: Pod
metadata:
  name: policy
spec:
  restartPolicy: Always
  terminationGracePeriodSeconds: 0
  containers:
${container("always", `${host}/always:1`, "Always")}${
        container("stay", `${host}/stay:1`, "IfNotPresent")
      }  volumes:
    - name: trigger
      hostPath: {path: ${JSON.stringify(trigger)}, type: DirectoryOrCreate}
`,
    );
    /** What attempt `attempt` of container `name` printed: its image's `/version`. */
    const printed = (uid: string, name: string, attempt: number) =>
      waitFor(`the log of ${name} attempt ${attempt}`, async () => {
        const text = await Deno.readTextFile(`${logs}/default_policy_${uid}/${name}/${attempt}.log`)
          .catch(() => "");
        return / stdout [FP] (\S+)$/m.exec(text)?.[1];
      });

    let first = new Map<string, Container>();
    await t.step("both containers start with the images first pushed", async () => {
      first = await runningAttempt(cri, "policy", 0, 2, agentLog);
      assert.equal(first.get("always")!.imageRef, always1.config);
      assert.equal(first.get("stay")!.imageRef, stay1.config);
      const uid = first.get("always")!.labels[KEYS.podUid]!;
      assert.equal(await printed(uid, "always", 0), "always-1");
      assert.equal(await printed(uid, "stay", 0), "stay-1");
    });

    await t.step(
      "after new pushes under the same tags, the restarts differ by policy",
      async () => {
        const always2 = await push("always", "always-2");
        const stay2 = await push("stay", "stay-2");
        assert.notEqual(always2.digest, always1.digest);
        assert.notEqual(always2.config, always1.config);
        assert.notEqual(stay2.config, stay1.config);
        const since = (await Deno.stat(registry.log)).size;
        const exitedAt = Date.now();
        await Deno.writeTextFile(`${trigger}/always`, "");
        await Deno.writeTextFile(`${trigger}/stay`, "");
        const second = await runningAttempt(cri, "policy", 1, 2, agentLog);
        console.log(
          `exit → both restarted: ${Date.now() - exitedAt} ms (crash-loop back-off 10 s)`,
        );

        const always = second.get("always")!;
        assert.equal(always.imageRef, always2.config);
        assert.notEqual(always.imageRef, first.get("always")!.imageRef);
        assert.equal((await cri.imageStatus({ image: `${host}/always:1` }))?.id, always2.config);

        // ContainerStatus names the image by the manifest digest the push returned.
        const alwaysStatus = await cri.containerStatus(always.id);
        assert.equal(alwaysStatus.imageRef, `${host}/always@${always2.digest}`);

        const stay = second.get("stay")!;
        assert.equal((await cri.containerStatus(stay.id)).imageRef, `${host}/stay@${stay1.digest}`);
        assert.equal(stay.imageRef, stay1.config);
        assert.equal((await cri.imageStatus({ image: `${host}/stay:1` }))?.id, stay1.config);

        const uid = always.labels[KEYS.podUid]!;
        assert.equal(await printed(uid, "always", 1), "always-2");
        assert.equal(await printed(uid, "stay", 1), "stay-1");
        const logged = new TextDecoder().decode(
          (await Deno.readFile(registry.log)).subarray(since),
        );
        assert.ok(
          logged.includes("/v2/always/manifests/1"),
          "the Always container's tag was asked for",
        );
        assert.ok(
          !logged.includes("/v2/stay/manifests/1"),
          "the IfNotPresent container's tag was asked for",
        );
      },
    );

    assert.equal(await agent.stop(), 0);
  },
);
