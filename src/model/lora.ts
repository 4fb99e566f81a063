// LoRA adapters for the decoder (PEFT's LoraConfig semantics): per target module a trainable pair
// A [r, in] (kaiming-uniform, a = sqrt(5)) and B [out, r] (zeros) adding (alpha / r) * B A x to the frozen
// base projection, applied through the decoder's LinearFn hook. Switching the adapters off gives the base
// model exactly (GRPO's reference policy, no second copy). Also: merge / unmerge into f32 base weights,
// PEFT adapter export / import (adapter_config.json + adapter_model.safetensors), and marking base
// weights trainable for full fine-tuning.
import { markTrainable, noGrad, type Replay } from '../gpu/autograd.ts';
import type { Gpu } from '../gpu/context.ts';
import { add } from '../gpu/ops/add.ts';
import { axpy } from '../gpu/ops/axpy.ts';
import { linear } from '../gpu/ops/linear.ts';
import { matmul } from '../gpu/ops/matmul.ts';
import { mul } from '../gpu/ops/mul.ts';
import { scale } from '../gpu/ops/scale.ts';
import type { Tensor } from '../gpu/tensor.ts';
import { bytesSource } from './byte-source.ts';
import { type ModelConfig, parameterShapes } from './config.ts';
import type { LinearFn } from './decoder.ts';
import { LoraError } from './errors.ts';
import { canonicalName, nestedName } from './hf-names.ts';
import { uniformStream } from './random.ts';
import { openSafetensors } from './safetensors.ts';
import { type TensorToWrite, writeSafetensors } from './safetensors-write.ts';
import { isDecoderParameter, type Weights } from './weights.ts';

/** PEFT's default target modules for Qwen2: every projection of attention and MLP. */
export const DEFAULT_LORA_TARGETS: readonly string[] = [
  'q_proj',
  'k_proj',
  'v_proj',
  'o_proj',
  'gate_proj',
  'up_proj',
  'down_proj',
];

export interface LoraOptions {
  /** Rank of the adapters. */
  r: number;
  /** Scaling numerator: the update is (alpha / r) * B A x (alpha / sqrt(r) with useRslora). */
  alpha: number;
  /** Dropout probability on the adapter's input, active only in training mode. Default 0. */
  dropout?: number;
  /**
   * Module name suffixes (a module matches when its name equals one or ends in `.` + one), or one
   * regular expression that must match the whole module name (PEFT's string form). Only decoder modules
   * are adapted; the vision tower stays frozen.
   */
  targetModules?: readonly string[] | string;
  /** Seed of the A initialisation and of the dropout masks. Default 0. */
  seed?: number;
  /** Dropout on (true, the default, as in PyTorch's train mode) or off (eval). */
  training?: boolean;
  /** Rank-stabilised scaling alpha / sqrt(r) (PEFT's use_rslora). Default false. */
  useRslora?: boolean;
}

