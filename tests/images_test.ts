/**
 * The image puller: what a failed pull leaves behind, what a cancelled one does not, and how
 * each of an image's credentials is tried in turn without a secret reaching an error or a log.
 */
import assert from "node:assert/strict";
import type { AuthConfig, CallOptions, ImageSpec, PodSandboxConfig } from "../lib/runtime/cri.ts";
import { CriError, findCriError } from "../lib/runtime/errors.ts";
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

// ---- credentials: each tried in turn, no secret kept ----

const PRIVATE = "registry.example.com:5000/team/app:1";
const bob = { username: "bob", password: "hunter2" };
const carol = { username: "carol", password: "c4rol-pw" };
const alice = { username: "alice", password: "s3cret" };
const tokenOnly = { identityToken: "id-token-1" };
// Base64 written by hand: "bob:hunter2" -> Ym9iOmh1bnRlcjI=, "carol:c4rol-pw" -> Y2Fyb2w6YzRyb2wtcHc=
const BOB_BASIC = "Ym9iOmh1bnRlcjI=";
const CAROL_BASIC = "Y2Fyb2w6YzRyb2wtcHc=";

/**
 * A runtime whose registry takes alice's password only, and whose refusals echo what was
 * offered (the password, the Basic header, the token), as a careless registry or proxy might.
 */
class EchoingCri extends FakeCri {
  override pullImage(
    image: ImageSpec,
    auth?: AuthConfig,
    sandboxConfig?: PodSandboxConfig,
    opts?: CallOptions,
  ): Promise<string> {
    if (auth?.password !== alice.password) {
      const basic = auth?.username === undefined || auth.password === undefined
        ? ""
        : btoa(`${auth.username}:${auth.password}`);
      this.inject("PullImage", {
        error: new CriError(
          "Other",
          "PullImage",
          `401 Unauthorized: user "${auth?.username ?? ""}" password "${
            auth?.password ?? ""
          }" header "Basic ${basic}" token "${auth?.identityToken ?? ""}"`,
        ),
      });
    }
    return super.pullImage(image, auth, sandboxConfig, opts);
  }
}

function pullerWith(cri: FakeCri, auths: AuthConfig[], now: () => number) {
  const told: string[] = [];
  const asked: string[] = [];
  const images = new ImagePuller({
    cri,
    now,
    auth: (image) => {
      asked.push(image);
      return Promise.resolve(auths);
    },
    onPull: (image, outcome, detail) =>
      told.push(`${outcome} ${image}${detail ? `: ${detail}` : ""}`),
  });
  return { images, told, asked };
}

function pulls(cri: FakeCri): unknown[] {
  return cri.calls.filter((c) => c.method === "PullImage").map((c) => c.arg);
}

Deno.test("credentials are tried in order until one pull succeeds", async () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const cri = new EchoingCri({ registry: [PRIVATE], now: () => now });
  const { images, told, asked } = pullerWith(cri, [bob, alice, carol], () => now);
  await images.ensure(PRIVATE, "IfNotPresent", false);
  assert.deepEqual(asked, [PRIVATE]);
  assert.deepEqual(pulls(cri), [
    { image: PRIVATE, auth: { username: "bob", password: "hunter2" } },
    { image: PRIVATE, auth: { username: "alice", password: "s3cret" } },
  ]);
  assert.deepEqual(told, [`started ${PRIVATE}`, `pulled ${PRIVATE}`]);
  assert.equal(images.nextRetryAt(now), undefined, "no backoff");
  assert.ok(await cri.imageStatus({ image: PRIVATE }));
});

Deno.test("the first credentials that work are the only ones tried", async () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const cri = new EchoingCri({ registry: [PRIVATE], now: () => now });
  const { images } = pullerWith(cri, [alice, bob], () => now);
  await images.ensure(PRIVATE, "Always", false);
  assert.deepEqual(pulls(cri), [{
    image: PRIVATE,
    auth: { username: "alice", password: "s3cret" },
  }]);
});

