/**
 * The CRI contract's cases on images pulled from a registry whose tags move: `PullImage`
 * returns the image id that `ImageStatus` then gives; a new image pushed under the tag pulls
 * as a new id, while the old image stays under its id and repo digest; a container keeps
 * reporting the image it was created from (its id in `ListContainers`, its repo digest in
 * `ContainerStatus`, as containerd 1.6 answers); credentials given as a user name and a
 * password reach the registry. The registry is the fake's or a real one, through
 * `cri_contract_registry.ts`; every pull carries its credentials.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { ContainerConfig, Cri } from "../lib/runtime/cri.ts";
import { containerConfig, type ContractEnv, type ContractPod } from "./cri_contract_fixtures.ts";
import { waitFor } from "./wait.ts";

/** An image id (its config's digest), as PullImage and ImageStatus give it. */
const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/** `host/repo:tag` → a pattern for its repo digest, `host/repo@sha256:` and 64 hex digits. */
function repoDigestOf(image: string): RegExp {
  const repo = image.slice(0, image.lastIndexOf(":"));
  return new RegExp(`^${repo.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}@sha256:[0-9a-f]{64}$`);
}

/** Runs the cases on moving tags as steps of `t`; containers go in the shared sandbox `pod`. */
export async function tagCases(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
  pod: ContractPod,
): Promise<void> {
  const { registry } = env;
  const pull = (image: string) => cri.pullImage({ image }, registry.auth);
  const present = async (image: string) => {
    const status = await cri.imageStatus({ image });
    assert.ok(status, `ImageStatus finds "${image}"`);
    return status;
  };

  await t.step("PullImage returns the image id, which ImageStatus then gives", async () => {
    const image = registry.name("pulled", "1");
    await registry.publish(image);
    assert.equal(await cri.imageStatus({ image }), null, "not present before its pull");
    const id = await pull(image);
    assert.match(id, IMAGE_ID);
    const status = await present(image);
    assert.equal(status.id, id);
    assert.deepEqual(status.repoTags, [image]);
    assert.equal(status.repoDigests.length, 1, status.repoDigests.join(", "));
    assert.match(status.repoDigests[0]!, repoDigestOf(image));
    // The repo digest is the manifest's, not the image id (its config's).
    assert.ok(!status.repoDigests[0]!.endsWith(id), `${status.repoDigests[0]} vs ${id}`);
    assert.equal(await pull(image), id, "pulling an unmoved tag again gives the same id");
  });

  await t.step(
    "after a new image is pushed under the tag, PullImage returns a new id and ImageStatus " +
      "of the tag gives it; the old image stays under its id and repo digest",
    async () => {
      const image = registry.name("moved", "1");
      await registry.publish(image);
      const first = await pull(image);
      const before = await present(image);
      await registry.pushNew(image);
      assert.equal((await present(image)).id, first, "a push changes nothing before a pull");
      const second = await pull(image);
      assert.match(second, IMAGE_ID);
      assert.notEqual(second, first);
      const after = await present(image);
      assert.equal(after.id, second);
      assert.deepEqual(after.repoTags, [image]);
      assert.equal(after.repoDigests.length, 1, after.repoDigests.join(", "));
      assert.match(after.repoDigests[0]!, repoDigestOf(image));
      assert.notDeepEqual(after.repoDigests, before.repoDigests);
      const old = await present(first);
      assert.equal(old.id, first);
      assert.deepEqual(old.repoTags, []);
      assert.deepEqual(old.repoDigests, before.repoDigests);
      assert.equal((await present(before.repoDigests[0]!)).id, first);
    },
  );

  await t.step(
    "a container keeps the image it was created from when its tag moves: ListContainers " +
      "gives the image id, ContainerStatus the repo digest (the id for an image without one)",
    async () => {
      const image = registry.name("kept", "1");
      const config = (name: string, ref: string): ContainerConfig => ({
        ...containerConfig(name, env, ["sleep", "3600"]),
        image: { image: ref },
      });
      await registry.publish(image);
      const oldId = await pull(image);
      const oldDigest = (await present(image)).repoDigests[0];
      const before = await cri.createContainer(pod.id, config("tag-before", image), pod.config);
      await cri.startContainer(before);
      await registry.pushNew(image);
      const newId = await pull(image);
      const newDigest = (await present(image)).repoDigests[0];
      assert.notEqual(newId, oldId);
      const after = await cri.createContainer(pod.id, config("tag-after", image), pod.config);
      const localId = (await present(env.image)).id;
      const local = await cri.createContainer(pod.id, config("tag-local", env.image), pod.config);
      const ours = [before, after, local];

      const listed = (await cri.listContainers({ podSandboxId: pod.id }))
        .filter((c) => ours.includes(c.id));
      assert.deepEqual(
        Object.fromEntries(listed.map((c) => [c.id, [c.image.image, c.imageRef]])),
        {
          [before]: [image, oldId],
          [after]: [image, newId],
          [local]: [env.image, localId],
        },
      );
      const statuses = await Promise.all(ours.map((id) => cri.containerStatus(id)));
      assert.deepEqual(
        Object.fromEntries(statuses.map((s) => [s.id, [s.image.image, s.imageRef]])),
        {
          [before]: [image, oldDigest],
          [after]: [image, newDigest],
          [local]: [env.image, localId],
        },
      );
      assert.equal(statuses[0]!.state, "CONTAINER_RUNNING");
      await cri.stopContainer(before, 0);
      for (const id of ours) await cri.removeContainer(id);
    },
  );

  await t.step(
    "a pull with a user name and a password reaches the registry with them",
    async () => {
      const image = registry.name("private", "1");
      await registry.publish(image);
      assert.equal(await registry.authorisedPulls(image), 0);
      assert.match(await pull(image), IMAGE_ID);
      await waitFor(
        `the registry to count the pull of "${image}"`,
        async () => (await registry.authorisedPulls(image)) > 0,
        { timeoutMs: env.settleMs },
      );
      assert.equal(await registry.authorisedPulls(image), 1);
    },
  );
}
