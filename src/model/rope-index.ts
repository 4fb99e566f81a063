// M-RoPE position indexes for a Qwen2-VL / Qwen2.5-VL prompt with still images (transformers'
// get_rope_index): three position rows (t, h, w) per token, and the delta decoding adds to token indexes.

import { RopeIndexError } from './errors.ts';

export interface RopeIndexOptions {
  imageTokenId?: number;
  visionStartId?: number;
  spatialMergeSize?: number;
}

export interface RopeIndex {
  /** Position rows [t, h, w], each one entry a token. */
  positions: [Int32Array, Int32Array, Int32Array];
  /** max position + 1 - sequence length: decoding uses position = token index + ropeDelta. */
  ropeDelta: number;
}

/**
 * Positions for one sequence. Text tokens get t = h = w = a running index; the pad tokens of an image
 * (one a merged 2x2 patch block) that starts after s positions get t = s + frame, h = s + row,
 * w = s + col on the merged grid; text after an image resumes at the largest position so far + 1.
 * An image is a `<|vision_start|>` followed by its pad tokens; `imageGridThw` lists them in order.
 */
export function getRopeIndex(
  inputIds: ArrayLike<number>,
  imageGridThw: ReadonlyArray<readonly [number, number, number]>,
  options: RopeIndexOptions = {},
): RopeIndex {
  const imageTokenId = options.imageTokenId ?? 151655;
  const visionStartId = options.visionStartId ?? 151652;
  const merge = options.spatialMergeSize ?? 2;
  const n = inputIds.length;

  let imageCount = 0;
  for (let i = 0; i + 1 < n; i++) {
    if (inputIds[i] === visionStartId && inputIds[i + 1] === imageTokenId) imageCount++;
  }
  if (imageCount !== imageGridThw.length) {
    throw new RopeIndexError(
      `the prompt holds ${imageCount} image(s) (<|vision_start|> followed by <|image_pad|>) but ` +
        `${imageGridThw.length} image grid(s) were given; pass one grid_thw for each image, in order`,
    );
  }

  const t = new Int32Array(n);
  const h = new Int32Array(n);
  const w = new Int32Array(n);
  let next = 0; // the position the next text token takes
  let st = 0; // the next token index to place
  const placeText = (end: number): void => {
    for (; st < end; st++) {
      t[st] = next;
      h[st] = next;
      w[st] = next;
      next++;
    }
  };

  for (let img = 0; img < imageGridThw.length; img++) {
    const [gt, gh, gw] = imageGridThw[img]!;
    if (gt <= 0 || gh <= 0 || gw <= 0 || gh % merge !== 0 || gw % merge !== 0) {
      throw new RopeIndexError(
        `image ${img}: grid_thw [${gt}, ${gh}, ${gw}] is not a positive grid divisible by the merge size ${merge}`,
      );
    }
    let ed = st;
    while (ed < n && inputIds[ed] !== imageTokenId) ed++;
    const lh = gh / merge;
    const lw = gw / merge;
    const count = gt * lh * lw;
    for (let i = ed; i < ed + count; i++) {
      if (i >= n || inputIds[i] !== imageTokenId) {
        throw new RopeIndexError(
          `image ${img}: grid_thw [${gt}, ${gh}, ${gw}] needs ${count} consecutive <|image_pad|> tokens at ` +
            `index ${ed}, found ${i - ed}; expand each image's pad to grid_t*grid_h*grid_w/${merge * merge} tokens`,
        );
      }
    }
    placeText(ed);
    const s = next;
    let maxPos = s - 1;
    let i = ed;
    for (let ft = 0; ft < gt; ft++) {
      for (let r = 0; r < lh; r++) {
        for (let c = 0; c < lw; c++) {
          t[i] = s + ft;
          h[i] = s + r;
          w[i] = s + c;
          maxPos = Math.max(maxPos, s + ft, s + r, s + c);
          i++;
        }
      }
    }
    st = ed + count;
    next = maxPos + 1;
  }
  placeText(n);
  const ropeDelta = n === 0 ? 0 : next - n;
  return { positions: [t, h, w], ropeDelta };
}
