// Scaled dot-product attention, flash-attention style, with grouped-query heads, causal masking,
// variable-length packing (block-diagonal per cu_seqlens) and key padding. The forward tiles over keys
// with an online softmax and saves the per-row logsumexp; the backward recomputes the probabilities
// from it (flash-attention-2: delta_i = rowsum(dO * O), dS = P * (dP - delta_i)). No [S, S] buffer is
// ever allocated. A query row with no key to attend gets a zero output and zero gradients. Three kernel
// families: one query (or key) row per invocation; on CPU adapters the subgroup kernels, which form each
// tile's scores as 16 x 32 matmul blocks with rows shared by subgroup broadcasts; on GPUs with subgroups
// the quad kernels, one row per four invocations, whose dk / dv run per query head and sum the heads'
// shares after.

import deltaCode from '../../../kernels/attention/attention_backward_delta.wgsl?raw';
import dkdvCode from '../../../kernels/attention/attention_backward_dkdv.wgsl?raw';
import dkdvQuadCode from '../../../kernels/attention/attention_backward_dkdv_quad.wgsl?raw';
import dkdvSgCode from '../../../kernels/attention/attention_backward_dkdv_sg.wgsl?raw';
import dqCode from '../../../kernels/attention/attention_backward_dq.wgsl?raw';
import dqQuadCode from '../../../kernels/attention/attention_backward_dq_quad.wgsl?raw';
import dqSgCode from '../../../kernels/attention/attention_backward_dq_sg.wgsl?raw';
import reduceCode from '../../../kernels/attention/attention_backward_reduce.wgsl?raw';
import forwardCode from '../../../kernels/attention/attention_forward.wgsl?raw';
import forwardQuadCode from '../../../kernels/attention/attention_forward_quad.wgsl?raw';
import forwardSgCode from '../../../kernels/attention/attention_forward_sg.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel, type Kernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const attentionForwardKernel = defineKernel('attention/attention_forward', forwardCode);
export const attentionForwardSgKernel = defineKernel('attention/attention_forward_sg', forwardSgCode);
export const attentionForwardQuadKernel = defineKernel('attention/attention_forward_quad', forwardQuadCode);
export const attentionDeltaKernel = defineKernel('attention/attention_backward_delta', deltaCode);
export const attentionDqKernel = defineKernel('attention/attention_backward_dq', dqCode);
export const attentionDkdvKernel = defineKernel('attention/attention_backward_dkdv', dkdvCode);
export const attentionDqSgKernel = defineKernel('attention/attention_backward_dq_sg', dqSgCode);
export const attentionDkdvSgKernel = defineKernel('attention/attention_backward_dkdv_sg', dkdvSgCode);
export const attentionDqQuadKernel = defineKernel('attention/attention_backward_dq_quad', dqQuadCode);
export const attentionDkdvQuadKernel = defineKernel('attention/attention_backward_dkdv_quad', dkdvQuadCode);
export const attentionReduceKernel = defineKernel('attention/attention_backward_reduce', reduceCode);

export interface AttentionOptions {
  causal: boolean;
  /** Multiplies q . k; default 1 / sqrt(head dim). */
  scale?: number;
  /** Sequence boundaries of packed sequences ([0, ..., S]): tokens attend only within their own. */
  cuSeqlens?: Int32Array | readonly number[];
  /** Length S; 1 / true marks a padded key, which no query attends. */
  keyPadding?: Uint8Array | readonly boolean[];
  /** Force the kernels (tests, benchmarks); default 'auto'. */
  path?: AttentionPath;
}

/**
 * Which kernels run: `subgroup` (the *_sg.wgsl kernels) where the adapter prefers subgroup kernels (CPU
 * adapters with 8 lanes or more); `quad` (the *_quad.wgsl kernels) on GPUs with subgroups; `general`
 * otherwise, or where the head dim is not a multiple of 4. Decoding runs the general kernel on GPUs.
 */
export type AttentionPath = 'auto' | 'general' | 'subgroup' | 'quad';

