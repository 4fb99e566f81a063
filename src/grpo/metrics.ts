// The logging window of a training run, as TRL's trainer keeps it: every value a step or micro-step
// reports under a metric name is collected, and at each logging step every name is averaged over the
// window, NaN / null values left out (a name with none left logs null). Some names hold one current
// value instead of a list (TRL's num_tokens, the learning rate, the grad norm).

export type Metrics = Record<string, number | null>;

export class MetricWindow {
  private readonly lists = new Map<string, number[]>();
  private readonly latest = new Map<string, number | null>();

  /** Appends one value of `name` (null / NaN are kept out of the average). */
  add(name: string, value: number | null): void {
    const list = this.lists.get(name) ?? [];
    if (value !== null && !Number.isNaN(value)) list.push(value);
    this.lists.set(name, list);
  }

  addAll(metrics: Metrics): void {
    for (const [k, v] of Object.entries(metrics)) this.add(k, v);
  }

  /** Sets the current value of `name`, replacing the previous one. */
  set(name: string, value: number | null): void {
    this.latest.set(name, value);
  }

  /** The averages since the last flush, and an empty window. */
  flush(): Metrics {
    const out: Metrics = {};
    for (const [k, list] of this.lists)
      out[k] = list.length ? list.reduce((a, b) => a + b, 0) / list.length : null;
    for (const [k, v] of this.latest) out[k] = v;
    this.lists.clear();
    this.latest.clear();
    return out;
  }
}
