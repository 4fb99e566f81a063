// Float64 reference of the Qwen2 decoder forward (Qwen2-VL's language model), written from the model's
// definition with the autodiff ops of f64grad.ts: image features placed at the image-pad positions,
// pre-norm layers of GQA causal attention with M-RoPE and a SwiGLU MLP, final RMSNorm, LM head (tied or
// not). The M-RoPE angles are built here the way transformers does it (per-row frequencies, duplicated
// to the head dim, split into mrope_section * 2 chunks, chunk i read from row i % 3), independently of
// src/gpu/rope-angles.ts.
import * as R from './f64grad.ts';

export interface RefDecoderConfig {
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  eps: number;
  theta: number;
  section: readonly [number, number, number];
  tied: boolean;
  imageTokenId: number;
}

export interface RefDecoderInput {
  ids: ArrayLike<number>;
  /** (t, h, w) position rows. */
  positions: readonly [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>];
  /** Rows placed at the image-pad positions, in order. */
  features?: R.V;
}

/** M-RoPE angles [S, headDim/2] following transformers' chunked construction. */
export function refMropeAngles(
  positions: readonly [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>],
  headDim: number,
  theta: number,
  section: readonly [number, number, number],
): Float64Array {
  const S = positions[0].length;
  const half = headDim / 2;
  const invFreq = Array.from({ length: half }, (_, j) => 1 / theta ** ((2 * j) / headDim));
  // emb[g][s][d] for d < headDim: the row-g frequencies, concatenated with themselves.
  const emb = (g: number, s: number, d: number) => positions[g]![s]! * invFreq[d % half]!;
  const chunks = [...section, ...section];
  const full = new Float64Array(S * headDim);
  let d0 = 0;
  chunks.forEach((size, i) => {
    for (let s = 0; s < S; s++) for (let d = d0; d < d0 + size; d++) full[s * headDim + d] = emb(i % 3, s, d);
    d0 += size;
  });
  if (d0 !== headDim) throw new Error(`mrope section [${section}] does not cover head dim ${headDim}`);
  const out = new Float64Array(S * half);
  for (let s = 0; s < S; s++)
    for (let d = 0; d < half; d++) {
      const a = full[s * headDim + d]!;
      // Rotate-half pairs (d, d + half) must share one angle for the rotation to be a rotation.
      if (a !== full[s * headDim + half + d]) throw new Error('mrope halves disagree');
      out[s * half + d] = a;
    }
  return out;
}

/** The same values under another shape (gradient passes straight through). */
function reshape(x: R.V, shape: number[]): R.V {
  return new R.V(x.data, shape, [x], (self) => {
    for (let i = 0; i < x.size; i++) x.grad[i]! += self.grad[i]!;
  });
}

/** Row s of the result is row s of `text` unless ids[s] is the image id: then the next row of `features`. */
function splice(text: R.V, features: R.V | undefined, ids: ArrayLike<number>, imageId: number): R.V {
  const D = text.shape[1]!;
  const S = ids.length;
  const src: [R.V, number][] = [];
  let k = 0;
  for (let s = 0; s < S; s++) {
    if (ids[s] === imageId) {
      if (!features || k >= features.shape[0]!) throw new Error('more image pads than feature rows');
      src.push([features, k++]);
    } else src.push([text, s]);
  }
  if (features && k !== features.shape[0]) throw new Error('fewer image pads than feature rows');
  const y = new Float64Array(S * D);
  src.forEach(([v, r], s) => {
    for (let d = 0; d < D; d++) y[s * D + d] = v.data[r * D + d]!;
  });
  return new R.V(y, [S, D], features ? [text, features] : [text], (self) => {
    src.forEach(([v, r], s) => {
      for (let d = 0; d < D; d++) v.grad[r * D + d]! += self.grad[s * D + d]!;
    });
  });
}

/** Logits [S, vocab] of one sequence. Weights by HF name (`model.layers.0.self_attn.q_proj.weight`...). */
export function refDecoderForward(
  cfg: RefDecoderConfig,
  w: Record<string, R.V>,
  input: RefDecoderInput,
): R.V {
  const S = input.ids.length;
  const get = (name: string) => {
    const v = w[name];
    if (!v) throw new Error(`reference: no weight ${name}`);
    return v;
  };
  const angles = refMropeAngles(input.positions, cfg.headDim, cfg.theta, cfg.section);
  // Image-pad ids are outside nothing in particular: look up row 0 for them; splice replaces those rows.
  const lookup = Array.from(input.ids, (id) => (id === cfg.imageTokenId ? 0 : id));
  let x = splice(
    R.embed(get('model.embed_tokens.weight'), lookup),
    input.features,
    input.ids,
    cfg.imageTokenId,
  );
  for (let l = 0; l < cfg.layers; l++) {
    const p = (n: string) => get(`model.layers.${l}.${n}`);
    const h = R.rmsNorm(x, p('input_layernorm.weight'), cfg.eps);
    const proj = (m: string, input: R.V, bias: boolean) =>
      R.linear(input, p(`${m}.weight`), bias ? p(`${m}.bias`) : undefined);
    const q = R.rope(reshape(proj('self_attn.q_proj', h, true), [S, cfg.heads, cfg.headDim]), angles);
    const k = R.rope(reshape(proj('self_attn.k_proj', h, true), [S, cfg.kvHeads, cfg.headDim]), angles);
    const v = reshape(proj('self_attn.v_proj', h, true), [S, cfg.kvHeads, cfg.headDim]);
    const a = reshape(R.causalAttention(q, k, v), [S, cfg.heads * cfg.headDim]);
    x = R.add(x, proj('self_attn.o_proj', a, false));
    const h2 = R.rmsNorm(x, p('post_attention_layernorm.weight'), cfg.eps);
    x = R.add(
      x,
      proj(
        'mlp.down_proj',
        R.swiglu(proj('mlp.gate_proj', h2, false), proj('mlp.up_proj', h2, false)),
        false,
      ),
    );
  }
  const normed = R.rmsNorm(x, get('model.norm.weight'), cfg.eps);
  return R.linear(normed, get(cfg.tied ? 'model.embed_tokens.weight' : 'lm_head.weight'));
}

/** sum(logits * weights): a scalar to back-propagate from. */
export function weightedSum(x: R.V, weights: ArrayLike<number>): R.V {
  let s = 0;
  for (let i = 0; i < x.size; i++) s += x.data[i]! * weights[i]!;
  return new R.V(Float64Array.of(s), [1], [x], (self) => {
    for (let i = 0; i < x.size; i++) x.grad[i]! += self.grad[0]! * weights[i]!;
  });
}