/** The kernel family `path` (default 'auto') resolves to for head dim D; `op` names the caller in errors. */
export function attentionKernels(gpu: Gpu, path: AttentionPath | undefined, D: number, op: string) {
  const chosen = path ?? 'auto';
  if (chosen === 'auto') {
    if (D % 4 !== 0 || !gpu.hasSubgroups) return 'general';
    if (gpu.prefersSubgroupKernels) return 'subgroup';
    return gpu.adapter.isFallback || gpu.adapter.subgroupMinSize < 4 ? 'general' : 'quad';
  }
  if (chosen !== 'general' && D % 4 !== 0)
    throw new ShapeError(`${op}: the ${chosen} kernel needs a head dim divisible by 4, got ${D}`);
  return chosen;
}

/** Largest head dim the kernels' private arrays hold, and largest key (query) tile in workgroup memory. */
const MAX_D = 128;
const MAX_TILE = 64;
/** Quad kernels: rows per workgroup (four invocations each), workgroup memory and key tile at most. */
const QUAD_ROWS = 64;
const QUAD_BYTES = 32768;
const QUAD_MAX_TILE = 32;

type Overrides = Record<string, number>;

/** One kernel family: its kernels, the rows per workgroup, and the pipeline constants per adapter. */
interface Family {
  forward: Kernel;
  dq: Kernel;
  dkdv: Kernel;
  /** Queries per workgroup of the forward and dq kernels; keys per workgroup of dkdv. */
  queryRows: number;
  keyRows: number;
  /** dkdv writes one share per query head, summed by attention_backward_reduce.wgsl. */
  sharesPerHead: boolean;
  overrides(gpu: Gpu, D: number): { queries: Overrides; keys: Overrides };
}

/** Keys (queries) per tile that fit `bytes` of workgroup memory with two [tile, D] f32 tiles. */
function tileFor(bytes: number, D: number, most: number): number {
  return Math.max(1, Math.min(most, Math.floor(bytes / (8 * D + 8))));
}

const FAMILIES: Record<'general' | 'subgroup' | 'quad', Family> = {
  general: {
    forward: attentionForwardKernel,
    dq: attentionDqKernel,
    dkdv: attentionDkdvKernel,
    queryRows: 64,
    keyRows: 64,
    sharesPerHead: false,
    overrides(gpu, D) {
      const tile = tileFor(Math.min(16384, gpu.device.limits.maxComputeWorkgroupStorageSize), D, MAX_TILE);
      return { queries: { D, BQ: 64, TK: tile }, keys: { D, BK: 64, TQ: tile } };
    },
  },
  subgroup: {
    forward: attentionForwardSgKernel,
    dq: attentionDqSgKernel,
    dkdv: attentionDkdvSgKernel,
    queryRows: 16,
    keyRows: 16,
    sharesPerHead: false,
    overrides: (_gpu, D) => ({ queries: { D }, keys: { D } }),
  },
  quad: {
    forward: attentionForwardQuadKernel,
    dq: attentionDqQuadKernel,
    dkdv: attentionDkdvQuadKernel,
    queryRows: QUAD_ROWS,
    keyRows: QUAD_ROWS,
    sharesPerHead: true,
    overrides(gpu, D) {
      const bytes = Math.min(QUAD_BYTES, gpu.device.limits.maxComputeWorkgroupStorageSize);
      const tile = tileFor(bytes, D, QUAD_MAX_TILE);
      return { queries: { D, BQ: QUAD_ROWS, TK: tile }, keys: { D, BK: QUAD_ROWS, TQ: tile } };
    },
  },
};

