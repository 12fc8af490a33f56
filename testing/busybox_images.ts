/**
 * The local images of a private containerd: a busybox image (`sh`) and a
 * pause image that sleeps forever, built from the host's static busybox into
 * one docker-archive and imported with `ctr`; and busybox variants (an extra
 * `/version` file) to push to a private registry.
 *
 * @module
 */
import { BUSYBOX, resolveTools, type Tools } from "./host_prerequisites.ts";
import { runOk } from "./host_command.ts";

/** The name the busybox image is imported under; its command is `sh`. */
export const BUSYBOX_IMAGE = "docker.io/library/busybox:1.35";

/** The name of the sandbox ("pause") image, which sleeps forever. */
export const PAUSE_IMAGE = "tinylet.local/pause:1";

const CRI_NAMESPACE = "k8s.io";

const PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Imports the image archive into the CRI namespace of the containerd on `socket`. */
export async function importImages(
  tools: Tools,
  socket: string,
  archive: string,
  snapshotter: string,
): Promise<void> {
  await runOk(tools.ctr, [
    "--address",
    socket,
    "-n",
    CRI_NAMESPACE,
    "images",
    "import",
    "--snapshotter",
    snapshotter,
    archive,
  ]);
}

let archiveBytes: Promise<Uint8Array<ArrayBuffer>> | undefined;

/** Writes the image archive into `dir`; built once per process, then copied. */
export async function imageArchive(dir: string, tools: Tools): Promise<string> {
  const tarball = `${dir}/images.tar`;
  archiveBytes ??= (async () => {
    const base = await busyboxLayer(dir, tools);
    const images = [
      { tag: BUSYBOX_IMAGE, cmd: ["sh"] },
      { tag: PAUSE_IMAGE, cmd: ["/bin/sleep", "2147483647"] },
    ];
    const built = await writeDockerArchive(dir, tools, [base], images);
    return Deno.readFile(built);
  })();
  try {
    await Deno.writeFile(tarball, await archiveBytes);
  } catch (err) {
    archiveBytes = undefined; // let the next start try again
    throw err;
  }
  return tarball;
}

/**
 * Writes into `dir` a docker-archive of one busybox image (command `sh`)
 * that also holds the file `/version` with `text` in it: two archives with
 * different texts are different images (new digests), two with the same text
 * are byte for byte the same. For pushing an image, then another under the
 * same tag. Returns the archive's path.
 */
export async function variantArchive(
  dir: string,
  text: string,
  tools: Pick<Tools, "tar"> = resolveTools(),
): Promise<string> {
  const scratch = await Deno.makeTempDir({ dir, prefix: "variant-" });
  const base = await busyboxLayer(scratch, tools);
  await Deno.mkdir(`${scratch}/rootfs`);
  await Deno.writeTextFile(`${scratch}/rootfs/version`, text);
  const extra = await tarLayer(`${scratch}/rootfs`, `${scratch}/version.tar`, tools);
  const images = [{ tag: "tinylet.local/variant:latest", cmd: ["sh"] }];
  return await writeDockerArchive(scratch, tools, [base, extra], images);
}

/** One layer of an image: its tar (uncompressed) and that tar's digest. */
interface Layer {
  bytes: Uint8Array<ArrayBuffer>;
  diffId: string;
}

let baseLayer: Promise<Layer> | undefined;

/**
 * The layer every image shares (static busybox, its applets, passwd/group,
 * /tmp); built in `scratch` once per process.
 */
async function busyboxLayer(scratch: string, tools: Pick<Tools, "tar">): Promise<Layer> {
  baseLayer ??= (async () => {
    const dir = await Deno.makeTempDir({ dir: scratch, prefix: "busybox-" });
    await makeRootfs(`${dir}/rootfs`);
    return tarLayer(`${dir}/rootfs`, `${dir}/layer.tar`, tools);
  })();
  try {
    return await baseLayer;
  } catch (err) {
    baseLayer = undefined; // let the next call try again
    throw err;
  }
}

