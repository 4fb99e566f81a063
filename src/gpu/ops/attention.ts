// Scaled dot-product attention, flash-attention style, with grouped-query heads, causal masking,
// variable-length packing (block-diagonal per cu_seqlens) and key padding. The forward tiles over keys
// with an online softmax and saves the per-row logsumexp; the backward recomputes the probabilities
// from it (flash-attention-2: delta_i = rowsum(dO * O), dS = P * (dP - delta_i)). No [S, S] buffer is
// ever allocated. A query row with no key to attend gets a zero output and zero gradients. Two kernel
// families: one query (or key) row per invocation, and on CPU adapters the subgroup kernels, which form
// each tile's scores as 16 x 32 (dk, dv: 8 x 32) matmul blocks with rows shared by subgroup broadcasts.

import deltaCode from '../../../kernels/attention_backward_delta.wgsl?raw';
import dkdvCode from '../../../kernels/attention_backward_dkdv.wgsl?raw';
import dkdvSgCode from '../../../kernels/attention_backward_dkdv_sg.wgsl?raw';
import dqCode from '../../../kernels/attention_backward_dq.wgsl?raw';
import dqSgCode from '../../../kernels/attention_backward_dq_sg.wgsl?raw';
import forwardCode from '../../../kernels/attention_forward.wgsl?raw';
import forwardSgCode from '../../../kernels/attention_forward_sg.wgsl?raw';
import { record } from '../autograd.ts';
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { defineKernel } from '../kernel.ts';
import { Params } from '../params.ts';
import type { Tensor } from '../tensor.ts';

export const attentionForwardKernel = defineKernel('attention_forward', forwardCode);
export const attentionForwardSgKernel = defineKernel('attention_forward_sg', forwardSgCode);
export const attentionDeltaKernel = defineKernel('attention_backward_delta', deltaCode);
export const attentionDqKernel = defineKernel('attention_backward_dq', dqCode);
export const attentionDkdvKernel = defineKernel('attention_backward_dkdv', dkdvCode);
export const attentionDqSgKernel = defineKernel('attention_backward_dq_sg', dqSgCode);
export const attentionDkdvSgKernel = defineKernel('attention_backward_dkdv_sg', dkdvSgCode);

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
 * adapters) and the head dim is a multiple of 4; otherwise `general`.
 */
export type AttentionPath = 'auto' | 'general' | 'subgroup';

/** The kernel family `path` (default 'auto') resolves to for head dim D; `op` names the caller in errors. */
export function attentionKernels(gpu: Gpu, path: AttentionPath | undefined, D: number, op: string) {
  const chosen = path ?? 'auto';
  if (chosen === 'auto') return gpu.prefersSubgroupKernels && D % 4 === 0 ? 'subgroup' : 'general';
  if (chosen === 'subgroup' && D % 4 !== 0)
    throw new ShapeError(`${op}: the subgroup kernel needs a head dim divisible by 4, got ${D}`);
  return chosen;
}

/** Queries per workgroup of the subgroup forward and dq kernels; keys per workgroup of their dk, dv. */
const SG_QUERY_ROWS = 16;
const SG_BLOCK = 8;

/** Queries (and keys) per workgroup. */
const BLOCK = 64;
/** Largest head dim and key tile the kernels' private arrays hold. */
const MAX_D = 128;
const MAX_TILE = 64;

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

  const sg = attentionKernels(gpu, opts.path, D, 'attention') === 'subgroup';
  const qBlock = sg ? SG_QUERY_ROWS : BLOCK;
  const kBlock = sg ? SG_BLOCK : BLOCK;
  const {
    words: maskData,
    offsets: [fwdOffset, bwdOffset],
  } = buildMask(S, opts, [
    [qBlock, QUERIES],
    [kBlock, KEYS],
  ]);
  const mask = gpu.tensor(maskData, [maskData.length], 'u32');
  const wgBytes = Math.min(16384, gpu.device.limits.maxComputeWorkgroupStorageSize);
  const tile = Math.max(1, Math.min(MAX_TILE, Math.floor(wgBytes / (8 * D + 8))));
  const params = (offset: number) => new Params().u32(S).u32(Hq).u32(Hkv).u32(offset).f32(scale).bytes();

  const out = gpu.empty([S, Hq, D]);
  const lse = gpu.empty([S, Hq]);
  gpu.dispatch({
    kernel: sg ? attentionForwardSgKernel : attentionForwardKernel,
    variant: { overrides: sg ? { D } : { D, BQ: BLOCK, TK: tile } },
    params: params(fwdOffset!),
    bindings: [q, k, v, mask, out, lse],
    workgroups: [Math.ceil(S / qBlock), Hq],
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
        kernel: sg ? attentionDqSgKernel : attentionDqKernel,
        variant: { overrides: sg ? { D } : { D, BQ: BLOCK, TK: tile } },
        params: params(fwdOffset!),
        bindings: [q, k, v, dout, stats, mask, dq],
        workgroups: [Math.ceil(S / qBlock), Hq],
      });
    }
    if (needs[1] || needs[2]) {
      dk = gpu.empty(k.shape);
      dv = gpu.empty(v.shape);
      gpu.dispatch({
        kernel: sg ? attentionDkdvSgKernel : attentionDkdvKernel,
        variant: { overrides: sg ? { D } : { D, BK: BLOCK, TQ: tile } },
        params: params(bwdOffset!),
        bindings: [q, k, v, dout, stats, mask, dk, dv],
        workgroups: [Math.ceil(S / kBlock), Hkv],
      });
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