Deno.test("without credentials one pull runs without any", async () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const cri = new FakeCri({ registry: [PRIVATE], now: () => now });
  const { images, asked } = pullerWith(cri, [], () => now);
  await images.ensure(PRIVATE, "IfNotPresent", false);
  assert.deepEqual(asked, [PRIVATE]);
  assert.deepEqual(pulls(cri), [{ image: PRIVATE, auth: null }]);
});

Deno.test("when every try fails, one ErrImagePull names each reason and no secret", async () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const cri = new EchoingCri({ registry: [PRIVATE], now: () => now });
  const { images, told } = pullerWith(cri, [bob, carol], () => now);
  const err = await images.ensure(PRIVATE, "IfNotPresent", false).then(() => undefined, (e) => e);
  assert.ok(err instanceof ImagePullError);
  assert.equal(err.reason, "ErrImagePull");
  // The runtime saw the real credentials.
  assert.deepEqual(pulls(cri), [
    { image: PRIVATE, auth: { username: "bob", password: "hunter2" } },
    { image: PRIVATE, auth: { username: "carol", password: "c4rol-pw" } },
  ]);
  const reasons = `with credentials 1 of 2 (user "bob"): ` +
    `401 Unauthorized: user "bob" password "***" header "Basic ***" token ""; ` +
    `with credentials 2 of 2 (user "carol"): ` +
    `401 Unauthorized: user "carol" password "***" header "Basic ***" token ""`;
  assert.equal(err.message, `Failed to pull image "${PRIVATE}": ${reasons} (next try in 10 s)`);
  assert.deepEqual(told, [`started ${PRIVATE}`, `failed ${PRIVATE}: ${reasons}`]);
  assert.ok(err.cause instanceof AggregateError);
  assert.equal(err.cause.errors.length, 2);
  for (const e of err.cause.errors) assert.ok(e instanceof CriError && e.kind === "Other", `${e}`);
  // Nothing reachable from the error holds a secret.
  const later = await images.ensure(PRIVATE, "IfNotPresent", false).then(() => undefined, (e) => e);
  assert.ok(later instanceof ImagePullError && later.reason === "ImagePullBackOff");
  const shown = [Deno.inspect(err, { depth: 10 }), later.message, ...told].join("\n");
  for (const secret of ["hunter2", "c4rol-pw", BOB_BASIC, CAROL_BASIC]) {
    assert.ok(!shown.includes(secret), `${secret} in:\n${shown}`);
  }
  assert.ok(later.message.includes(reasons), later.message);
});

Deno.test("one failed try keeps its runtime error's kind, without the secret", async () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const cri = new EchoingCri({ registry: [PRIVATE], now: () => now });
  const { images, told } = pullerWith(cri, [tokenOnly], () => now);
  const err = await images.ensure(PRIVATE, "IfNotPresent", false).then(() => undefined, (e) => e);
  assert.ok(err instanceof ImagePullError);
  const reason = `401 Unauthorized: user "" password "" header "Basic " token "***"`;
  assert.equal(err.message, `Failed to pull image "${PRIVATE}": ${reason} (next try in 10 s)`);
  assert.ok(err.cause instanceof CriError && err.cause.kind === "Other", `${err.cause}`);
  assert.equal(err.cause.cause, undefined);
  assert.deepEqual(told, [`started ${PRIVATE}`, `failed ${PRIVATE}: ${reason}`]);
  assert.ok(!Deno.inspect(err, { depth: 10 }).includes("id-token-1"));
});

Deno.test("when every try fails, the runtime error found in the pull's error is the last try's", async () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  const cri = new FakeCri({ registry: [PRIVATE], now: () => now });
  cri.inject("PullImage", {
    error: new CriError("Other", "PullImage", "PullImage: 401 Unauthorized"),
  });
  cri.inject("PullImage", {
    error: new CriError("Unavailable", "PullImage", "PullImage: connection refused"),
  });
  const { images } = pullerWith(cri, [bob, carol], () => now);
  const err = await images.ensure(PRIVATE, "IfNotPresent", false).then(() => undefined, (e) => e);
  assert.ok(err instanceof ImagePullError && err.cause instanceof AggregateError, `${err}`);
  const found = findCriError(err);
  assert.equal(found?.kind, "Unavailable", `${found}`);
  assert.equal(found?.message, "PullImage: connection refused");
});
