// Rotary position angles, built on the CPU in float64 for the three Qwen-VL variants: 1D RoPE, the
// decoder's M-RoPE (t/h/w position rows split over frequency slots by `mrope_section`) and the vision
// tower's 2D RoPE (row and column angles side by side). Each returns [S, headDim/2] angles, one per
// rotate-half pair (i, i + headDim/2); `ropeCosSin` turns them into the table the rope kernels read.
import { ShapeError } from './errors.ts';

const frequencies = new Map<string, Float64Array>();

/** inv_freq[i] = 1 / theta^(2i / dim) for i < dim/2, as HF's rotary embeddings define it (shared: read only). */
export function inverseFrequencies(dim: number, theta: number): Float64Array {
  const key = `${dim}|${theta}`;
  let out = frequencies.get(key);
  if (!out) {
    out = new Float64Array(dim / 2);
    for (let i = 0; i < out.length; i++) out[i] = 1 / theta ** ((2 * i) / dim);
    frequencies.set(key, out);
  }
  return out;
}

function checkHeadDim(fn: string, headDim: number, multiple: number): void {
  if (!Number.isInteger(headDim) || headDim <= 0 || headDim % multiple !== 0)
    throw new ShapeError(`${fn}: headDim must be a positive multiple of ${multiple}, got ${headDim}`);
}

/** Standard RoPE: angle[s][i] = positions[s] * inv_freq[i], i < headDim/2. */
export function ropeAngles1d(positions: ArrayLike<number>, headDim: number, theta = 1e6): Float64Array {
  checkHeadDim('ropeAngles1d', headDim, 2);
  const half = headDim / 2;
  const inv = inverseFrequencies(headDim, theta);
  const out = new Float64Array(positions.length * half);
  for (let s = 0; s < positions.length; s++)
    for (let i = 0; i < half; i++) out[s * half + i] = positions[s]! * inv[i]!;
  return out;
}

/**
 * M-RoPE: frequency slot i takes its position from row g of `positions3` (t, h, w), where g is the
 * section of `section` (e.g. [16, 24, 24], summing to headDim/2) that slot i falls in. The rotate-half
 * pairing makes the split repeat on the second half of the head, as in HF's `mrope_section * 2`.
 */
export function mropeAngles(
  positions3: readonly [ArrayLike<number>, ArrayLike<number>, ArrayLike<number>],
  headDim: number,
  theta = 1e6,
  section: readonly number[] = [16, 24, 24],
): Float64Array {
  checkHeadDim('mropeAngles', headDim, 2);
  const half = headDim / 2;
  const S = positions3[0].length;
  if (positions3[1].length !== S || positions3[2].length !== S)
    throw new ShapeError(
      `mropeAngles: position rows differ in length (${positions3.map((p) => p.length).join(', ')})`,
    );
  if (section.length !== 3 || section.some((n) => !Number.isInteger(n) || n < 0))
    throw new ShapeError(`mropeAngles: mrope_section must be three non-negative integers, got [${section}]`);
  if (section[0]! + section[1]! + section[2]! !== half)
    throw new ShapeError(`mropeAngles: mrope_section [${section}] must sum to headDim/2 = ${half}`);
  const inv = inverseFrequencies(headDim, theta);
  const row = new Uint8Array(half);
  for (let i = section[0]!; i < half; i++) row[i] = i < section[0]! + section[1]! ? 1 : 2;
  const out = new Float64Array(S * half);
  for (let s = 0; s < S; s++)
    for (let i = 0; i < half; i++) out[s * half + i] = positions3[row[i]!]![s]! * inv[i]!;
  return out;
}

/**
 * Vision 2D RoPE: angle[s] = [rows[s] * f, cols[s] * f] with f = inv_freq over headDim/2 (headDim/4
 * frequencies), theta 10000 for Qwen2-VL's tower.
 */
export function visionRopeAngles(
  rows: ArrayLike<number>,
  cols: ArrayLike<number>,
  headDim: number,
  theta = 10000,
): Float64Array {
  checkHeadDim('visionRopeAngles', headDim, 4);
  if (rows.length !== cols.length)
    throw new ShapeError(`visionRopeAngles: ${rows.length} rows but ${cols.length} cols`);
  const half = headDim / 2;
  const quarter = headDim / 4;
  const inv = inverseFrequencies(half, theta);
  const out = new Float64Array(rows.length * half);
  for (let s = 0; s < rows.length; s++)
    for (let i = 0; i < quarter; i++) {
      out[s * half + i] = rows[s]! * inv[i]!;
      out[s * half + quarter + i] = cols[s]! * inv[i]!;
    }
  return out;
}

/**
 * (row, col) of every patch of a grid_t x grid_h x grid_w image in the tower's order: 2x2 (mergeSize)
 * merge blocks row by row, patches row by row inside a block, repeated for each temporal slice.
 */
export function visionPatchPositions(
  gridT: number,
  gridH: number,
  gridW: number,
  mergeSize = 2,
): { rows: Int32Array; cols: Int32Array } {
  if (gridH % mergeSize !== 0 || gridW % mergeSize !== 0)
    throw new ShapeError(`visionPatchPositions: grid ${gridH}x${gridW} is not a multiple of ${mergeSize}`);
  const n = gridT * gridH * gridW;
  const rows = new Int32Array(n);
  const cols = new Int32Array(n);
  let k = 0;
  for (let t = 0; t < gridT; t++)
    for (let bh = 0; bh < gridH / mergeSize; bh++)
      for (let bw = 0; bw < gridW / mergeSize; bw++)
        for (let ih = 0; ih < mergeSize; ih++)
          for (let iw = 0; iw < mergeSize; iw++) {
            rows[k] = bh * mergeSize + ih;
            cols[k] = bw * mergeSize + iw;
            k++;
          }
  return { rows, cols };
}

/**
 * The table the rope kernels read: [S, 2 * half] with cos(angle) in the first half of a row and
 * sin(angle) in the second, evaluated in float64 (GPU sin/cos lose accuracy on large angles).
 */
export function ropeCosSin(angles: ArrayLike<number>, half: number): Float32Array {
  if (!Number.isInteger(half) || half <= 0 || angles.length % half !== 0)
    throw new ShapeError(`ropeCosSin: ${angles.length} angles are not rows of ${half}`);
  const S = angles.length / half;
  const out = new Float32Array(S * 2 * half);
  for (let s = 0; s < S; s++)
    for (let i = 0; i < half; i++) {
      const a = angles[s * half + i]!;
      out[s * 2 * half + i] = Math.cos(a);
      out[s * 2 * half + half + i] = Math.sin(a);
    }
  return out;
}
