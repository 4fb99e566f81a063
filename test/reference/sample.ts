// Float64 reference of next-token sampling as HF transformers defines it: TemperatureLogitsWarper, then
// TopKLogitsWarper, then TopPLogitsWarper (sort ascending, remove tokens whose cumulative probability is
// <= 1 - top_p, always keep the last), then softmax; greedy is argmax with the lowest index on ties.

export function argmaxRef(x: ArrayLike<number>, offset = 0, length = x.length): number {
  let best = 0;
  for (let i = 1; i < length; i++) if (x[offset + i]! > x[offset + best]!) best = i;
  return best;
}

export interface SamplingRef {
  /** Probability of each token after the warpers (0 for removed tokens). */
  probs: Float64Array;
  /**
   * Distance of the top-p cut from the nearest cumulative probability: a cut closer than float32
   * rounding could go either way, so tests assert this margin is comfortable.
   */
  topPMargin: number;
}

export function samplingRef(
  logits: ArrayLike<number>,
  { temperature, topK = 0, topP = 1 }: { temperature: number; topK?: number; topP?: number },
): SamplingRef {
  const V = logits.length;
  const scores = Array.from(logits, (x) => x / temperature);
  if (topK > 0) {
    const k = Math.min(topK, V);
    const kth = [...scores].sort((a, b) => b - a)[k - 1]!;
    for (let i = 0; i < V; i++) if (scores[i]! < kth) scores[i] = Number.NEGATIVE_INFINITY;
  }
  let topPMargin = Number.POSITIVE_INFINITY;
  if (topP < 1) {
    const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]! || a - b);
    const p = softmax(order.map((i) => scores[i]!));
    let cum = 0;
    for (let j = 0; j < V; j++) {
      cum += p[j]!;
      if (p[j]! > 0) topPMargin = Math.min(topPMargin, Math.abs(cum - (1 - topP)));
      if (cum <= 1 - topP && j < V - 1) scores[order[j]!] = Number.NEGATIVE_INFINITY;
    }
  }
  return { probs: softmax(scores), topPMargin };
}

function softmax(x: readonly number[]): Float64Array {
  let m = Number.NEGATIVE_INFINITY;
  for (const v of x) m = Math.max(m, v);
  const e = Float64Array.from(x, (v) => (v === Number.NEGATIVE_INFINITY ? 0 : Math.exp(v - m)));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}
