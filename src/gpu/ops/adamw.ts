// AdamW (torch.optim.AdamW semantics): decoupled weight decay, bias-corrected moments, eps added to
// sqrt(v_hat). Holds per-parameter first and second moments (f32, zeros on first use) and step counts;
// updates parameters in place on the GPU. Defaults follow transformers' TrainingArguments (and so TRL's
// GRPOConfig): betas (0.9, 0.999), eps 1e-8, weight_decay 0.0 (torch's own AdamW default is 0.01).
import code from '../../../kernels/optim/adamw.wgsl?raw';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { HostArray, Tensor } from '../tensor.ts';
import { chunkBinding, flatChunks } from './clip-grad.ts';

export const adamwKernel = defineKernel('optim/adamw', code);

const WG = 256;

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export interface AdamWParam {
  param: Tensor;
  grad: Tensor;
  /** Overrides the optimiser's weight decay for this parameter (transformers uses 0 for biases and norms). */
  weightDecay?: number;
}

export interface AdamWState {
  /** First moment (exp_avg). */
  m: Tensor;
  /** Second moment (exp_avg_sq). */
  v: Tensor;
  /** Updates applied to this parameter so far. */
  step: number;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Calls of step() so far. */
  stepCount = 0;
  private readonly states = new Map<Tensor, AdamWState>();
  private one: Tensor | undefined;

  constructor(options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    for (const [k, v] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const)
      if (!(v >= 0 && v < 1)) throw new RangeError(`AdamW: ${k} must be in [0, 1), got ${v}`);
    if (!(this.eps >= 0)) throw new RangeError(`AdamW: eps must be >= 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0))
      throw new RangeError(`AdamW: weightDecay must be >= 0, got ${this.weightDecay}`);
  }

  /**
   * One update of every listed parameter with learning rate `lr`. `gradScale` ([1], e.g. the clip
   * coefficient from gradNorm) multiplies every gradient as it is read; the gradients are not changed.
   */
  step(gpu: Gpu, params: readonly AdamWParam[], lr: number, gradScale?: Tensor): void {
    if (!(lr >= 0 && Number.isFinite(lr)))
      throw new RangeError(`AdamW: lr must be a finite number >= 0, got ${lr}`);
    if (gradScale && (gradScale.size !== 1 || gradScale.dtype !== 'f32'))
      throw new ShapeError(`AdamW: gradScale must be one f32, got [${gradScale.shape}] ${gradScale.dtype}`);
    const seen = new Set<Tensor>();
    for (const { param, grad } of params) {
      if (param.dtype !== 'f32' || grad.dtype !== 'f32')
        throw new ShapeError(
          `AdamW: f32 parameters and gradients only, got ${param.dtype} and ${grad.dtype}`,
        );
      if (param.size !== grad.size)
        throw new ShapeError(`AdamW: parameter [${param.shape}] has a gradient of shape [${grad.shape}]`);
      if (seen.has(param)) throw new ShapeError(`AdamW: parameter [${param.shape}] listed twice`);
      seen.add(param);
    }
    const scale = gradScale ?? this.ones(gpu);
    for (const { param, grad, weightDecay } of params) {
      const s = this.stateFor(gpu, param);
      s.step++;
      const wd = weightDecay ?? this.weightDecay;
      const bc1 = 1 - this.beta1 ** s.step;
      const bc2 = 1 - this.beta2 ** s.step;
      for (const c of flatChunks(gpu, param.size)) {
        gpu.dispatch({
          kernel: adamwKernel,
          variant: { overrides: { WG } },
          params: new Params()
            .u32(c.count)
            .f32(this.beta1)
            .f32(this.beta2)
            .f32(1 - this.beta1)
            .f32(1 - this.beta2)
            .f32(this.eps)
            .f32(1 - lr * wd)
            .f32(lr / bc1)
            .f32(Math.sqrt(bc2))
            .bytes(),
          bindings: [
            chunkBinding(param, c),
            chunkBinding(grad, c),
            chunkBinding(s.m, c),
            chunkBinding(s.v, c),
            scale,
          ],
          workgroups: gpu.grid(Math.ceil(c.count / WG)),
        });
      }
    }
    this.stepCount++;
  }

  /** The moments and step count of a parameter (undefined before its first update). */
  stateOf(param: Tensor): AdamWState | undefined {
    return this.states.get(param);
  }

  /** Restores a parameter's state (from a checkpoint). */
  loadState(
    gpu: Gpu,
    param: Tensor,
    state: { m: ArrayLike<number>; v: ArrayLike<number>; step: number },
  ): void {
    if (state.m.length !== param.size || state.v.length !== param.size)
      throw new ShapeError(
        `AdamW.loadState: moments of ${state.m.length}/${state.v.length} values for [${param.shape}]`,
      );
    const s = this.stateFor(gpu, param);
    gpu.write(s.m, state.m);
    gpu.write(s.v, state.v);
    s.step = state.step;
  }

  /** Reads a parameter's moments back (for checkpoints). */
  async readState(
    gpu: Gpu,
    param: Tensor,
  ): Promise<{ m: HostArray; v: HostArray; step: number } | undefined> {
    const s = this.states.get(param);
    if (!s) return undefined;
    return { m: await gpu.read(s.m), v: await gpu.read(s.v), step: s.step };
  }

  /** Drops the state of one parameter (e.g. a removed adapter). */
  forget(param: Tensor): void {
    const s = this.states.get(param);
    if (!s) return;
    s.m.dispose();
    s.v.dispose();
    this.states.delete(param);
  }

  dispose(): void {
    for (const s of this.states.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.states.clear();
    this.one?.dispose();
    this.one = undefined;
  }

  private stateFor(gpu: Gpu, param: Tensor): AdamWState {
    let s = this.states.get(param);
    if (!s) {
      s = { m: gpu.keep(gpu.zeros(param.shape)), v: gpu.keep(gpu.zeros(param.shape)), step: 0 };
      this.states.set(param, s);
    }
    return s;
  }

  private ones(gpu: Gpu): Tensor {
    if (!this.one) this.one = gpu.keep(gpu.tensor([1], [1]));
    return this.one;
  }
}
