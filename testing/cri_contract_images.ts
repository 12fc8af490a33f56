/**
 * The CRI contract's cases on the runtime itself and its images: the API version it names,
 * and what ImageStatus answers for a present and an absent image.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Cri } from "../lib/runtime/cri.ts";
import type { ContractEnv } from "./cri_contract_fixtures.ts";

/** Runs the version and image cases as steps of `t`. */
export async function imageCases(
  t: Deno.TestContext,
  cri: Cri,
  env: ContractEnv,
): Promise<void> {
  await t.step("Version names the CRI v1 API", async () => {
    const v = await cri.version();
    assert.equal(v.runtimeApiVersion, "v1");
    assert.ok(v.runtimeName.length > 0);
  });

  await t.step(
    "ImageStatus finds a present image and returns null for an absent one",
    async () => {
      const present = await cri.imageStatus({ image: env.image });
      assert.ok(present, `${env.image} should be present`);
      assert.match(present.id, /^sha256:[0-9a-z-]+$/);
      assert.ok(
        present.repoTags.includes(env.image),
        present.repoTags.join(","),
      );
      const absent = await cri.imageStatus({
        image: "tinylet.invalid/absent:0",
      });
      assert.equal(absent, null);
    },
  );
}
