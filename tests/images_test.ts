/** The image puller: what a failed pull leaves behind, and what a cancelled one does not. */
import assert from "node:assert/strict";
import { CriError } from "../lib/runtime/errors.ts";
import { ImagePuller, ImagePullError } from "../lib/node/images.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { waitFor } from "../testing/wait.ts";

const IMAGE = "registry.example/slow:1";

function puller(cri: FakeCri, now: () => number) {
  const told: string[] = [];
  const images = new ImagePuller({
    cri,
    now,
    onPull: (image, outcome) => told.push(`${outcome} ${image}`),
  });
  return { images, told };
}

Deno.test("a pull that hangs and is cancelled leaves no backoff and no error, and is not told as failed", async () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const cri = new FakeCri({ registry: [IMAGE], now: () => now });
  cri.inject("PullImage", { hang: true });
  const { images, told } = puller(cri, () => now);
  const stop = new AbortController();
  const pulling = images.ensure(IMAGE, "IfNotPresent", false, { signal: stop.signal });
  await waitFor("the pull at the runtime", () => cri.methods().includes("PullImage"));
  stop.abort();
  const err = await pulling.then(() => undefined, (e) => e);
  assert.ok(err, "the cancelled pull rejects");
  assert.ok(err instanceof CriError && err.kind === "Cancelled", `a cancellation, not ${err}`);
  assert.deepEqual(told, [`started ${IMAGE}`]);
  assert.equal(images.nextRetryAt(now), undefined, "no backoff");
  // At the same instant, the next try pulls at once.
  await images.ensure(IMAGE, "IfNotPresent", false);
  assert.deepEqual(told, [`started ${IMAGE}`, `started ${IMAGE}`, `pulled ${IMAGE}`]);
  assert.equal(cri.methods().filter((m) => m === "PullImage").length, 2);
});

Deno.test("a pull that fails (not cancelled) backs off with ErrImagePull, then ImagePullBackOff", async () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const cri = new FakeCri({ now: () => now });
  const { images, told } = puller(cri, () => now);
  const first = await images.ensure(IMAGE, "IfNotPresent", false).then(() => undefined, (e) => e);
  assert.ok(first instanceof ImagePullError);
  assert.equal(first.reason, "ErrImagePull");
  assert.equal(images.nextRetryAt(now), now + 10_000);
  assert.deepEqual(told.map((t) => t.split(" ")[0]), ["started", "failed"]);
  const second = await images.ensure(IMAGE, "IfNotPresent", false).then(() => undefined, (e) => e);
  assert.ok(second instanceof ImagePullError);
  assert.equal(second.reason, "ImagePullBackOff");
  assert.equal(cri.methods().filter((m) => m === "PullImage").length, 1);
});
