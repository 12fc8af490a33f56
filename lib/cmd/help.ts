/**
 * What tinylet says about itself: its version, the one-line usage printed after a command-line
 * error, and the `--help` text.
 *
 * @module
 */

/** tinylet's version, as `tinylet version` prints it. */
export const VERSION = "0.1.0";

/** The one-line usage, printed after a command-line error. */
export const USAGE =
  "Usage: tinylet [run|check|plan|pods|top|describe|logs|exec|down|auto-update|convert|version] [flags] (see tinylet --help)";

/** The `--help` text: every command and flag with its default. */
export const HELP =
  `tinylet ${VERSION}: runs pods from YAML files on this host, through the container runtime (CRI).

Usage:
  tinylet [run] [flags]              run the agent (the default command)
  tinylet check [PATH...] [--strict] validate manifests, no runtime needed (exit 1 on errors);
                                     with --manifest-url, what the URL serves too (the URL
                                     alone when no PATH is given)
  tinylet plan                       what the next pass would do, and why; changes nothing
  tinylet pods [-o wide|json] [-n NAMESPACE]
                                     the pods, like kubectl get pods
  tinylet top [--containers] [--sort-by cpu|memory] [-n NAMESPACE] [-o json]
                                     CPU (a rate over 1 s) and memory of the running pods, or
                                     of each container, with their limits and restarts, like
                                     kubectl top
  tinylet describe POD               containers, state, usage, restarts, events, last error
  tinylet logs POD [CONTAINER] [-f] [--tail N] [--previous] [--timestamps]
                                     a container's output
  tinylet exec POD [CONTAINER] -- CMD...
                                     run a command in a container
  tinylet down [POD...|--all]        remove tinylet's pods (to uninstall)
  tinylet auto-update [--dry-run] [--timeout DURATION]
                                     check the tags of pods annotated tinylet.dev/auto-update
                                     now; with --dry-run, list what would change (new images are
                                     pulled either way); without, the running agent replaces
                                     the pods, and the command waits for them (default 2m)
  tinylet convert FILE... [--show-secrets]
                                     print the v1 YAML of any manifest tinylet accepts: its
                                     pods, ConfigMaps and Secrets; a Secret's values are
                                     redacted (each key with its size) unless --show-secrets
  tinylet version                    print the version
  POD is NAMESPACE/NAME, or NAME with -n NAMESPACE (default "default").

Flags (every command takes them, with the same defaults):
  --socket PATH             the runtime's CRI socket (default /run/containerd/containerd.sock)
  --manifests DIR           the directory of pod manifests (default /etc/tinylet/manifests)
  --interval DURATION       time between safety-net passes, Go syntax: 500ms, 2s, 1m30s; from 10ms
                            to 596h31m23.647s, the longest a timer holds (default 2s)
  --instance NAME           this agent's name on the runtime; agents with other names are left alone (default "default")
  --pod-log-root DIR        where container logs are written (default /var/log/pods)
  --root DIR                the agent's state directory (default /var/lib/tinylet)
  --node-name NAME          the node name for spec.nodeName (default: the host name)
  --parallel N              pods changed at once (default 4)
  --log-format text|json    log lines for a terminal or for log shippers (default text)
  --log-level LEVEL         debug, info, warn or error (default info)
  --insecure-manifest-permissions
                            accept a manifest directory others can write to
  --container-log-max-size SIZE
                            rotate a container's log past this size (default 10Mi)
  --container-log-max-files N
                            log files kept per container, the current one included (default 5)
  --container-log-monitor-interval DURATION
                            how often logs are checked for rotation, from 100ms to 596h31m23.647s
                            (default 10s)
  --auto-update-interval DURATION
                            how often the tags of pods annotated tinylet.dev/auto-update: registry
                            are checked for a new image, from 1s (default 1h)
  --rollback-window DURATION
                            how long a replaced pod must run without failing before its spec is
                            kept as good; one that fails sooner is rolled back to the last good
                            spec (default 0: off; from 1s)
  --manifest-url URL        also run the pods of the document at URL (YAML or JSON, as a file),
                            polled; https://, or http:// to loopback addresses only
  --manifest-url-header NAME:VALUE[,NAME:VALUE...]
                            headers sent with each fetch of --manifest-url (kubelet's syntax;
                            repeatable; several values of one name are sent in order, joined
                            with ", " on one line)
  --manifest-url-interval DURATION
                            how often --manifest-url is polled, from 1s (default 20s)
  --manifest-url-ca FILE    PEM CA certificates trusted for --manifest-url, besides Deno's roots
                            and the system's bundle
  --insecure-manifest-url   accept a plain http:// --manifest-url to a host that is not loopback
                            (whoever can change the document gets root on this node)
  --listen HOST:PORT        serve /healthz, /metrics and /pods (default: off)
  --registry-config PATH    registry credentials, a Docker-style config.json (default: the first of
                            $DOCKER_CONFIG/config.json, ~/.docker/config.json, /root/.docker/config.json,
                            /var/lib/kubelet/config.json, /etc/tinylet/config.json)
  -h, --help                print this help
  --version                 print the version

Single-dash spellings such as -socket=/path are accepted too.`;
