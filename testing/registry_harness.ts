/**
 * A private, throw-away image registry for tests that pull: Debian's
 * `docker-registry` (distribution 2.8) on `127.0.0.1` at a free port, with
 * TLS from its own certificate authority and basic auth (one bcrypt user),
 * storing everything in its own temp dir. Images are pushed with `skopeo`;
 * a private containerd trusts the registry once {@linkcode Registry.trust}
 * wrote its `hosts.toml`. Disposing stops the process by its PID and removes
 * the temp dir. The one thing left outside it: skopeo, run as root, keeps
 * its blob-info cache in `/var/lib/containers/cache` (it has no option to
 * move it; the cache only speeds up later pushes).
 *
 * @module
 */
import {
  findRegistryMissing,
  type RegistryTools,
  resolveRegistryTools,
} from "./host_prerequisites.ts";
import { errorMessage, run } from "./host_command.ts";
import { removeDir } from "./dir_entries.ts";
import { type RealContainerd, realRuntimeTest } from "./containerd_harness.ts";
import {
  makeCertificates,
  registryConfig,
  type RegistryLayout,
  registryLayout,
} from "./registry_files.ts";
import { freePort, logTail, stopRegistry, waitForRegistry } from "./registry_process.ts";

/** A running private registry. Disposing it stops it and removes its files. */
export interface Registry extends AsyncDisposable {
  /** Where it listens, `127.0.0.1:PORT`: the host part of image names. */
  host: string;
  /** The port of {@linkcode host}. */
  port: number;
  /** The one user it accepts. */
  username: string;
  /** That user's password. */
  password: string;
  /** Path of the PEM certificate of the authority that signed its TLS certificate. */
  caCert: string;
  /** The private temp dir holding everything of this instance. */
  dir: string;
  /** Path of the registry's log (its stdout and stderr). */
  log: string;
  /** PID of the `docker-registry` process. */
  pid: number;
  /**
   * Makes the containerd whose `registry.config_path` is `hostsDir` trust
   * this registry: writes `<hostsDir>/127.0.0.1:PORT/hosts.toml`.
   */
  trust(hostsDir: string): Promise<void>;
  /**
   * Pushes the single image of the docker-archive `archive` as `ref`
   * (`name:tag`, without the host) with this user's credentials; returns the
   * pushed manifest's digest (`sha256:...`).
   */
  push(archive: string, ref: string): Promise<string>;
  /** Stops the process (SIGTERM, SIGKILL after a grace period) and removes the temp dir; idempotent. */
  stop(): Promise<void>;
}

/** Options of {@linkcode startRegistry}. */
export interface RegistryOptions {
  /** The user it accepts (default `tinylet`). */
  username?: string;
  /** That user's password (default: random). */
  password?: string;
}

/** How many ports a start tries: another process may take the free port chosen before the registry binds it. */
const PORT_TRIES = 5;

/**
 * Registers one `Deno.test` named `name` that starts a private containerd
 * and a private registry it trusts, runs `fn`, and always stops both.
 * Missing programs are handled as containerd's are: the test is ignored with
 * a note, or fails when `CI` is `"true"`.
 */
export function realRegistryTest(
  name: string,
  fn: (t: Deno.TestContext, rc: RealContainerd, registry: Registry) => Promise<void>,
): void {
  realRuntimeTest(name, async (t, rc) => {
    await using registry = await startRegistry();
    await registry.trust(rc.hostsDir);
    await fn(t, rc, registry);
  }, { prerequisites: findRegistryMissing });
}

/**
 * Starts a private registry in a new temp dir and resolves once
 * `https://127.0.0.1:PORT/v2/` answers 401 (auth required). Rejects, naming
 * the failed command or the tail of the registry's log, when it does not.
 */
export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const missing = findRegistryMissing();
  if (missing.length > 0) {
    throw new Error(`Cannot start a private registry: ${missing.join("; ")}`);
  }
  const dir = await Deno.makeTempDir({ prefix: "tinylet-registry-" });
  const instance = new PrivateRegistry(
    registryLayout(dir),
    resolveRegistryTools(),
    options.username ?? "tinylet",
    options.password ?? crypto.randomUUID(),
  );
  try {
    await instance.boot();
  } catch (err) {
    try {
      await instance.stop();
    } catch (stopError) {
      throw new AggregateError(
        [err, stopError],
        `${errorMessage(err)}\nThe cleanup failed too: ${errorMessage(stopError)}`,
      );
    }
    throw err;
  }
  return instance;
}

class PrivateRegistry implements Registry {
  readonly dir: string;
  readonly log: string;
  readonly caCert: string;
  readonly username: string;
  readonly password: string;
  port = 0;
  pid = 0;

  readonly #layout: RegistryLayout;
  readonly #tools: RegistryTools;
  #child: Deno.ChildProcess | undefined;
  #stopping: Promise<void> | undefined;
  #pushes = 0;