/** dk and dv [S, Hkv, D]: straight from dkdv, or (quad) from per-query-head shares and their sum. */
function keyGradients(
  gpu: Gpu,
  family: Family,
  t: { q: Tensor; k: Tensor; v: Tensor; dout: Tensor; stats: Tensor; mask: Tensor },
  { overrides, params }: { overrides: Overrides; params: ArrayBuffer },
): [Tensor, Tensor] {
  const [S, Hq, D] = t.q.shape as [number, number, number];
  const Hkv = t.k.shape[1]!;
  const shares = family.sharesPerHead;
  const dk = gpu.empty(shares ? t.q.shape : t.k.shape);
  const dv = gpu.empty(shares ? t.q.shape : t.k.shape);
  gpu.dispatch({
    kernel: family.dkdv,
    variant: { overrides },
    params,
    bindings: [t.q, t.k, t.v, t.dout, t.stats, t.mask, dk, dv],
    workgroups: [Math.ceil(S / family.keyRows), shares ? Hq : Hkv],
  });
  if (!shares || Hq === Hkv) return [dk, dv];
  const sumK = gpu.empty(t.k.shape);
  const sumV = gpu.empty(t.k.shape);
  const count = (S * Hkv * D) / 4;
  gpu.dispatch({
    kernel: attentionReduceKernel,
    variant: { overrides: { D, WG: 64 } },
    params: new Params()
      .u32(count)
      .u32(Hq / Hkv)
      .bytes(),
    bindings: [dk, dv, sumK, sumV],
    workgroups: gpu.grid(Math.ceil(count / 64)),
  });
  dk.dispose();
  dv.dispose();
  return [sumK, sumV];
}

/**
 * q [S, Hq, D], k and v [S, Hkv, D] (Hq a multiple of Hkv; query head h reads kv head
 * floor(h * Hkv / Hq)) -> [S, Hq, D].
 */
export function attention(gpu: Gpu, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions): Tensor {
  for (const [name, t] of [
    ['q', q],
    ['k', k],
    ['v', v],
  ] as const) {
    if (t.dtype !== 'f32') throw new ShapeError(`attention: ${name} must be f32, got ${t.dtype}`);
    if (t.shape.length !== 3) throw new ShapeError(`attention: ${name} must be [S, H, D], got [${t.shape}]`);
  }
  const [S, Hq, D] = q.shape as [number, number, number];
  const [Sk, Hkv, Dk] = k.shape as [number, number, number];
  if (Sk !== S || Dk !== D || v.shape[0] !== S || v.shape[1] !== Hkv || v.shape[2] !== D)
    throw new ShapeError(
      `attention: q [${q.shape}], k [${k.shape}], v [${v.shape}] must share S and D, and k and v their shape`,
    );
  if (S === 0 || Hq === 0 || Hkv === 0 || D === 0)
    throw new ShapeError(`attention: empty shapes q [${q.shape}], k [${k.shape}]`);
  if (Hq % Hkv !== 0)
    throw new ShapeError(`attention: ${Hq} query heads are not a multiple of ${Hkv} kv heads`);
  if (D > MAX_D) throw new ShapeError(`attention: head dim ${D} is over the supported ${MAX_D}`);
  const scale = opts.scale ?? 1 / Math.sqrt(D);
  if (!Number.isFinite(scale)) throw new ShapeError(`attention: scale ${scale} is not finite`);

  const path = attentionKernels(gpu, opts.path, D, 'attention');
  const family = FAMILIES[path];
  const {
    words: maskData,
    offsets: [qOffset, kOffset],
  } = buildMask(S, opts, [
    [family.queryRows, QUERIES],
    [family.keyRows, KEYS],
  ]);
  const mask = gpu.tensor(maskData, [maskData.length], 'u32');
  const params = (offset: number) => new Params().u32(S).u32(Hq).u32(Hkv).u32(offset).f32(scale).bytes();
  const overrides = family.overrides(gpu, D);

  const out = gpu.empty([S, Hq, D]);
  const lse = gpu.empty([S, Hq]);
  gpu.dispatch({
    kernel: family.forward,
    variant: { overrides: overrides.queries },
    params: params(qOffset!),
    bindings: [q, k, v, mask, out, lse],
    workgroups: [Math.ceil(S / family.queryRows), Hq],
  });

  record(gpu, [q, k, v], [out], [q, k, v, out, lse, mask], ([dout], needs) => {
    if (!dout) return [];
    const stats = gpu.empty([S, Hq, 2]);
    gpu.dispatch({
      kernel: attentionDeltaKernel,
      variant: { overrides: { D, WG: 64 } },
      params: new Params().u32(S * Hq).bytes(),
      bindings: [out, dout, lse, stats],
      workgroups: gpu.grid(Math.ceil((S * Hq) / 64)),
    });
    let dq: Tensor | undefined;
    let dk: Tensor | undefined;
    let dv: Tensor | undefined;
    if (needs[0]) {
      dq = gpu.empty(q.shape);
      gpu.dispatch({
        kernel: family.dq,
        variant: { overrides: overrides.queries },
        params: params(qOffset!),
        bindings: [q, k, v, dout, stats, mask, dq],
        workgroups: [Math.ceil(S / family.queryRows), Hq],
      });
    }
    if (needs[1] || needs[2]) {
      [dk, dv] = keyGradients(
        gpu,
        family,
        { q, k, v, dout, stats, mask },
        {
          overrides: overrides.keys,
          params: params(kOffset!),
        },
      );
      if (!needs[1]) {
        dk.dispose();
        dk = undefined;
      }
      if (!needs[2]) {
        dv.dispose();
        dv = undefined;
      }
    }
    stats.dispose();
    return [dq, dk, dv];
  });
  // The tape holds its own references to what it saved; drop ours without leaving them to a scope.
  lse.dispose();
  mask.dispose();
  return out;
}

