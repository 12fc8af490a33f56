import { connectCri } from "../lib/runtime/grpc.ts";
import { runContract } from "../testing/cri_contract.ts";
import { fakeContractRegistry, realContractRegistry } from "../testing/cri_contract_registry.ts";
import { FakeCri } from "../testing/fake_cri.ts";
import { serveCri } from "../testing/fake_cri_server.ts";
import { realRegistryTest } from "../testing/registry_harness.ts";

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
      registry: fakeContractRegistry(fake),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// One containerd and one private registry it trusts, for the whole file.
realRegistryTest(
  "CRI contract: a real containerd, pulling from a private registry",
  async (t, rc, registry) => {
    using cri = connectCri(rc.socket);
    await runContract(t, cri, {
      image: rc.busyboxImage,
      logRoot: `${rc.dir}/pod-logs`,
      settleMs: 20_000,
      registry: await realContractRegistry(registry),
    });
  },
);