/** Packs `rootfs` into the tar `out` reproducibly (owner 0, sorted, mtime 0). */
async function tarLayer(rootfs: string, out: string, tools: Pick<Tools, "tar">): Promise<Layer> {
  await runOk(tools.tar, [
    "--numeric-owner",
    "--owner=0",
    "--group=0",
    "--sort=name",
    "--mtime=@0",
    "-C",
    rootfs,
    "-cf",
    out,
    ".",
  ]);
  const bytes = await Deno.readFile(out);
  return { bytes, diffId: `sha256:${await sha256(bytes)}` };
}

/**
 * Writes `<dir>/images.tar`, a docker-archive (`manifest.json`, a config
 * per image, the layer tars) of `images`, each made of all of `layers`.
 */
async function writeDockerArchive(
  dir: string,
  tools: Pick<Tools, "tar">,
  layers: Layer[],
  images: { tag: string; cmd: string[] }[],
): Promise<string> {
  const archive = await Deno.makeTempDir({ dir, prefix: "archive-" });
  const layerNames = layers.map((l) => `${l.diffId.slice("sha256:".length)}.tar`);
  await Promise.all(
    layers.map((l, i) => Deno.writeFile(`${archive}/${layerNames[i]}`, l.bytes)),
  );
  const manifest = [];
  for (const { tag, cmd } of images) {
    const config = new TextEncoder().encode(
      imageConfig(layers.map((l) => l.diffId), cmd),
    );
    const name = `${await sha256(config)}.json`;
    await Deno.writeFile(`${archive}/${name}`, config);
    manifest.push({ Config: name, RepoTags: [tag], Layers: layerNames });
  }
  await Deno.writeTextFile(`${archive}/manifest.json`, JSON.stringify(manifest));
  const tarball = `${dir}/images.tar`;
  const members = [
    "manifest.json",
    ...new Set(layerNames),
    ...manifest.map((m) => m.Config),
  ];
  await runOk(tools.tar, ["-C", archive, "-cf", tarball, ...members]);
  return tarball;
}

async function makeRootfs(rootfs: string): Promise<void> {
  for (const d of ["bin", "etc", "root", "proc", "sys", "dev", "tmp"]) {
    await Deno.mkdir(`${rootfs}/${d}`, { recursive: true });
  }
  await Deno.chmod(`${rootfs}/tmp`, 0o1777);
  await Deno.copyFile(BUSYBOX, `${rootfs}/bin/busybox`);
  await Deno.chmod(`${rootfs}/bin/busybox`, 0o755);
  const applets = (await busyboxApplets()).filter((a) => a !== "busybox");
  await Promise.all(
    applets.map((a) => Deno.symlink("busybox", `${rootfs}/bin/${a}`)),
  );
  await Deno.writeTextFile(
    `${rootfs}/etc/passwd`,
    "root:x:0:0:root:/root:/bin/sh\n" +
      "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
  );
  await Deno.writeTextFile(
    `${rootfs}/etc/group`,
    "root:x:0:\nnobody:x:65534:\n",
  );
}

let appletList: Promise<string[]> | undefined;

/** The applets the static busybox provides (`sh`, `sleep`, `httpd`, ...). */
function busyboxApplets(): Promise<string[]> {
  appletList ??= runOk(BUSYBOX, ["--list"]).then((out) =>
    out.split("\n").map((s) => s.trim()).filter((s) => /^[\w.[\]-]+$/.test(s))
  );
  return appletList;
}

function imageConfig(diffIds: string[], cmd: string[]): string {
  return JSON.stringify({
    architecture: goArch(),
    os: "linux",
    created: "1970-01-01T00:00:00Z",
    config: { Cmd: cmd, Env: [PATH_ENV], WorkingDir: "/" },
    rootfs: { type: "layers", diff_ids: diffIds },
  });
}

function goArch(): string {
  switch (Deno.build.arch) {
    case "x86_64":
      return "amd64";
    case "aarch64":
      return "arm64";
    default:
      return Deno.build.arch;
  }
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}