/** One adapted module: `module` is its HF name without `.weight` (`model.layers.0.self_attn.q_proj`). */
export interface LoraAdapter {
  readonly module: string;
  /** [r, in], trainable. */
  readonly A: Tensor;
  /** [out, r], trainable. */
  readonly B: Tensor;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

/** PEFT's adapter_config.json fields (those this code writes and reads). */
export interface PeftAdapterConfig {
  peft_type: 'LORA';
  task_type: 'CAUSAL_LM';
  r: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string[] | string;
  bias: 'none';
  base_model_name_or_path: string | null;
  fan_in_fan_out: false;
  inference_mode: boolean;
  init_lora_weights: true;
  use_rslora: boolean;
  use_dora: false;
  modules_to_save: null;
  layers_to_transform: null;
  layers_pattern: null;
  rank_pattern: Record<string, never>;
  alpha_pattern: Record<string, never>;
  revision: null;
}

/** The two files of a PEFT adapter folder. */
export interface PeftAdapterFiles {
  'adapter_config.json': PeftAdapterConfig;
  'adapter_model.safetensors': Uint8Array;
}

/** What importPeft reads: the config as parsed JSON or as text, and the safetensors bytes. */
export interface PeftAdapterInput {
  'adapter_config.json': unknown;
  'adapter_model.safetensors': Uint8Array;
}

const PEFT_PREFIX = 'base_model.model.';

/**
 * PEFT's tensor name of an adapter matrix, in the module layout of current transformers
 * (`model.language_model.layers.*`), which PEFT matches by name without converting older layouts.
 */
export function peftTensorName(module: string, which: 'A' | 'B'): string {
  return `${PEFT_PREFIX}${nestedName(module)}.lora_${which}.weight`;
}

const LAYER_PROJECTIONS = new Set(DEFAULT_LORA_TARGETS);

/**
 * target_modules as PEFT should read it: a list of module names becomes one regular expression over
 * whole module names that keeps the layer projections to the decoder's `layers` (Qwen2.5-VL's vision
 * `blocks` have gate / up / down projections of the same names); a regular expression stays as it is.
 */
export function peftTargetModules(targets: readonly string[] | string): string {
  if (typeof targets === 'string') return targets;
  const literal = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const parts = targets.map((t) =>
    LAYER_PROJECTIONS.has(t) ? `.*\\.layers\\.\\d+\\.(?:self_attn|mlp)\\.${t}` : `(?:.*\\.)?${literal(t)}`,
  );
  return parts.join('|');
}

/**
 * The inverted-dropout mask of the `call`-th adapter application after a seed: n values, each 0 with
 * probability p, else 1 / (1 - p). A pure function of (seed, call, n, p).
 */
export function dropoutMask(seed: number, call: number, n: number, p: number): Float32Array {
  const next = uniformStream((Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(call + 1, 0x85ebca6b)) >>> 0);
  const keep = 1 / (1 - p);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = next() < p ? 0 : keep;
  return out;
}

function targetMatcher(targets: readonly string[] | string): (module: string) => boolean {
  if (typeof targets === 'string') {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${targets})$`);
    } catch {
      throw new LoraError(`target_modules "${targets}" is not a valid regular expression`);
    }
    return (m) => re.test(m);
  }
  return (m) => targets.some((t) => m === t || m.endsWith(`.${t}`));
}

/** The decoder's adaptable projections: module name -> [out, in]. */
function decoderModules(config: ModelConfig): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  for (const [name, shape] of Object.entries(parameterShapes(config))) {
    if (shape.length !== 2 || !name.endsWith('.weight') || !isDecoderParameter(name)) continue;
    if (name.endsWith('embed_tokens.weight')) continue;
    out.set(name.slice(0, -'.weight'.length), [shape[0]!, shape[1]!]);
  }
  return out;
}

/** The decoder projections `targets` match, as [out, in] (all layers). */
export function loraModuleShapes(
  config: ModelConfig,
  targets: readonly string[] | string,
): [number, number][] {
  const matches = targetMatcher(targets);
  return [...decoderModules(config)].filter(([module]) => matches(module)).map(([, shape]) => shape);
}

/** A set of LoRA adapters over one decoder. Create with createLora or importPeft; dispose when done. */
export class Lora {
  readonly r: number;
  readonly alpha: number;
  readonly dropout: number;
  readonly targetModules: readonly string[] | string;
  readonly useRslora: boolean;
  /** alpha / r (alpha / sqrt(r) with rsLoRA). */
  readonly scaling: number;
  /** By module name, in the checkpoint's parameter order. */
  readonly adapters: ReadonlyMap<string, LoraAdapter>;
  /** Off: every projection is exactly the base one (the reference policy). */
  enabled = true;
  /** Dropout applies only in training mode. */
  training: boolean;
  private mergedFlag = false;
  private dropoutSeed: number;
  private dropoutCalls = 0;

  constructor(
    readonly gpu: Gpu,
    config: ModelConfig,
    options: LoraOptions,
  ) {
    const { r, alpha, dropout = 0, targetModules = DEFAULT_LORA_TARGETS, seed = 0 } = options;
    if (!Number.isInteger(r) || r < 1) throw new LoraError(`r must be a positive integer, got ${r}`);
    if (!Number.isFinite(alpha)) throw new LoraError(`lora_alpha must be a finite number, got ${alpha}`);
    if (!(dropout >= 0 && dropout < 1)) throw new LoraError(`lora_dropout must be in [0, 1), got ${dropout}`);
    this.r = r;
    this.alpha = alpha;
    this.dropout = dropout;
    this.targetModules = typeof targetModules === 'string' ? targetModules : [...targetModules];
    this.useRslora = options.useRslora ?? false;
    this.scaling = this.useRslora ? alpha / Math.sqrt(r) : alpha / r;
    this.training = options.training ?? true;
    this.dropoutSeed = seed;

    const matches = targetMatcher(targetModules);
    const modules = decoderModules(config);
    const chosen = [...modules].filter(([m]) => matches(m));
    if (chosen.length === 0) {
      const kinds = [...new Set([...modules.keys()].map((m) => m.split('.').pop()))].join(', ');
      throw new LoraError(
        `target_modules ${JSON.stringify(targetModules)} match no decoder module; use some of: ${kinds}`,
      );
    }
    const uniform = uniformStream(seed);
    const adapters = new Map<string, LoraAdapter>();
    for (const [module, [out, inF]] of chosen) {
      // kaiming_uniform_(a = sqrt(5)) on [r, in]: bound = sqrt(2 / (1 + 5)) * sqrt(3 / in) = 1 / sqrt(in).
      const bound = 1 / Math.sqrt(inF);
      const a = new Float32Array(r * inF);
      for (let i = 0; i < a.length; i++) a[i] = (uniform() * 2 - 1) * bound;
      const A = markTrainable(gpu.keep(gpu.tensor(a, [r, inF])));
      const B = markTrainable(gpu.keep(gpu.zeros([out, r])));
      adapters.set(module, { module, A, B, inFeatures: inF, outFeatures: out });
    }
    this.adapters = adapters;
  }

  /** Whether the adapters are merged into the base weights (the adapter path is then skipped). */
  get merged(): boolean {
    return this.mergedFlag;
  }

  /** The trainable tensors: A and B of every adapter. */
  parameters(): Tensor[] {
    return [...this.adapters.values()].flatMap((a) => [a.A, a.B]);
  }

  /**
   * How to run a forward again with the dropout masks drawn from here on (gradient checkpointing's
   * recomputation); the sequence then goes on where it was.
   */
  readonly captureDropout = (): Replay => {
    const seed = this.dropoutSeed;
    const calls = this.dropoutCalls;
    return (fn) => {
      const after = [this.dropoutSeed, this.dropoutCalls] as const;
      this.dropoutSeed = seed;
      this.dropoutCalls = calls;
      try {
        return fn();
      } finally {
        [this.dropoutSeed, this.dropoutCalls] = after;
      }
    };
  };

  /** Restarts the dropout masks' sequence (from `seed`, default the current one). */
  resetDropout(seed = this.dropoutSeed): void {
    this.dropoutSeed = seed;
    this.dropoutCalls = 0;
  }

  /**
   * The decoder's projection hook: base(x) + scaling * (dropout(x) . A^T) . B^T for adapted modules;
   * the plain base projection elsewhere, when disabled, or when merged. Each application in training
   * mode with dropout > 0 draws the next mask of the seeded sequence (so a recomputed forward draws new
   * masks).
   */
  readonly linear: LinearFn = (gpu, name, x, weight, bias) => {
    const ad = this.adapters.get(name);
    if (this.mergedFlag && !this.enabled)
      throw new LoraError(
        'the adapters are merged into the base weights; unmerge() before switching them off',
      );
    if (!ad || !this.enabled || this.mergedFlag) return linear(gpu, x, weight, bias);
    return gpu.scope(() => {
      const base = linear(gpu, x, weight, bias);
      let input = x;
      if (this.training && this.dropout > 0) {
        const mask = gpu.tensor(
          dropoutMask(this.dropoutSeed, this.dropoutCalls++, x.size, this.dropout),
          x.shape,
        );
        input = mul(gpu, x, mask);
      }
      const low = scale(gpu, linear(gpu, input, ad.A), this.scaling);
      return add(gpu, base, linear(gpu, low, ad.B));
    });
  };

  /** W += scaling * B A for every adapted module, in place (f32 weights only). */
  merge(weights: Weights): void {
    if (this.mergedFlag) throw new LoraError('the adapters are already merged');
    this.applyDelta(weights, this.scaling);
    this.mergedFlag = true;
  }

  /** W -= scaling * B A: undoes merge() (up to float rounding). */
  unmerge(weights: Weights): void {
    if (!this.mergedFlag) throw new LoraError('the adapters are not merged');
    this.applyDelta(weights, -this.scaling);
    this.mergedFlag = false;
  }

  private applyDelta(weights: Weights, s: number): void {
    const gpu = this.gpu;
    const targets = [...this.adapters.values()].map((ad) => {
      const w = weights.get(`${ad.module}.weight`);
      if (!w) throw new LoraError(`the weights have no '${ad.module}.weight' to merge into`);
      if (w.dtype !== 'f32')
        throw new LoraError(
          `'${ad.module}.weight' is ${w.dtype}; merging needs f32 weights (keep the adapters unmerged)`,
        );
      if (w.blocks)
        throw new LoraError(
          `'${ad.module}.weight' is over this device's maxBufferSize and stored in row blocks; merging needs ` +
            'it in one buffer (keep the adapters unmerged)',
        );
      return [ad, w] as const;
    });
    noGrad(gpu, () => {
      for (const [ad, w] of targets) {
        const delta = matmul(gpu, ad.B, ad.A);
        axpy(gpu, w, delta, s);
        delta.dispose();
      }
    });
  }

  /** The adapter as PEFT saves it: adapter_config.json and adapter_model.safetensors (f32). */
  async exportPeft(options: { baseModelNameOrPath?: string } = {}): Promise<PeftAdapterFiles> {
    const tensors: TensorToWrite[] = [];
    for (const ad of this.adapters.values()) {
      tensors.push({
        name: peftTensorName(ad.module, 'A'),
        dtype: 'F32',
        shape: [...ad.A.shape],
        data: await this.gpu.read(ad.A),
      });
      tensors.push({
        name: peftTensorName(ad.module, 'B'),
        dtype: 'F32',
        shape: [...ad.B.shape],
        data: await this.gpu.read(ad.B),
      });
    }
    const config: PeftAdapterConfig = {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: this.r,
      lora_alpha: this.alpha,
      lora_dropout: this.dropout,
      target_modules: peftTargetModules(this.targetModules),
      bias: 'none',
      base_model_name_or_path: options.baseModelNameOrPath ?? null,
      fan_in_fan_out: false,
      inference_mode: true,
      init_lora_weights: true,
      use_rslora: this.useRslora,
      use_dora: false,
      modules_to_save: null,
      layers_to_transform: null,
      layers_pattern: null,
      rank_pattern: {},
      alpha_pattern: {},
      revision: null,
    };
    return {
      'adapter_config.json': config,
      'adapter_model.safetensors': writeSafetensors(tensors, { format: 'pt' }),
    };
  }

  /** Releases the adapter tensors. */
  dispose(): void {
    for (const ad of this.adapters.values()) {
      ad.A.dispose();
      ad.B.dispose();
    }
  }
}

