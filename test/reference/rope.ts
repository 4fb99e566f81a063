// Float64 references for rotary embeddings, written from HF transformers' qwen2_vl formulas: full
// head_dim angle tables (emb = cat(freqs, freqs)), M-RoPE's `mrope_section * 2` split, the vision
// tower's rot_pos_emb index math, and q * cos + rotate_half(q) * sin.

/** 1 / theta^(arange(0, dim, 2) / dim). */
export function invFreqRef(dim: number, theta: number): Float64Array {
  const out: number[] = [];
  for (let k = 0; k < dim; k += 2) out.push(1 / theta ** (k / dim));
  return Float64Array.from(out);
}

/** emb = cat(outer(pos, inv_freq), outer(pos, inv_freq)): [S, D]. */
function embRef(positions: ArrayLike<number>, dim: number, theta: number): Float64Array[] {
  const inv = invFreqRef(dim, theta);
  return Array.from(positions, (p) => {
    const freqs = Array.from(inv, (f) => p * f);
    return Float64Array.from([...freqs, ...freqs]);
  });
}

/** Full-width [S * D] angles of standard RoPE. */
export function rope1dEmbRef(positions: ArrayLike<number>, D: number, theta: number): Float64Array {
  return Float64Array.from(embRef(positions, D, theta).flatMap((r) => Array.from(r)));
}

/**
 * M-RoPE as apply_multimodal_rotary_pos_emb does it: emb for each of the three position rows, split the
 * last dim by mrope_section * 2 and take chunk i from row i % 3.
 */
export function mropeEmbRef(
  pos3: ArrayLike<number>[],
  D: number,
  theta: number,
  section: number[],
): Float64Array {
  const embs = pos3.map((p) => embRef(p, D, theta));
  const sizes = [...section, ...section];
  const S = pos3[0]!.length;
  const out: number[] = [];
  for (let s = 0; s < S; s++) {
    let start = 0;
    sizes.forEach((n, i) => {
      out.push(...embs[i % 3]![s]!.slice(start, start + n));
      start += n;
    });
  }
  return Float64Array.from(out);
}

/**
 * Vision rot_pos_emb: hpos/wpos from arange grids reshaped (h/m, m, w/m, m), permuted (0, 2, 1, 3) and
 * flattened, repeated t times; rotary_pos_emb = cat(full[hpos], full[wpos]) with
 * full = outer(arange(max_grid), inv_freq(D/2)); then emb = cat(rotary_pos_emb, rotary_pos_emb).
 */
export function visionEmbRef(
  t: number,
  h: number,
  w: number,
  m: number,
  D: number,
  theta: number,
): Float64Array {
  const hm = h / m;
  const wm = w / m;
  const hpos: number[] = [];
  const wpos: number[] = [];
  // Element (a, b, c, d) of the permuted (h/m, w/m, m, m) array is element (a, c, b, d) of the reshaped
  // (h/m, m, w/m, m) one, i.e. grid row a*m + c, grid col b*m + d.
  for (let a = 0; a < hm; a++)
    for (let b = 0; b < wm; b++)
      for (let c = 0; c < m; c++)
        for (let d = 0; d < m; d++) {
          hpos.push(a * m + c);
          wpos.push(b * m + d);
        }
  const inv = invFreqRef(D / 2, theta);
  const full = (p: number) => Array.from(inv, (f) => p * f);
  const out: number[] = [];
  for (let k = 0; k < t; k++)
    for (let s = 0; s < hpos.length; s++) {
      const r = [...full(hpos[s]!), ...full(wpos[s]!)];
      out.push(...r, ...r);
    }
  return Float64Array.from(out);
}

/** q * cos + rotate_half(q) * sin, rotate_half(q) = cat(-q2, q1); q [S, H, D], cos/sin [S, D]. */
export function applyRopeRef(
  q: ArrayLike<number>,
  cos: ArrayLike<number>,
  sin: ArrayLike<number>,
  S: number,
  H: number,
  D: number,
): Float64Array {
  const out = new Float64Array(S * H * D);
  const half = D / 2;
  for (let s = 0; s < S; s++)
    for (let h = 0; h < H; h++) {
      const base = (s * H + h) * D;
      for (let d = 0; d < D; d++) {
        const rot = d < half ? -q[base + d + half]! : q[base + d - half]!;
        out[base + d] = q[base + d]! * cos[s * D + d]! + rot * sin[s * D + d]!;
      }
    }
  return out;
}
