/**
 * Prometheus metrics in the text exposition format: counters, gauges and
 * histograms with labels. Small on purpose: what the agent reports fits in
 * a page.
 *
 * @module
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  const body = entries
    .map(([k, v]) =>
      `${k}="${v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`
    )
    .join(",");
  return `{${body}}`;
}

function key(labels: Labels): string {
  return JSON.stringify(Object.entries(labels).sort());
}

/** One sample of a family rendered at once ({@linkcode familyText}). */
export interface Sample {
  labels: Labels;
  value: number;
  /** When the value was read, in Unix milliseconds (written after the value). */
  timestampMs?: number;
}

/**
 * A whole family in the text format: its HELP and TYPE lines, then each sample (labels sorted
 * by name, as kubelet writes them). A family without samples is its two header lines.
 */
export function familyText(
  name: string,
  help: string,
  type: "counter" | "gauge",
  samples: readonly Sample[],
): string[] {
  return [
    `# HELP ${name} ${help}`,
    `# TYPE ${name} ${type}`,
    ...samples.map((s) => {
      const labels = Object.fromEntries(
        Object.entries(s.labels).sort(([a], [b]) => a < b ? -1 : 1),
      );
      const ts = s.timestampMs === undefined ? "" : ` ${Math.floor(s.timestampMs)}`;
      return `${name}${labelText(labels)} ${s.value}${ts}`;
    }),
  ];
}

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  render(): string[];
}

/** A counter or gauge with labels. */
export class Metric implements Family {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge",
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = key(labels);
    const e = this.#values.get(k);
    if (e) e.value += by;
    else this.#values.set(k, { labels, value: by });
  }

  set(labels: Labels, value: number): void {
    this.#values.set(key(labels), { labels, value });
  }

  /** Drops every series (a gauge rebuilt from scratch). */
  reset(): void {
    this.#values.clear();
  }

  get(labels: Labels = {}): number {
    return this.#values.get(key(labels))?.value ?? 0;
  }

  render(): string[] {
    return [...this.#values.values()].map((e) => `${this.name}${labelText(e.labels)} ${e.value}`);
  }
}

/** Latency buckets in seconds, from 1 ms to 60 s. */
export const DEFAULT_BUCKETS = [
  0.001,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
];

/** A histogram with labels. */
export class Histogram implements Family {
  readonly type = "histogram" as const;
  readonly #series = new Map<
    string,
    { labels: Labels; counts: number[]; sum: number; count: number }
  >();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[] = DEFAULT_BUCKETS,
  ) {}

  observe(seconds: number, labels: Labels = {}): void {
    const k = key(labels);
    let s = this.#series.get(k);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#series.set(k, s);
    }
    this.buckets.forEach((b, i) => {
      if (seconds <= b) s.counts[i]!++;
    });
    s.sum += seconds;
    s.count++;
  }

  render(): string[] {
    const out: string[] = [];
    for (const s of this.#series.values()) {
      this.buckets.forEach((b, i) => {
        out.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`);
      });
      out.push(`${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}`);
      out.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      out.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return out;
  }
}

/** Every metric the agent exports. */
export class AgentMetrics {
  readonly passes = new Metric("tinylet_passes_total", "Reconcile passes run.", "counter");
  readonly passDuration = new Histogram(
    "tinylet_pass_duration_seconds",
    "How long a reconcile pass took (reading, listing, planning, starting actions).",
  );
  readonly criCalls = new Metric(
    "tinylet_cri_calls_total",
    "CRI calls made, by method.",
    "counter",
  );
  readonly criErrors = new Metric(
    "tinylet_cri_errors_total",
    "CRI calls that failed, by method and kind of error.",
    "counter",
  );
  readonly criDuration = new Histogram(
    "tinylet_cri_call_duration_seconds",
    "CRI call latency, by method.",
  );
  readonly pods = new Metric("tinylet_pods", "Pods by phase.", "gauge");
  readonly restarts = new Metric(
    "tinylet_container_restarts",
    "Restarts of each container (its restart count).",
    "gauge",
  );
  readonly manifestErrors = new Metric(
    "tinylet_manifest_errors",
    "Manifest files with errors (their pods are kept as they were).",
    "gauge",
  );
  readonly watchEvents = new Metric(
    "tinylet_watch_events_total",
    "File system events seen on the manifest directory.",
    "counter",
  );
  readonly runtimeUp = new Metric(
    "tinylet_runtime_up",
    "1 when the container runtime answers.",
    "gauge",
  );
  readonly probeResults = new Metric(
    "tinylet_probe_results_total",
    "Probe results, by pod, container, kind and result.",
    "counter",
  );

  readonly imageUpdates = new Metric(
    "tinylet_image_updates_total",
    "Image updates found: pods (tinylet.dev/auto-update) whose running container's tag moved, each then replaced.",
    "counter",
  );

  readonly oomEvents = new Metric(
    "container_oom_events_total",
    "Count of out of memory events observed for the container (exits the runtime reports as OOMKilled, seen while the agent runs).",
    "counter",
  );

  readonly rollbacks = new Metric(
    "tinylet_rollbacks_total",
    "Replacements that failed within their rollback window, each rolled back to the pod's last good spec.",
    "counter",
  );

  readonly manifestUrlFetches = new Metric(
    "tinylet_manifest_url_fetches_total",
    "Fetches of --manifest-url, by result: changed (a new valid document), unchanged (304 Not Modified, or the same bytes) or failed (no answer, an HTTP error, the timeout, or a document that is too large, empty or invalid).",
    "counter",
  );

  readonly manifestUrlUp = new Metric(
    "tinylet_manifest_url_up",
    "1 when the last fetch of --manifest-url succeeded; 0 while it fails (its pods run from the last good document).",
    "gauge",
  );

  readonly manifestUrlLastSuccess = new Metric(
    "tinylet_manifest_url_last_success_timestamp_seconds",
    "When a fetch of --manifest-url last succeeded, in Unix seconds.",
    "gauge",
  );

  readonly manifestUrlBytes = new Metric(
    "tinylet_manifest_url_bytes_total",
    "Body bytes received from --manifest-url (after any content decoding; headers not counted).",
    "counter",
  );

  /** The exposition text. */
  render(): string {
    const families: Family[] = [
      this.passes,
      this.passDuration,
      this.criCalls,
      this.criErrors,
      this.criDuration,
      this.pods,
      this.restarts,
      this.manifestErrors,
      this.watchEvents,
      this.runtimeUp,
      this.probeResults,
      this.imageUpdates,
      this.rollbacks,
      this.oomEvents,
      this.manifestUrlFetches,
      this.manifestUrlUp,
      this.manifestUrlLastSuccess,
      this.manifestUrlBytes,
    ];
    const out: string[] = [];
    for (const f of families) {
      out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`, ...f.render());
    }
    return out.join("\n") + "\n";
  }
}