/**
 * The word of a token's mask entry where a range starts: the keys a query attends (QUERIES) or the
 * queries a key has (KEYS).
 */
const QUERIES = 0;
const KEYS = 2;

/**
 * The mask as the kernels read it: per token t, (kLo, kHi, qLo, qHi): query t attends keys [kLo, kHi)
 * and key t is attended by queries [qLo, qHi) (empty for a padded key); padded keys inside a query's
 * range are skipped through the key's empty query range. Then, per [size, word] of `blockings`, one
 * section: per block of `size` queries (QUERIES) the union of their key ranges, or per block of `size`
 * keys (KEYS) the union of their query ranges; `offsets` says where each section starts.
 */
function buildMask(
  S: number,
  opts: AttentionOptions,
  blockings: [number, typeof QUERIES | typeof KEYS][],
): { words: Uint32Array; offsets: number[] } {
  const cu = opts.cuSeqlens ?? [0, S];
  if (cu.length < 2 || cu[0] !== 0 || cu[cu.length - 1] !== S)
    throw new ShapeError(`attention: cuSeqlens must run from 0 to S = ${S}, got [${Array.from(cu)}]`);
  const pad = opts.keyPadding;
  if (pad && pad.length !== S)
    throw new ShapeError(`attention: keyPadding has ${pad.length} entries for ${S} tokens`);
  const m = new Uint32Array(4 * S + blockings.reduce((n, [size]) => n + 2 * Math.ceil(S / size), 0));
  for (let s = 0; s + 1 < cu.length; s++) {
    const a = cu[s]!;
    const b = cu[s + 1]!;
    if (!Number.isInteger(a) || !Number.isInteger(b) || b < a)
      throw new ShapeError(`attention: cuSeqlens must be non-decreasing integers, got [${Array.from(cu)}]`);
    for (let t = a; t < b; t++) {
      m[4 * t] = a;
      m[4 * t + 1] = opts.causal ? t + 1 : b;
      if (!pad?.[t]) {
        m[4 * t + 2] = opts.causal ? t : a;
        m[4 * t + 3] = b;
      }
    }
  }
  const offsets: number[] = [];
  let at = 4 * S;
  for (const [size, word] of blockings) {
    offsets.push(at);
    at = blockRanges(m, S, size, word, at);
  }
  return { words: m, offsets };
}

/**
 * Writes at `at`, per block of `size` tokens, the union of the ranges held at word `word` (QUERIES: keys
 * attended, KEYS: queries attending) of each token, (0, 0) when all are empty; returns the next offset.
 */
function blockRanges(m: Uint32Array, S: number, size: number, word: number, at: number): number {
  const blocks = Math.ceil(S / size);
  for (let blk = 0; blk < blocks; blk++) {
    let lo = S;
    let hi = 0;
    for (let t = blk * size; t < Math.min(S, (blk + 1) * size); t++) {
      if (m[4 * t + word]! < m[4 * t + word + 1]!) {
        lo = Math.min(lo, m[4 * t + word]!);
        hi = Math.max(hi, m[4 * t + word + 1]!);
      }
    }
    m[at + 2 * blk] = lo < hi ? lo : 0;
    m[at + 2 * blk + 1] = lo < hi ? hi : 0;
  }
  return at + 2 * blocks;
}
