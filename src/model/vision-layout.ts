// Host-side layout of the vision tower's token sequence for a batch of images: each patch's (row, col)
// for the 2D RoPE, the attention boundaries (one sequence per temporal frame), and for Qwen2.5-VL the
// window order (merged 2x2 units regrouped window by window) with the windows' boundaries.
import type { VisionConfig } from './config.ts';
import { VisionInputError } from './errors.ts';

/** One image's `image_grid_thw`: [grid_t, grid_h, grid_w] in patches. */
export type ImageGrid = readonly [number, number, number];

export interface VisionLayout {
  /** Patches in all images (rows of pixel_values). */
  patches: number;
  /** Patch row and column on its image's grid, in pixel_values order (merge block by merge block). */
  rows: Int32Array;
  cols: Int32Array;
  /** Boundaries of full attention in pixel_values order: one sequence per frame of each image. */
  cuSeqlens: number[];
  /**
   * Window order of merged units (Qwen2.5-VL): windowUnits[i] is the merged unit (4 consecutive patches)
   * placed at position i; null without windowed attention.
   */
  windowUnits: Int32Array | null;
  /** Boundaries of the windows in window order (patches); null without windowed attention. */
  windowCuSeqlens: number[] | null;
}

function checkGrids(v: VisionConfig, grids: readonly ImageGrid[]): void {
  if (grids.length === 0) throw new VisionInputError('no image grids given; pass one [t, h, w] per image');
  const m = v.spatialMergeSize;
  grids.forEach((g, i) => {
    if (g.length !== 3 || !g.every((d) => Number.isInteger(d) && d > 0))
      throw new VisionInputError(`image ${i}: grid [${g}] must be three positive integers [t, h, w]`);
    if (g[1] % m !== 0 || g[2] % m !== 0)
      throw new VisionInputError(
        `image ${i}: grid ${g[1]}x${g[2]} is not a multiple of spatial_merge_size ${m}; use the image processor's image_grid_thw`,
      );
  });
}

/** The sequence layout of `grids` under `v`. */
export function visionLayout(v: VisionConfig, grids: readonly ImageGrid[]): VisionLayout {
  checkGrids(v, grids);
  const m = v.spatialMergeSize;
  const unit = m * m;
  const patches = grids.reduce((a, [t, h, w]) => a + t * h * w, 0);
  const rows = new Int32Array(patches);
  const cols = new Int32Array(patches);
  const cuSeqlens = [0];
  let k = 0;
  for (const [t, h, w] of grids)
    for (let f = 0; f < t; f++) {
      for (let bh = 0; bh < h / m; bh++)
        for (let bw = 0; bw < w / m; bw++)
          for (let ih = 0; ih < m; ih++)
            for (let iw = 0; iw < m; iw++) {
              rows[k] = bh * m + ih;
              cols[k] = bw * m + iw;
              k++;
            }
      cuSeqlens.push(k);
    }

  if (v.windowSize === null)
    return { patches, rows, cols, cuSeqlens, windowUnits: null, windowCuSeqlens: null };
  // Window edge in merged units; windows tile each frame's merged grid from the top left, the last row
  // and column of windows cut short at the frame's edge.
  const win = v.windowSize / m / v.patchSize;
  const windowUnits = new Int32Array(patches / unit);
  const windowCuSeqlens = [0];
  let at = 0;
  let base = 0;
  for (const [t, h, w] of grids) {
    const uh = h / m;
    const uw = w / m;
    for (let f = 0; f < t; f++) {
      for (let wr = 0; wr < uh; wr += win)
        for (let wc = 0; wc < uw; wc += win) {
          for (let r = wr; r < Math.min(wr + win, uh); r++)
            for (let c = wc; c < Math.min(wc + win, uw); c++) windowUnits[at++] = base + r * uw + c;
          windowCuSeqlens.push(at * unit);
        }
      base += uh * uw;
    }
  }
  return { patches, rows, cols, cuSeqlens, windowUnits, windowCuSeqlens };
}

/** Patch order of the window layout: entry i is the pixel_values row placed at position i. */
export function windowPatchOrder(windowUnits: Int32Array, unit: number): Int32Array {
  const out = new Int32Array(windowUnits.length * unit);
  for (let i = 0; i < windowUnits.length; i++)
    for (let j = 0; j < unit; j++) out[i * unit + j] = windowUnits[i]! * unit + j;
  return out;
}

/** The inverse permutation: out[perm[i]] = i. */
export function invertPermutation(perm: Int32Array): Int32Array {
  const out = new Int32Array(perm.length);
  for (let i = 0; i < perm.length; i++) out[perm[i]!] = i;
  return out;
}
