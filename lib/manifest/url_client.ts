/**
 * The HTTP client of `--manifest-url`: TLS verified against Deno's roots, the system's CA
 * bundle (found where Go looks for it) and `--manifest-url-ca`; the environment's proxies
 * used, except for loopback addresses.
 *
 * @module
 */

/**
 * The system's CA bundles, as Go looks for them (`crypto/x509/root_linux.go`): `$SSL_CERT_FILE`
 * first, then the distributions' usual paths. The first that can be read is used.
 */
export function systemBundlePaths(env: { get(name: string): string | undefined }): string[] {
  const own = env.get("SSL_CERT_FILE");
  return [
    ...(own ? [own] : []),
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
  ];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/** Loopback addresses in `NO_PROXY`'s syntax. */
const LOOPBACK_NO_PROXY = ["localhost", "127.0.0.0/8", "::1"];

/**
 * Makes a client with `NO_PROXY` (which Deno reads when it makes one, before `no_proxy`)
 * holding the loopback addresses besides its own value (or `no_proxy`'s), then puts it back:
 * the client connects to a loopback address itself, whatever `HTTP_PROXY`, `HTTPS_PROXY` or
 * `ALL_PROXY` say, so a plain http:// request to this host never leaves it through a proxy, and
 * a proxy's own loopback is never asked instead of this host's.
 */
function withLoopbackUnproxied(make: () => Deno.HttpClient): Deno.HttpClient {
  const had = Deno.env.get("NO_PROXY");
  const own = had ?? Deno.env.get("no_proxy") ?? "";
  Deno.env.set("NO_PROXY", [own, ...LOOPBACK_NO_PROXY].filter((s) => s !== "").join(","));
  try {
    return make();
  } finally {
    if (had === undefined) Deno.env.delete("NO_PROXY");
    else Deno.env.set("NO_PROXY", had);
  }
}

/**
 * The HTTP client for the URL: it trusts Deno's roots, the first system bundle of `system`
 * that can be read (none is fine), and the PEM certificates of `caFile` (`--manifest-url-ca`),
 * which must hold at least one; it goes through the proxies of the environment, except to a
 * loopback address. Throws an error naming the flag and the file when it cannot be read or
 * holds no certificate. Close the client when done.
 */
export async function manifestUrlClient(
  caFile: string | undefined,
  system: readonly string[],
): Promise<Deno.HttpClient> {
  const caCerts: string[] = [];
  for (const path of system) {
    const text = await Deno.readTextFile(path).catch(() => undefined);
    if (text !== undefined && PEM_CERT.test(text)) {
      caCerts.push(text);
      break;
    }
  }
  if (caFile !== undefined) {
    let text: string;
    try {
      text = await Deno.readTextFile(caFile);
    } catch (err) {
      throw new Error(
        `--manifest-url-ca: cannot read ${caFile}: ${
          (err as Error).message.replace(/ \(os error \d+\).*$/s, "")
        }; give the path of a PEM file holding the CA certificate`,
      );
    }
    if (!PEM_CERT.test(text)) {
      throw new Error(
        `--manifest-url-ca: ${caFile} holds no PEM certificate; give a file with "-----BEGIN CERTIFICATE-----" blocks`,
      );
    }
    caCerts.push(text);
  }
  return withLoopbackUnproxied(() => Deno.createHttpClient({ caCerts }));
}
