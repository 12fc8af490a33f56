import assert from "node:assert/strict";
import type { AuthConfig, Cri } from "../lib/runtime/cri.ts";
import { connectCri } from "../lib/runtime/grpc.ts";
import { variantArchive } from "../testing/busybox_images.ts";
import { realRegistryTest, type Registry } from "../testing/registry_harness.ts";
import { waitFor } from "../testing/wait.ts";

// What containerd 1.6 says when the registry answers 401 to the manifest
// request; the registry's own reason (its JSON body) is not in the message.
const UNAUTHORIZED = "failed with status code [manifests 1]: 401 Unauthorized";

// What the registry logs when a user's password does not match; when no
// credentials are sent it logs only "invalid authorization credential".
const BAD_PASSWORD = (user: string) =>
  `error authenticating user \\"${user}\\": authentication failure`;

realRegistryTest(
  "pulls from a registry with basic auth over TLS through the CRI",
  async (t, rc, registry) => {
    const cri = connectCri(rc.socket);
    const wrongPassword = `wrong-${crypto.randomUUID()}`;
    const errors: string[] = [];
    const image = { image: `${registry.host}/app:1` };
    const failedPull = async (auth?: AuthConfig) => {
      const err = await cri.pullImage(image, auth).then(
        () => assert.fail(`pulling "${image.image}" with ${JSON.stringify(auth)} succeeded`),
        (err: unknown) => err,
      );
      assert.ok(err instanceof Error);
      errors.push(allMessages(err));
      return err.message;
    };
    try {
      const work = await Deno.makeTempDir({ dir: registry.dir, prefix: "archives-" });
      const firstDigest = await registry.push(await variantArchive(work, "1"), "app:1");
      assert.match(firstDigest, /^sha256:[0-9a-f]{64}$/);

      await t.step("an anonymous pull fails with 401 Unauthorized", async () => {
        const since = await logSize(registry);
        const message = await failedPull();
        assert.ok(message.includes(UNAUTHORIZED), message);
        assert.ok(message.includes(`"${image.image}"`), message);
        const logged = await logSince(registry, since);
        assert.ok(!logged.includes("error authenticating user"), logged);
        assert.equal(await cri.imageStatus(image), null);
      });

      await t.step("a pull with a wrong password fails with 401 Unauthorized", async () => {
        const since = await logSize(registry);
        const message = await failedPull({ username: registry.username, password: wrongPassword });
        assert.ok(message.includes(UNAUTHORIZED), message);
        // The registry saw the user's credentials and refused them.
        await waitFor(
          "the registry to log the refused password",
          async () => (await logSince(registry, since)).includes(BAD_PASSWORD(registry.username)),
          { timeoutMs: 5_000 },
        );
        assert.equal(await cri.imageStatus(image), null);
      });

      await t.step(
        "a bare host:port server address fails to parse, so none is sent",
        async () => {
          const message = await failedPull({
            username: registry.username,
            password: registry.password,
            serverAddress: registry.host,
          });
          const parse = `parse server address: parse "${registry.host}": ` +
            "first path segment in URL cannot contain colon";
          assert.ok(message.includes(parse), message);
          assert.equal(await cri.imageStatus(image), null);
        },
      );

      let firstRef = "";
      await t.step("a pull with username and password and no server address succeeds", async () => {
        firstRef = await pull(cri, image.image, registry);
        const status = await cri.imageStatus(image);
        assert.ok(status, `imageStatus finds "${image.image}"`);
        assert.equal(status.id, firstRef);
        assert.match(firstRef, /^sha256:[0-9a-f]{64}$/);
        assert.ok(status.repoTags.includes(image.image), status.repoTags.join(", "));
        assert.ok(
          status.repoDigests.includes(`${registry.host}/app@${firstDigest}`),
          status.repoDigests.join(", "),
        );
      });

      await t.step("a new image pushed under the same tag pulls as a new image", async () => {
        const secondDigest = await registry.push(await variantArchive(work, "2"), "app:1");
        assert.notEqual(secondDigest, firstDigest);
        const secondRef = await pull(cri, image.image, registry);
        assert.notEqual(secondRef, firstRef);
        const status = await cri.imageStatus(image);
        assert.ok(status, `imageStatus finds "${image.image}"`);
        assert.equal(status.id, secondRef);
        assert.ok(
          status.repoDigests.includes(`${registry.host}/app@${secondDigest}`),
          status.repoDigests.join(", "),
        );
      });

      await t.step("a tag the registry does not have fails as not found", async () => {
        const missing = `${registry.host}/nothing:1`;
        const err = await pull(cri, missing, registry).then(
          () => assert.fail(`pulling "${missing}" succeeded`),
          (err: unknown) => err,
        );
        assert.ok(err instanceof Error);
        errors.push(allMessages(err));
        // Not a TLS failure: the server entry of hosts.toml trusts the CA too.
        assert.ok(err.message.endsWith(`${missing}: not found`), err.message);
      });

      await t.step("no error message holds a password", () => {
        assert.equal(errors.length, 4);
        for (const text of errors) {
          assert.ok(!text.includes(registry.password), text);
          assert.ok(!text.includes(wrongPassword), text);
        }
      });
    } finally {
      cri.close();
    }
  },
);

/** Pulls `image` with the registry's user and no server address; returns the image ref. */
function pull(cri: Cri, image: string, registry: Registry): Promise<string> {
  return cri.pullImage({ image }, { username: registry.username, password: registry.password });
}

/** The messages of `err` and of every error in its `cause` chain. */
function allMessages(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 8; depth++) {
    parts.push(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return parts.join("\ncaused by: ");
}

async function logSize(registry: Registry): Promise<number> {
  return (await Deno.stat(registry.log)).size;
}

async function logSince(registry: Registry, offset: number): Promise<string> {
  const bytes = await Deno.readFile(registry.log);
  return new TextDecoder().decode(bytes.subarray(offset));
}
