// Float64 reference of the Qwen2-VL / Qwen2.5-VL vision tower and merger, written from transformers'
// qwen2_vl / qwen2_5_vl modeling definitions (PatchEmbed, rot_pos_emb, get_window_index, VisionBlock,
// PatchMerger) on the reference autodiff, so gradients can be compared too. Independent of src/.
import {
  add,
  gatherRows,
  geluV,
  layerNormV,
  linear,
  reshapeV,
  rmsNorm,
  rope,
  sliceColumns,
  swiglu,
  type V,
  varlenAttention,
} from './f64grad.ts';

export interface VisionRefConfig {
  kind: 'qwen2_vl' | 'qwen2_5_vl';
  embed: number;
  heads: number;
  depth: number;
  patchDim: number;
  outHidden: number;
  /** Qwen2.5-VL only: window edge in pixels, patch size and the full-attention blocks. */
  windowSize?: number;
  patchSize?: number;
  fullatt?: number[];
}

const MERGE = 2;

/** rot_pos_emb's hpos / wpos: arange(h) expanded over w, reshaped (h/2, 2, w/2, 2), permuted (0, 2, 1, 3). */
export function patchPositionsRef(grids: readonly (readonly number[])[]): { h: number[]; w: number[] } {
  const h: number[] = [];
  const w: number[] = [];
  for (const [t, gh, gw] of grids) {
    const hp: number[] = [];
    const wp: number[] = [];
    // index (a, b, c, d) of the (gh/2, 2, gw/2, 2) view is row a*2+b, col c*2+d; permuted order a, c, b, d.
    for (let a = 0; a < gh! / MERGE; a++)
      for (let c = 0; c < gw! / MERGE; c++)
        for (let b = 0; b < MERGE; b++)
          for (let d = 0; d < MERGE; d++) {
            hp.push(a * MERGE + b);
            wp.push(c * MERGE + d);
          }
    for (let f = 0; f < t!; f++) {
      h.push(...hp);
      w.push(...wp);
    }
  }
  return { h, w };
}

/** rot_pos_emb: [N, headDim/2] = [h * inv_freq, w * inv_freq], inv_freq = 1/10000^(arange(0, dim, 2)/dim), dim = headDim/2. */
export function visionAnglesRef(grids: readonly (readonly number[])[], headDim: number): Float64Array {
  const dim = headDim / 2;
  const inv: number[] = [];
  for (let k = 0; k < dim; k += 2) inv.push(1 / 10000 ** (k / dim));
  const { h, w } = patchPositionsRef(grids);
  const out = new Float64Array(h.length * dim);
  for (let s = 0; s < h.length; s++)
    inv.forEach((f, i) => {
      out[s * dim + i] = h[s]! * f;
      out[s * dim + inv.length + i] = w[s]! * f;
    });
  return out;
}

/**
 * get_window_index: per image and frame, the merged grid padded with -100 up to whole windows (pad =
 * win - n % win on each axis, a whole extra window when n is a multiple), viewed as windows, padding
 * dropped; cu_window_seqlens = cumulative window sizes * 4, consecutive duplicates removed.
 */
export function windowIndexRef(grids: readonly (readonly number[])[], windowSize: number, patchSize: number) {
  const win = windowSize / MERGE / patchSize;
  const index: number[] = [];
  const cu = [0];
  let base = 0;
  for (const [t, gh, gw] of grids) {
    const lh = gh! / MERGE;
    const lw = gw! / MERGE;
    const ph = lh + (win - (lh % win));
    const pw = lw + (win - (lw % win));
    for (let f = 0; f < t!; f++)
      for (let wh = 0; wh < ph / win; wh++)
        for (let ww = 0; ww < pw / win; ww++) {
          let count = 0;
          for (let r = 0; r < win; r++)
            for (let c = 0; c < win; c++) {
              const row = wh * win + r;
              const col = ww * win + c;
              if (row < lh && col < lw) {
                index.push(base + f * lh * lw + row * lw + col);
                count++;
              }
            }
          const next = cu.at(-1)! + count * MERGE * MERGE;
          if (next !== cu.at(-1)) cu.push(next);
        }
    base += t! * lh * lw;
  }
  return { index, cu };
}

