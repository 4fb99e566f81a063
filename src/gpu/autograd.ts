// Reverse-mode autodiff over GPU tensors. While a Tape is active on a Gpu, every op whose inputs include
// a tensor that needs a gradient records a backward rule; `backward` walks the records in reverse and
// returns the gradients of the trainable leaves. Trainable flags live with the tensors (markTrainable),
// so a frozen tensor (a LoRA base weight, the reference policy) never gets a gradient computed.
// Saved activations are retained by the tape, independently of their creator's dispose() and of
// scopes, and released when it is disposed; `checkpoint` trades them for recomputation at block
// granularity.
import type { Gpu } from './context.ts';
import { GpuError } from './errors.ts';
import { axpy } from './ops/axpy.ts';
import type { Tensor } from './tensor.ts';

const trainable = new WeakSet<Tensor>();

/** Marks leaf tensors whose gradients the tape reports (parameters, LoRA adapters). */
export function markTrainable<T extends Tensor>(t: T, on = true): T {
  if (on) trainable.add(t);
  else trainable.delete(t);
  return t;
}

export function isTrainable(t: Tensor): boolean {
  return trainable.has(t);
}

/**
 * One op's backward rule: given the gradients of its outputs (undefined where none flowed), returns the
 * gradients of its inputs; `needs[i]` says whether input i wants one (return undefined where it does not).
 * Returned tensors belong to the tape from then on.
 */
export type BackwardRule = (gradOutputs: (Tensor | undefined)[], needs: boolean[]) => (Tensor | undefined)[];

interface Node {
  inputs: (Tensor | undefined)[];
  outputs: Tensor[];
  needs: boolean[];
  backward: BackwardRule;
  saved: Tensor[];
}

const tapes = new WeakMap<Gpu, Tape>();

/** The tape recording on this Gpu, if any. */
export function activeTape(gpu: Gpu): Tape | undefined {
  return tapes.get(gpu);
}

/** Runs `fn` without recording (generation, reference-policy passes, recomputed forwards). */
export function noGrad<T>(gpu: Gpu, fn: () => T): T {
  const tape = tapes.get(gpu);
  tapes.delete(gpu);
  try {
    return fn();
  } finally {
    if (tape) tapes.set(gpu, tape);
  }
}

/** Whether an op on these inputs must record itself. */
export function needsGrad(gpu: Gpu, ...inputs: (Tensor | undefined)[]): boolean {
  const tape = tapes.get(gpu);
  return tape !== undefined && inputs.some((t) => t !== undefined && tape.tracks(t));
}

/**
 * Called by an op after its forward: records the backward rule if any input needs a gradient. `saved`
 * are the tensors the rule reads (inputs, outputs or intermediates); the tape keeps them alive.
 */
export function record(
  gpu: Gpu,
  inputs: (Tensor | undefined)[],
  outputs: Tensor[],
  saved: Tensor[],
  backward: BackwardRule,
): void {
  const tape = tapes.get(gpu);
  if (!tape) return;
  const needs = inputs.map((t) => t !== undefined && tape.tracks(t));
  if (!needs.some(Boolean)) return;
  tape.push({ inputs, outputs, needs, backward, saved });
}

export class Tape {
  private readonly nodes: Node[] = [];
  /** Non-leaf tensors produced by recorded ops. */
  private readonly produced = new WeakSet<Tensor>();
  /** Leaves this tape reports besides the trainable ones. */
  private readonly watched = new WeakSet<Tensor>();
  private disposed = false;

  constructor(readonly gpu: Gpu) {}

  /** Makes this tape record the ops `fn` runs on its Gpu. */
  run<T>(fn: () => T): T {
    if (this.disposed) throw new GpuError('this tape was disposed');
    const outer = tapes.get(this.gpu);
    tapes.set(this.gpu, this);
    try {
      return fn();
    } finally {
      if (outer) tapes.set(this.gpu, outer);
      else tapes.delete(this.gpu);
    }
  }

  tracks(t: Tensor): boolean {
    return trainable.has(t) || this.watched.has(t) || this.produced.has(t);
  }

  /** Reports the gradient of `t` as if it were trainable, for this tape only. */
  watch(t: Tensor): void {
    this.watched.add(t);
  }

  push(node: Node): void {
    for (const t of node.saved) t.retain();
    for (const t of node.outputs) this.produced.add(t);
    this.nodes.push(node);
  }

  get size(): number {
    return this.nodes.length;
  }

  /** The trainable leaves the recorded ops read, in first-use order. */
  trainableLeaves(): Tensor[] {
    const seen = new Set<Tensor>();
    for (const n of this.nodes)
      for (const t of n.inputs) if (t && trainable.has(t) && !this.produced.has(t)) seen.add(t);
    return [...seen];
  }