/** New adapters (A kaiming-uniform, B zeros, both trainable) on the decoder modules matching the targets. */
export function createLora(gpu: Gpu, config: ModelConfig, options: LoraOptions): Lora {
  return new Lora(gpu, config, options);
}

/** The LoRA settings of a PEFT adapter_config.json (parsed JSON or its text); unsupported forms throw. */
export function readPeftConfig(raw: unknown): LoraOptions {
  let json = raw;
  if (typeof raw === 'string') {
    try {
      json = JSON.parse(raw);
    } catch {
      throw new LoraError('adapter_config.json is not valid JSON');
    }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw new LoraError('adapter_config.json must hold a JSON object');
  const c = json as Record<string, unknown>;
  const unsupported = (what: string) =>
    new LoraError(`adapter_config.json: ${what} is not supported; export a plain LoRA adapter`);
  if (c.peft_type !== 'LORA') throw unsupported(`peft_type ${JSON.stringify(c.peft_type)}`);
  if (c.bias !== undefined && c.bias !== 'none') throw unsupported(`bias ${JSON.stringify(c.bias)}`);
  if (c.use_dora === true) throw unsupported('use_dora');
  if (c.fan_in_fan_out === true) throw unsupported('fan_in_fan_out');
  for (const k of ['rank_pattern', 'alpha_pattern'] as const)
    if (c[k] && typeof c[k] === 'object' && Object.keys(c[k] as object).length > 0) throw unsupported(k);
  for (const k of ['layers_to_transform', 'modules_to_save'] as const)
    if (c[k] !== undefined && c[k] !== null) throw unsupported(k);
  const r = c.r;
  const alpha = c.lora_alpha ?? 8;
  const targets = c.target_modules;
  if (typeof r !== 'number') throw new LoraError('adapter_config.json: r is missing or not a number');
  if (typeof alpha !== 'number') throw new LoraError('adapter_config.json: lora_alpha is not a number');
  const targetModules =
    typeof targets === 'string'
      ? targets
      : Array.isArray(targets) && targets.every((t) => typeof t === 'string')
        ? (targets as string[])
        : undefined;
  if (!targetModules)
    throw new LoraError('adapter_config.json: target_modules must be a list of names or a regex');
  const dropout = typeof c.lora_dropout === 'number' ? c.lora_dropout : 0;
  return { r, alpha, dropout, targetModules, useRslora: c.use_rslora === true };
}

/**
 * Loads a PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors) for this model. Tensor
 * names may use either HF layout (`model.layers.*` or `model.language_model.layers.*`); every adapted
 * module must have both matrices with the right shapes. The adapters come back trainable, in eval mode.
 */
export async function importPeft(
  gpu: Gpu,
  config: ModelConfig,
  files: PeftAdapterInput,
  options: { seed?: number } = {},
): Promise<Lora> {
  const settings = readPeftConfig(files['adapter_config.json']);
  const file = await openSafetensors(
    bytesSource(files['adapter_model.safetensors'], 'adapter_model.safetensors'),
  );
  const lora = new Lora(gpu, config, { ...settings, seed: options.seed, training: false });
  try {
    const loaded = new Set<string>();
    const unexpected: string[] = [];
    for (const info of file.tensors) {
      const m = /^(.+)\.lora_([AB])(?:\.[A-Za-z0-9_]+)?\.weight$/.exec(info.name);
      const module =
        m && info.name.startsWith(PEFT_PREFIX) ? canonicalName(m[1]!.slice(PEFT_PREFIX.length)) : undefined;
      const ad = module === undefined ? undefined : lora.adapters.get(module);
      if (!ad || !m) {
        unexpected.push(info.name);
        continue;
      }
      const t = m[2] === 'A' ? ad.A : ad.B;
      if (info.shape.length !== 2 || info.shape[0] !== t.shape[0] || info.shape[1] !== t.shape[1])
        throw new LoraError(
          `adapter tensor '${info.name}' is [${info.shape}], expected [${t.shape}]: the adapter was trained for another model or rank`,
        );
      gpu.write(t, await file.readF32(info.name));
      loaded.add(`${ad.module}.${m[2]}`);
    }
    if (unexpected.length)
      throw new LoraError(
        `adapter_model.safetensors holds ${unexpected.length} tensors that match no adapted module of this model ` +
          `(${unexpected.slice(0, 3).join(', ')}); check the base model and target_modules`,
      );
    const missing = [...lora.adapters.keys()].flatMap((mod) =>
      ['A', 'B'].filter((w) => !loaded.has(`${mod}.${w}`)).map((w) => peftTensorName(mod, w as 'A' | 'B')),
    );
    if (missing.length)
      throw new LoraError(
        `adapter_model.safetensors lacks ${missing.length} tensors target_modules calls for (${missing.slice(0, 3).join(', ')})`,
      );
    return lora;
  } catch (e) {
    lora.dispose();
    throw e;
  }
}

/**
 * Full fine-tuning: marks the base weights that `filter` picks (default all) trainable and returns them
 * by name. They must be f32 (an f16 weight cannot be trained).
 */
export function trainableWeights(
  weights: Weights,
  filter: (name: string) => boolean = () => true,
): Map<string, Tensor> {
  const chosen = new Map<string, Tensor>();
  for (const [name, t] of weights) {
    if (!filter(name)) continue;
    if (t.dtype !== 'f32') throw new LoraError(`'${name}' is ${t.dtype}; full fine-tuning needs f32 weights`);
    chosen.set(name, t);
  }
  for (const t of chosen.values()) markTrainable(t);
  return chosen;
}

/** Undoes trainableWeights: the picked base weights are frozen again. */
export function freezeWeights(weights: Weights, filter: (name: string) => boolean = () => true): void {
  for (const [name, t] of weights) if (filter(name)) markTrainable(t, false);
}
