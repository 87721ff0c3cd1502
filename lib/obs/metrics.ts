// Samsa's metrics: one registry, read two ways. The Node server exposes it at GET /metrics in
// Prometheus' text format (version 0.0.4); the Lambda functions print what changed since their
// last invocation as CloudWatch Embedded Metric Format lines, which CloudWatch Logs turns into
// metrics with no PutMetricData call. Same instrument names in both, so a dashboard reads alike.
//
// Label values are bounded by construction: topics and groups that exist, route patterns (never
// raw paths), status codes and error codes.
import { emfLine, type MetricUnit } from './emf';

type Labels = Record<string, string>;

/** Prometheus' default buckets, in seconds, with a finer low end: most requests here are sub-ms. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const keyOf = (names: readonly string[], labels: Labels): string => names.map((n) => labels[n] ?? '').join('\u0000');

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function renderLabels(names: readonly string[], labels: Labels, extra?: [string, string]): string {
  const parts = names.map((n) => `${n}="${escapeLabel(labels[n] ?? '')}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

const fmt = (v: number): string => (Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN');

interface Instrument {
  readonly name: string;
  render(): string[] | Promise<string[]>;
}

export class Counter<L extends string = string> implements Instrument {
  private readonly series = new Map<string, { labels: Labels; value: number; reported: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[] = [],
    readonly unit: MetricUnit = 'Count',
  ) {}

  inc(labels: Partial<Record<L, string>> = {}, by = 1): void {
    if (!(by >= 0)) return; // counters only go up; NaN and negatives are a caller bug, not a crash
    const k = keyOf(this.labelNames, labels as Labels);
    const s = this.series.get(k);
    if (s) s.value += by;
    else this.series.set(k, { labels: { ...(labels as Labels) }, value: by, reported: 0 });
  }

  /** The current value for one label set (0 when never incremented). */
  get(labels: Partial<Record<L, string>> = {}): number {
    return this.series.get(keyOf(this.labelNames, labels as Labels))?.value ?? 0;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const s of this.series.values()) out.push(`${this.name}${renderLabels(this.labelNames, s.labels)} ${fmt(s.value)}`);
    return out;
  }

  /** Increments since the previous call, per label set (for EMF, which wants deltas). */
  takeDeltas(): Array<{ labels: Labels; value: number }> {
    const out: Array<{ labels: Labels; value: number }> = [];
    for (const s of this.series.values()) {
      const d = s.value - s.reported;
      if (d > 0) out.push({ labels: s.labels, value: d });
      s.reported = s.value;
    }
    return out;
  }
}

interface HistogramSeries {
  labels: Labels;
  counts: number[];
  sum: number;
  count: number;
  pending: number[];
}

export class Histogram<L extends string = string> implements Instrument {
  private readonly series = new Map<string, HistogramSeries>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[] = [],
    readonly buckets: readonly number[] = DURATION_BUCKETS,
  ) {}

  observe(labels: Partial<Record<L, string>>, value: number): void {
    if (!Number.isFinite(value)) return;
    this.record(this.seriesOf(labels), value);
  }

  /**
   * One label set's series, to observe into without building the label object and its key on
   * every call (the request-duration histogram, once per HTTP request: issue 18). Same series,
   * same counts, as observe() with the same labels.
   */
  bind(labels: Partial<Record<L, string>>): { observe(value: number): void } {
    const s = this.seriesOf(labels);
    return { observe: (value) => void (Number.isFinite(value) && this.record(s, value)) };
  }

  private seriesOf(labels: Partial<Record<L, string>>): HistogramSeries {
    const k = keyOf(this.labelNames, labels as Labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels: { ...(labels as Labels) }, counts: this.buckets.map(() => 0), sum: 0, count: 0, pending: [] };
      this.series.set(k, s);
    }
    return s;
  }

  private record(s: HistogramSeries, value: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) s.counts[i]!++;
    s.sum += value;
    s.count++;
    // EMF takes at most 100 values per metric and line; beyond that the oldest are dropped
    // from the CloudWatch view (Prometheus' buckets above still count every one).
    if (s.pending.length < 100) s.pending.push(value);
  }

  count(labels: Partial<Record<L, string>> = {}): number {
    return this.series.get(keyOf(this.labelNames, labels as Labels))?.count ?? 0;
  }

  render(): string[] {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => out.push(`${this.name}_bucket${renderLabels(this.labelNames, s.labels, ['le', fmt(b)])} ${s.counts[i]}`));
      out.push(`${this.name}_bucket${renderLabels(this.labelNames, s.labels, ['le', '+Inf'])} ${s.count}`);
      out.push(`${this.name}_sum${renderLabels(this.labelNames, s.labels)} ${fmt(s.sum)}`);
      out.push(`${this.name}_count${renderLabels(this.labelNames, s.labels)} ${s.count}`);
    }
    return out;
  }

  takePending(): Array<{ labels: Labels; values: number[] }> {
    const out: Array<{ labels: Labels; values: number[] }> = [];
    for (const s of this.series.values()) {
      if (s.pending.length) out.push({ labels: s.labels, values: s.pending });
      s.pending = [];
    }
    return out;
  }
}

