/**
 * Checks across a pod spec's fields, run after the per-field schema: volumes (the items and
 * sources of configMap, secret and projected volumes in `config_refs_check.ts`) and what the
 * containers mount of them, host ports across containers, DNS settings, host aliases and
 * sysctls.
 *
 * @module
 */
import { checkPathLength, checkSecurity, isIp } from "./checks.ts";
import {
  checkObjectVolume,
  checkProjectedVolume,
  checkSourceShapes,
  clusterProjections,
} from "./config_refs_check.ts";
import { dns1123LabelError } from "./pod.ts";
import { UNSUPPORTED_VOLUME_KINDS } from "./schema.ts";
import type { Reporter } from "./reporter.ts";
import { isRecord, q, records } from "./values.ts";
import type { FieldPath } from "./yaml.ts";

/** The volume sources tinylet provides. */
const PROVIDED_VOLUME_KINDS = ["hostPath", "emptyDir", "configMap", "secret", "projected"];
const PROVIDED_TEXT = "hostPath, emptyDir, configMap, secret or projected";

const SYSCTL = /^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$/;

/**
 * Checks a pod's spec across fields: volumes (and what the containers mount
 * of them), ports across containers, DNS, host aliases, sysctls.
 */
export function checkPodFields(r: Reporter, spec: Record<string, unknown>, at: FieldPath): void {
  const volumes = new Map<string, { kind: string | undefined; index: number }>();
  const projected: [string, unknown, FieldPath][] = [];
  for (const [v, i] of records(spec.volumes)) {
    const p = [...at, "volumes", i];
    const name = v.name;
    if (typeof name !== "string" || name === "") continue;
    if (dns1123LabelError(name)) {
      r.error([...p, "name"], `Rename volume ${q(name)}: the name must be a DNS-1123 label`);
    }
    if (volumes.has(name)) {
      r.error(
        [...p, "name"],
        `Rename volume ${q(name)}: volumes[${volumes.get(name)?.index}] has the same name`,
      );
    }
    const sources = Object.keys(v).filter((k) => k !== "name" && v[k] !== null);
    const kind = sources[0];
    if (sources.length === 0) {
      r.error(p, `Give volume ${q(name)} a source: ${PROVIDED_TEXT}`);
    } else if (sources.length > 1) {
      r.error(
        [...p, sources[1]!],
        `Give volume ${q(name)} one source: it has ${sources.join(" and ")}`,
      );
    } else if (kind === "hostPath") {
      const path = isRecord(v.hostPath) ? v.hostPath.path : undefined;
      checkPathLength(r, path, [...p, "hostPath", "path"], "hostPath");
      if (typeof path === "string" && path !== "" && !path.startsWith("/")) {
        r.error(
          [...p, "hostPath", "path"],
          `Make the hostPath ${q(path)} absolute (start it with "/")`,
        );
      }
    } else if (kind === "projected") {
      // Checked once the mounts are known: an unmounted one a cluster fills is only ignored.
      projected.push([name, v.projected, [...p, "projected"]]);
    } else if (kind === "configMap" || kind === "secret") {
      checkObjectVolume(r, v[kind], [...p, kind]);
    }
    volumes.set(name, { kind, index: i });
  }

  const mounted = new Set<string>();
  const hostPorts = new Map<string, string>();
  const portNames = new Map<string, string>();
  const hostNetwork = spec.hostNetwork === true;
  // Init containers and sidecars mount volumes too (their ports are not checked here).
  const mounting = [
    ...records(spec.containers).map(([c, ci]) => [c, ci, "containers"] as const),
    ...records(spec.initContainers).map(([c, ci]) => [c, ci, "initContainers"] as const),
  ];
  for (const [c, ci, list] of mounting) {
    const cp = [...at, list, ci];
    for (const [m, mi] of records(c.volumeMounts)) {
      const name = m.name;
      if (typeof name !== "string" || name === "") continue;
      const v = volumes.get(name);
      const mp = [...cp, "volumeMounts", mi, "name"];
      if (!v) {
        r.error(mp, `Declare volume ${q(name)} under spec.volumes, or remove this mount`);
      } else if (v.kind && !PROVIDED_VOLUME_KINDS.includes(v.kind)) {
        r.error(
          mp,
          `Replace volume ${q(name)}: tinylet cannot provide ${
            q(v.kind)
          } volumes; use ${PROVIDED_TEXT}`,
        );
      }
      mounted.add(name);
    }
    if (list === "initContainers") continue;
    for (const [port, pi] of records(c.ports)) {
      const pp = [...cp, "ports", pi];
      const hostPort = typeof port.hostPort === "number" ? port.hostPort : 0;
      if (hostNetwork && hostPort !== 0 && hostPort !== port.containerPort) {
        r.error(
          [...pp, "hostPort"],
          `Set "hostPort" to the containerPort (${port.containerPort}) or leave it out: with hostNetwork they are the same port`,
        );
      }
      const effectiveHostPort = hostNetwork ? port.containerPort : hostPort;
      if (typeof effectiveHostPort === "number" && effectiveHostPort !== 0) {
        const key = `${port.protocol ?? "TCP"}/${port.hostIP ?? ""}/${effectiveHostPort}`;
        const first = hostPorts.get(key);
        if (first) {
          r.error(
            [...pp, hostNetwork ? "containerPort" : "hostPort"],
            `Use another host port: ${effectiveHostPort}/${
              port.protocol ?? "TCP"
            } is taken by ${first}`,
          );
        }
        hostPorts.set(key, `containers[${ci}].ports[${pi}]`);
      }
      if (typeof port.name === "string" && port.name !== "") {
        const first = portNames.get(port.name);
        if (first) {
          r.error([...pp, "name"], `Rename the port ${q(port.name)}: ${first} has the same name`);
        }
        portNames.set(port.name, `containers[${ci}].ports[${pi}]`);
      }
    }
  }
  for (const [name, source, p] of projected) {
    const cluster = clusterProjections(source);
    if (cluster.length > 0 && !mounted.has(name) && isRecord(source)) {
      checkSourceShapes(r, source, p);
      r.warn(
        p,
        `Ignoring volume ${q(name)}: its ${
          cluster.join(" and ")
        } source needs a cluster, and no container mounts it`,
      );
    } else checkProjectedVolume(r, source, p);
  }
  for (const [v, i] of records(spec.volumes)) {
    const name = v.name;
    const kind = typeof name === "string" ? volumes.get(name)?.kind : undefined;
    if (
      typeof name === "string" && kind && UNSUPPORTED_VOLUME_KINDS.includes(kind) &&
      !mounted.has(name)
    ) {
      r.warn(
        [...at, "volumes", i, kind],
        `Ignoring volume ${q(name)}: ${q(kind)} volumes are not supported`,
      );
    } else if (
      kind && !PROVIDED_VOLUME_KINDS.includes(kind) && !UNSUPPORTED_VOLUME_KINDS.includes(kind)
    ) {
      r.error(
        [...at, "volumes", i, kind],
        `Replace ${q(kind)} in volume ${q(name)}: it is not a volume source`,
      );
    }
  }

  const hostname = spec.hostname;
  if (
    typeof hostname === "string" && hostname !== "" &&
    dns1123LabelError(hostname) !== undefined
  ) {
    r.error([...at, "hostname"], `Change the hostname ${q(hostname)}: it must be a DNS-1123 label`);
  }
  if (spec.shareProcessNamespace === true && spec.hostPID === true) {
    r.error(
      [...at, "shareProcessNamespace"],
      `Choose hostPID or shareProcessNamespace: they cannot both be true`,
    );
  }
  if (spec.dnsPolicy === "None") {
    const servers = isRecord(spec.dnsConfig) ? spec.dnsConfig.nameservers : undefined;
    if (!Array.isArray(servers) || servers.length === 0) {
      r.error(
        [...at, isRecord(spec.dnsConfig) ? "dnsConfig" : "dnsPolicy"],
        `Add dnsConfig.nameservers: dnsPolicy "None" takes DNS from dnsConfig only`,
      );
    }
  }
  if (isRecord(spec.dnsConfig)) {
    const servers = spec.dnsConfig.nameservers;
    if (Array.isArray(servers)) {
      servers.forEach((s, i) => {
        if (typeof s === "string" && !isIp(s)) {
          r.error(
            [...at, "dnsConfig", "nameservers", i],
            `Write the nameserver as an IP address: it is ${q(s)}`,
          );
        }
      });
    }
  }
  for (const [alias, i] of records(spec.hostAliases)) {
    if (typeof alias.ip === "string" && alias.ip !== "" && !isIp(alias.ip)) {
      r.error(
        [...at, "hostAliases", i, "ip"],
        `Write the host alias IP as an IP address: it is ${q(alias.ip)}`,
      );
    }
  }
  const sc = spec.securityContext;
  if (isRecord(sc)) {
    checkSecurity(r, sc, [...at, "securityContext"]);
    for (const [sysctl, i] of records(sc.sysctls)) {
      const name = sysctl.name;
      if (typeof name === "string" && (name.length > 253 || !SYSCTL.test(name))) {
        r.error([...at, "securityContext", "sysctls", i, "name"], `Fix the sysctl name ${q(name)}`);
      }
    }
  }
}
