import { connectCri } from "../lib/runtime/grpc.ts";
import { runContract } from "../testing/cri_contract.ts";
import { realRuntimeTest } from "../testing/containerd_harness.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";

const IMAGE = "docker.io/library/busybox:1.35";

Deno.test("CRI contract: the fake, served over gRPC to the real client", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "tinylet-fake-" });
  try {
    const fake = new FakeCri({ images: [IMAGE] });
    await using _server = await serveCri(fake, `${dir}/cri.sock`);
    using cri = connectCri(`${dir}/cri.sock`);
    await runContract(t, cri, {
      image: IMAGE,
      logRoot: `${dir}/logs`,
      settleMs: 1000,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

realRuntimeTest("CRI contract: a real containerd", async (t, rc) => {
  using cri = connectCri(rc.socket);
  const logRoot = `${rc.dir}/pod-logs`;
  await runContract(t, cri, {
    image: rc.busyboxImage,
    logRoot,
    settleMs: 20_000,
  });
});