/** cu_seqlens: repeat_interleave(h * w, t).cumsum, with a leading 0. */
export function cuSeqlensRef(grids: readonly (readonly number[])[]): number[] {
  const cu = [0];
  for (const [t, h, w] of grids) for (let f = 0; f < t!; f++) cu.push(cu.at(-1)! + h! * w!);
  return cu;
}

/** The tower + merger forward; `p(name)` gives the weight `visual.<name>` as a leaf. */
export function visionForwardRef(
  cfg: VisionRefConfig,
  p: (name: string) => V,
  pixels: V,
  grids: readonly (readonly number[])[],
): V {
  const E = cfg.embed;
  const H = cfg.heads;
  const D = E / H;
  const N = pixels.shape[0]!;
  const unit = MERGE * MERGE;
  const layer = cfg.kind === 'qwen2_vl';
  const nrm = (x: V, name: string) =>
    layer
      ? layerNormV(x, p(`${name}.weight`), p(`${name}.bias`), 1e-6)
      : rmsNorm(x, p(`${name}.weight`), 1e-6);

  let x = linear(pixels, reshapeV(p('patch_embed.proj.weight'), [E, cfg.patchDim]));
  let angles = visionAnglesRef(grids, D);
  const cuFull = cuSeqlensRef(grids);
  let cuWin = cuFull;
  let windowIndex: number[] | null = null;
  if (!layer) {
    const wi = windowIndexRef(grids, cfg.windowSize!, cfg.patchSize!);
    windowIndex = wi.index;
    cuWin = wi.cu;
    const perm = windowIndex.flatMap((u) => Array.from({ length: unit }, (_, j) => u * unit + j));
    x = gatherRows(x, perm);
    const half = D / 2;
    const reordered = new Float64Array(angles.length);
    perm.forEach((src, dst) => {
      for (let i = 0; i < half; i++) reordered[dst * half + i] = angles[src * half + i]!;
    });
    angles = reordered;
  }

  for (let i = 0; i < cfg.depth; i++) {
    const b = `blocks.${i}.`;
    const cu = layer || cfg.fullatt!.includes(i) ? cuFull : cuWin;
    const qkv = linear(nrm(x, `${b}norm1`), p(`${b}attn.qkv.weight`), p(`${b}attn.qkv.bias`));
    // qkv.reshape(S, 3, H, D): q, k, v are the column thirds.
    const q = rope(reshapeV(sliceColumns(qkv, 0, E), [N, H, D]), angles);
    const k = rope(reshapeV(sliceColumns(qkv, E, 2 * E), [N, H, D]), angles);
    const v = reshapeV(sliceColumns(qkv, 2 * E, 3 * E), [N, H, D]);
    const a = reshapeV(varlenAttention(q, k, v, cu), [N, E]);
    x = add(x, linear(a, p(`${b}attn.proj.weight`), p(`${b}attn.proj.bias`)));
    const h = nrm(x, `${b}norm2`);
    let m: V;
    if (layer) {
      const f = geluV(linear(h, p(`${b}mlp.fc1.weight`), p(`${b}mlp.fc1.bias`)), 'quick');
      m = linear(f, p(`${b}mlp.fc2.weight`), p(`${b}mlp.fc2.bias`));
    } else {
      const g = linear(h, p(`${b}mlp.gate_proj.weight`), p(`${b}mlp.gate_proj.bias`));
      const u = linear(h, p(`${b}mlp.up_proj.weight`), p(`${b}mlp.up_proj.bias`));
      m = linear(swiglu(g, u), p(`${b}mlp.down_proj.weight`), p(`${b}mlp.down_proj.bias`));
    }
    x = add(x, m);
  }
  const merged = reshapeV(nrm(x, 'merger.ln_q'), [N / unit, E * unit]);
  const hid = geluV(linear(merged, p('merger.mlp.0.weight'), p('merger.mlp.0.bias')), 'exact');
  let out = linear(hid, p('merger.mlp.2.weight'), p('merger.mlp.2.bias'));
  if (windowIndex) {
    // reverse_indices = argsort(window_index)
    const reverse = windowIndex.map((_, i) => i).sort((a, b) => windowIndex[a]! - windowIndex[b]!);
    out = gatherRows(out, reverse);
  }
  return out;
}
