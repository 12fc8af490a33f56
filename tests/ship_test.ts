/**
 * What ships beside the code, checked statically: the compile task's
 * permissions, the Dockerfile, compose.yaml and the systemd unit.
 */
import assert from "node:assert/strict";
import { parseYamlStream } from "../lib/manifest/yaml.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));

Deno.test("the compile task asks for only the permissions tinylet needs, and embeds the proto", () => {
  const task: string = config.tasks.compile;
  const flags = task.split(/\s+/).filter((a) => a.startsWith("-"));
  assert.ok(!flags.includes("-A") && !flags.includes("--allow-all"), task);
  assert.ok(!flags.some((f) => f.startsWith("--allow-ffi")), task);
  assert.deepEqual(flags.filter((f) => f.startsWith("--allow-")).sort(), [
    "--allow-env",
    "--allow-net",
    "--allow-read",
    "--allow-run=mount,umount,cat,ls",
    "--allow-sys=hostname,uid",
    "--allow-write",
  ]);
  assert.match(task, /--include proto\/cri\.proto/);
  assert.match(task, /--output dist\/tinylet main\.ts$/);
  assert.match(config.tasks["compile:aarch64"], /--target aarch64-unknown-linux-gnu/);
  assert.equal(
    config.tasks.start,
    task.replace("deno compile", "deno run").replace(
      " --include proto/cri.proto --output dist/tinylet",
      "",
    ),
  );
});

Deno.test("the Dockerfile builds the binary, a small runtime stage and a containerd stage, all pinned", async () => {
  const text = await Deno.readTextFile(`${ROOT}/Dockerfile`);
  const froms = [...text.matchAll(/^FROM (\S+) AS (\S+)$/gm)].map((m) => [m[1], m[2]]);
  assert.deepEqual(froms.map((f) => f[1]), ["build", "runtime", "containerd"]);
  for (const [image] of froms) {
    assert.match(image!, /^[a-z0-9./-]+:[A-Za-z0-9._-]+$/, `${image} is pinned by tag`);
    assert.doesNotMatch(image!, /:latest$/);
  }
  assert.match(text, /RUN deno install --frozen && deno task compile/);
  assert.match(text, /COPY --from=build \/src\/dist\/tinylet \/usr\/local\/bin\/tinylet/);
  assert.match(
    text,
    /apt-get install -y --no-install-recommends containerd runc containernetworking-plugins/,
  );
  for (const file of ["deploy/containerd/config.toml", "deploy/containerd/10-tinylet.conflist"]) {
    assert.match(text, new RegExp(`COPY ${file.replaceAll(".", "\\.")} `));
    await Deno.stat(`${ROOT}/${file}`);
  }
  const conflist = JSON.parse(
    await Deno.readTextFile(`${ROOT}/deploy/containerd/10-tinylet.conflist`),
  );
  assert.deepEqual(conflist.plugins.map((p: { type: string }) => p.type), [
    "bridge",
    "portmap",
    "loopback",
  ]);
  const toml = await Deno.readTextFile(`${ROOT}/deploy/containerd/config.toml`);
  assert.match(toml, /restrict_oom_score_adj = true/);
});

Deno.test("compose.yaml shares the socket, logs and state at the same paths, manifests read-only", async () => {
  const [doc] = parseYamlStream(await Deno.readTextFile(`${ROOT}/compose.yaml`));
  assert.deepEqual(doc?.errors, []);
  const compose = doc!.value as {
    services: Record<
      string,
      { privileged?: boolean; volumes: string[]; command?: string[]; build: { target: string } }
    >;
  };
  const { containerd, tinylet } = compose.services;
  assert.ok(containerd && tinylet);
  assert.equal(containerd.privileged, true);
  assert.equal(containerd.build.target, "containerd");
  assert.equal(tinylet.build.target, "runtime");
  for (
    const shared of [
      "containerd-run:/run/containerd",
      "pod-logs:/var/log/pods",
      "tinylet-root:/var/lib/tinylet",
    ]
  ) {
    assert.ok(containerd.volumes.includes(shared), shared);
    assert.ok(tinylet.volumes.includes(shared), shared);
  }
  assert.ok(tinylet.volumes.includes("./manifests:/etc/tinylet/manifests:ro"));
  assert.ok(tinylet.command?.includes("--insecure-manifest-permissions"));
  assert.ok(tinylet.command?.includes("--socket=/run/containerd/containerd.sock"));
  assert.equal(config.tasks["demo:logs"], "docker compose logs -f tinylet");
  assert.equal(config.tasks["demo:pods"], "docker compose exec tinylet tinylet pods -o wide");
});

Deno.test("the systemd unit verifies, but for the binary that is not installed here", async () => {
  const unit = await Deno.readTextFile(`${ROOT}/deploy/tinylet.service`);
  assert.match(unit, /^After=containerd\.service$/m);
  assert.match(unit, /^Requires=containerd\.service$/m);
  assert.match(unit, /^Restart=always$/m);
  for (
    const isolating of [
      "PrivateTmp=",
      "ProtectSystem=",
      "PrivateMounts=",
      "ProtectHome=",
      "MountFlags=",
    ]
  ) {
    assert.ok(!new RegExp(`^${isolating}`, "m").test(unit), `${isolating} would hide pod mounts`);
  }
  const out = await new Deno.Command("systemd-analyze", {
    args: ["verify", `${ROOT}/deploy/tinylet.service`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const lines = new TextDecoder().decode(out.stderr).split("\n").filter(Boolean);
  const others = lines.filter((l) =>
    !/\/usr\/local\/bin\/tinylet is not executable: No such file or directory/.test(l)
  );
  assert.deepEqual(others, [], lines.join("\n"));
});
