/**
 * The files of one private registry, inside its temp dir: where each lives,
 * its certificate authority and TLS certificate (made with `openssl`), and
 * the `config.yml` `docker-registry serve` reads.
 *
 * @module
 */
import type { RegistryTools } from "./host_prerequisites.ts";
import { runOk } from "./host_command.ts";

/** Where each part of one registry lives inside its temp dir. */
export interface RegistryLayout {
  dir: string;
  /** The registry's blobs and manifests (filesystem storage). */
  storage: string;
  config: string;
  log: string;
  htpasswd: string;
  /** A directory holding only `ca.crt`: what `skopeo --dest-cert-dir` reads (`*.crt` are CAs). */
  certDir: string;
  /** The authority's certificate, `<certDir>/ca.crt`. */
  caCert: string;
  caKey: string;
  /** The registry's certificate for `IP:127.0.0.1`, signed by the authority. */
  cert: string;
  key: string;
  /** skopeo's temporary files and the digests it writes. */
  tmp: string;
}

/** The layout of a registry whose temp dir is `dir`. */
export function registryLayout(dir: string): RegistryLayout {
  return {
    dir,
    storage: `${dir}/storage`,
    config: `${dir}/config.yml`,
    log: `${dir}/registry.log`,
    htpasswd: `${dir}/htpasswd`,
    certDir: `${dir}/certs`,
    caCert: `${dir}/certs/ca.crt`,
    caKey: `${dir}/ca.key`,
    cert: `${dir}/server.crt`,
    key: `${dir}/server.key`,
    tmp: `${dir}/tmp`,
  };
}

/**
 * Makes a certificate authority and, signed by it, the registry's
 * certificate for `IP:127.0.0.1`. Two certificates, not one self-signed:
 * rustls (Deno's `fetch`) refuses a CA certificate as a server's
 * (`CaUsedAsEndEntity`), and a self-signed one from `openssl req -x509` is a
 * CA certificate.
 */
export async function makeCertificates(tools: RegistryTools, l: RegistryLayout): Promise<void> {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await runOk(tools.openssl, [
    "req",
    "-x509",
    ...ec,
    "-keyout",
    l.caKey,
    "-out",
    l.caCert,
    "-days",
    "2",
    "-subj",
    "/CN=tinylet test registry CA",
  ]);
  await runOk(tools.openssl, [
    "req",
    "-x509",
    ...ec,
    "-CA",
    l.caCert,
    "-CAkey",
    l.caKey,
    "-keyout",
    l.key,
    "-out",
    l.cert,
    "-days",
    "2",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1",
    "-addext",
    "basicConstraints=critical,CA:FALSE",
  ]);
}

/** The `config.yml` of a registry listening on `127.0.0.1:port` with TLS and basic auth. */
export function registryConfig(l: RegistryLayout, port: number): string {
  const q = (s: string) => JSON.stringify(s);
  return `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: ${q(l.storage)}
  delete:
    enabled: true
http:
  addr: ${q(`127.0.0.1:${port}`)}
  tls:
    certificate: ${q(l.cert)}
    key: ${q(l.key)}
auth:
  htpasswd:
    realm: tinylet-test-registry
    path: ${q(l.htpasswd)}
`;
}