/** A gauge read at scrape time (consumer lag, flush backlog): nothing to keep up to date. */
export class Gauge<L extends string = string> implements Instrument {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly L[] = [],
    private readonly collect?: () => Promise<Array<{ labels: Partial<Record<L, string>>; value: number }>>,
  ) {}

  set(labels: Partial<Record<L, string>>, value: number): void {
    this.values.set(keyOf(this.labelNames, labels as Labels), { labels: { ...(labels as Labels) }, value });
  }

  async render(): Promise<string[]> {
    const out = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`];
    let rows: Array<{ labels: Labels; value: number }> = [...this.values.values()];
    if (this.collect) {
      try {
        rows = (await this.collect()).map((r) => ({ labels: r.labels as Labels, value: r.value }));
      } catch {
        // A scrape must not fail because one source could not be read; the gauge is just absent.
        return [];
      }
    }
    for (const r of rows) out.push(`${this.name}${renderLabels(this.labelNames, r.labels)} ${fmt(r.value)}`);
    return out;
  }
}

export class Registry {
  private readonly instruments: Instrument[] = [];

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = [], unit: MetricUnit = 'Count'): Counter<L> {
    return this.add(new Counter(name, help, labelNames, unit));
  }
  histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: readonly number[]): Histogram<L> {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[], collect?: ConstructorParameters<typeof Gauge<L>>[3]): Gauge<L> {
    return this.add(new Gauge(name, help, labelNames, collect));
  }

  private add<T extends Instrument>(i: T): T {
    if (this.instruments.some((x) => x.name === i.name)) throw new Error(`metric ${i.name} registered twice`);
    this.instruments.push(i);
    return i;
  }

  /** The Prometheus text exposition (Content-Type `text/plain; version=0.0.4`). */
  async renderPrometheus(): Promise<string> {
    const blocks = await Promise.all(this.instruments.map((i) => i.render()));
    return `${blocks.flat().join('\n')}\n`;
  }

  /**
   * What changed since the last call, as CloudWatch EMF lines: counter deltas and histogram
   * observations (in milliseconds), one line per instrument and label set. Gauges are left to
   * the jobs that compute them.
   */
  emfLines(now: number = Date.now()): string[] {
    const lines: string[] = [];
    for (const i of this.instruments) {
      if (i instanceof Counter) {
        for (const d of i.takeDeltas()) lines.push(emfLine(d.labels, { [i.name]: { value: d.value, unit: i.unit } }, now, { aggregate: true }));
      } else if (i instanceof Histogram) {
        for (const p of i.takePending()) {
          const name = i.name.replace(/_seconds$/, '_ms');
          lines.push(emfLine(p.labels, { [name]: { value: p.values.map((v) => v * 1000), unit: 'Milliseconds' } }, now, { aggregate: true }));
        }
      }
    }
    return lines;
  }
}