  /**
   * Back-propagates `seed` (default: ones, for a scalar loss) from `output` and returns the gradient of
   * every trainable leaf reached. The caller owns the returned tensors; intermediate gradients are freed
   * as soon as they are consumed. The records stay until dispose(), so backward can be called once.
   * With `into` (gradient accumulation), each leaf gradient is added to that map's running sum as soon as
   * it is computed, so a micro-batch never holds a second full set of gradients; `into` is returned.
   */
  backward(output: Tensor, seed?: Tensor, into?: Map<Tensor, Tensor>): Map<Tensor, Tensor> {
    const gpu = this.gpu;
    const grads = new Map<Tensor, Tensor>();
    grads.set(
      output,
      seed ? gpu.view(seed, seed.shape) : gpu.tensor(new Float32Array(output.size).fill(1), output.shape),
    );
    const leaves = into ?? new Map<Tensor, Tensor>();
    noGrad(gpu, () => {
      for (let i = this.nodes.length - 1; i >= 0; i--) {
        const node = this.nodes[i]!;
        const gOut = node.outputs.map((t) => grads.get(t));
        if (gOut.every((g) => g === undefined)) continue;
        const gIn = node.backward(gOut, node.needs);
        for (const t of node.outputs) grads.delete(t);
        for (const g of gOut) g?.dispose();
        node.inputs.forEach((t, j) => {
          const g = gIn[j];
          if (!g) return;
          if (!t || !node.needs[j]) {
            g.dispose();
            return;
          }
          const leaf = (trainable.has(t) || this.watched.has(t)) && !this.produced.has(t);
          const into = leaf ? leaves : grads;
          accumulate(gpu, into, t, g);
        });
      }
    });
    for (const g of grads.values()) g.dispose();
    return leaves;
  }

  /** Releases every saved tensor. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const n of this.nodes) for (const t of n.saved) t.release();
    this.nodes.length = 0;
  }
}

function accumulate(gpu: Gpu, map: Map<Tensor, Tensor>, key: Tensor, g: Tensor): void {
  const prev = map.get(key);
  if (!prev) {
    map.set(key, g);
    return;
  }
  axpy(gpu, prev, g, 1);
  g.dispose();
}

/** Runs a function again with the random state (dropout masks) its first run drew. */
export type Replay = <T>(fn: () => T) => T;

export interface CheckpointOptions {
  /**
   * The trainable tensors `fn` reads; when omitted they are found by recording the forward on a probe
   * tape that is released as soon as it returns (so only one block's activations live at a time).
   */
  params?: Tensor[];
  /** Captured before the forward; the recomputation runs inside it (LoRA dropout draws the same masks). */
  capture?: () => Replay;
}

/**
 * Runs `fn(inputs)` without keeping its activations: the backward runs it again under a private tape.
 * Gradients reach the inputs and the trainable tensors `fn` reads. `inputs` are kept until the backward,
 * so every tensor `fn` reads that its caller may free (a RoPE table) must be among them.
 */
export function checkpoint(
  gpu: Gpu,
  fn: (inputs: Tensor[]) => Tensor,
  inputs: Tensor[],
  options: CheckpointOptions = {},
): Tensor {
  if (!tapes.has(gpu)) return fn(inputs);
  const replay = options.capture?.() ?? ((f) => f());
  let params = options.params;
  let out: Tensor;
  if (params) {
    out = gpu.scope(() => noGrad(gpu, () => fn(inputs)));
  } else {
    const probe = new Tape(gpu);
    try {
      out = gpu.scope(() => probe.run(() => fn(inputs)));
      params = probe.trainableLeaves().filter((t) => !inputs.includes(t));
    } finally {
      probe.dispose();
    }
  }
  const all = [...inputs, ...params];
  record(gpu, all, [out], inputs, (gOut, needs) => {
    const g = gOut[0];
    if (!g) return [];
    const inner = new Tape(gpu);
    try {
      inputs.forEach((t, i) => {
        if (needs[i]) inner.watch(t);
      });
      const y = replay(() => gpu.scope(() => inner.run(() => fn(inputs))));
      const found = inner.backward(y, g);
      y.dispose();
      const grads = all.map((t, i) => (needs[i] ? found.get(t) : undefined));
      for (const [t, grad] of found) if (!grads.includes(grad) || !all.includes(t)) grad.dispose();
      return grads;
    } finally {
      inner.dispose();
    }
  });
  return out;
}

/**
 * Adds one micro-batch's leaf gradients into a running store (gradient accumulation); takes ownership
 * of `grads`. The store's tensors belong to the caller, who disposes them after the optimiser step.
 */
export function accumulateGrads(gpu: Gpu, store: Map<Tensor, Tensor>, grads: Map<Tensor, Tensor>): void {
  for (const [t, g] of grads) accumulate(gpu, store, t, g);
  grads.clear();
}