  constructor(layout: RegistryLayout, tools: RegistryTools, username: string, password: string) {
    this.#layout = layout;
    this.#tools = tools;
    this.dir = layout.dir;
    this.log = layout.log;
    this.caCert = layout.caCert;
    this.username = username;
    this.password = password;
  }

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Writes certificates and the password file, then starts the process on a free port. */
  async boot(): Promise<void> {
    const l = this.#layout;
    await Promise.all([l.storage, l.certDir, l.tmp].map((d) => Deno.mkdir(d, { recursive: true })));
    await makeCertificates(this.#tools, l);
    const htpasswd = await this.#runOk(
      this.#tools.htpasswd,
      ["-Bbn", this.username, this.password],
    );
    await Deno.writeTextFile(l.htpasswd, htpasswd);
    const ca = await Deno.readTextFile(l.caCert);
    for (let attempt = 1;; attempt++) {
      this.port = freePort();
      await Deno.writeTextFile(l.config, registryConfig(l, this.port));
      const child = this.#spawn();
      const outcome = await waitForRegistry(this.host, ca, child);
      if (outcome === "ready") return;
      const tail = await logTail(l.log);
      // Its last word is why it exited: "listen tcp ...: bind: address already in use".
      const last = tail.slice(tail.lastIndexOf("\n") + 1);
      if (/address already in use/.test(last) && attempt < PORT_TRIES) continue;
      throw new Error(
        `Start a private registry in "${l.dir}": docker-registry exited with code ${outcome.code} ` +
          `before answering on ${this.host}\n--- end of ${l.log} ---\n${tail}`,
      );
    }
  }

  #spawn(): Deno.ChildProcess {
    // `exec` keeps the PID the one of docker-registry itself. A clean
    // environment: REGISTRY_* variables would override the config file.
    const script = 'exec "$0" serve "$1" >>"$2" 2>&1';
    const l = this.#layout;
    const child = new Deno.Command("/bin/sh", {
      args: ["-c", script, this.#tools["docker-registry"], l.config, l.log],
      clearEnv: true,
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.pid = child.pid;
    return child;
  }

  async trust(hostsDir: string): Promise<void> {
    const url = `https://${this.host}`;
    const q = (s: string) => JSON.stringify(s);
    const dir = `${hostsDir}/${this.host}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/hosts.toml`,
      // The CA for the server too: after a 404 from the [host] entry, containerd tries the
      // server, which would otherwise fail on TLS ("x509: certificate signed by unknown
      // authority") instead of saying "not found".
      `server = ${q(url)}\nca = ${q(this.caCert)}\n\n[host.${
        q(url)
      }]\n  capabilities = ["pull", "resolve"]\n  ca = ${q(this.caCert)}\n`,
    );
  }

  async push(archive: string, ref: string): Promise<string> {
    const digestFile = `${this.#layout.tmp}/digest-${++this.#pushes}`;
    await this.#runOk(this.#tools.skopeo, [
      "--insecure-policy", // the source is a local archive: no signatures to check
      "copy",
      "--quiet",
      "--tmpdir",
      this.#layout.tmp,
      "--dest-creds",
      `${this.username}:${this.password}`,
      "--dest-cert-dir",
      this.#layout.certDir,
      "--digestfile",
      digestFile,
      `docker-archive:${archive}`,
      `docker://${this.host}/${ref}`,
    ]);
    return (await Deno.readTextFile(digestFile)).trim();
  }

  /** Runs a program; on failure throws naming it (password hidden) and its stderr. */
  async #runOk(cmd: string, args: string[]): Promise<string> {
    const r = await run(cmd, args);
    if (r.success) return r.stdout;
    const hide = (s: string) => s.replaceAll(this.password, "***");
    throw new Error(
      hide(
        `Run "${cmd} ${args.join(" ")}": exit code ${r.code}: ${
          r.stderr.trim() || r.stdout.trim()
        }`,
      ),
    );
  }

  stop(): Promise<void> {
    this.#stopping ??= this.#teardown();
    return this.#stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #teardown(): Promise<void> {
    if (this.#child) await stopRegistry(this.#child);
    try {
      await removeDir(this.dir);
    } catch (err) {
      const message = `Remove the private registry's temp dir "${this.dir}": ${errorMessage(err)}`;
      throw new Error(message, { cause: err });
    }
  }
}

/**
 * The image id (config digest) of the manifest `digest` of `repo`, asked of the registry itself
 * over HTTPS with its user: what a pull of that manifest must name the image, known without
 * the runtime or tinylet.
 */
export async function configDigest(
  registry: Registry,
  repo: string,
  digest: string,
): Promise<string> {
  const client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(registry.caCert)] });
  try {
    const response = await fetch(`https://${registry.host}/v2/${repo}/manifests/${digest}`, {
      client,
      headers: {
        authorization: `Basic ${btoa(`${registry.username}:${registry.password}`)}`,
        accept: "application/vnd.docker.distribution.manifest.v2+json, " +
          "application/vnd.oci.image.manifest.v1+json",
      },
    });
    const body = await response.text();
    if (response.status !== 200) {
      throw new Error(`GET the manifest ${repo}@${digest}: ${response.status} ${body}`);
    }
    const config = (JSON.parse(body) as { config?: { digest?: unknown } }).config?.digest;
    if (typeof config !== "string" || !/^sha256:[0-9a-f]{64}$/.test(config)) {
      throw new Error(`The manifest ${repo}@${digest} names no config digest: ${body}`);
    }
    return config;
  } finally {
    client.close();
  }
}
