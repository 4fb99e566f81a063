// The float64 reference of the full Qwen-VL forward shared by the model tests: transformers'
// get_rope_index re-stated for still images, the reference configs read from a ModelConfig, and the
// composition of test/reference/qwen2-vision.ts (tower + merger) and qwen2-decoder.ts into logits.
import type { ModelConfig } from '../../src/model/config.ts';
import type { ImageGrid } from '../../src/model/vision-layout.ts';
import * as R from '../reference/f64grad.ts';
import { type RefDecoderConfig, refDecoderForward } from '../reference/qwen2-decoder.ts';
import { type VisionRefConfig, visionForwardRef } from '../reference/qwen2-vision.ts';

/**
 * transformers' get_rope_index for still images, re-stated: for each image, the text before it gets
 * arange(text_len) + st_idx (st_idx = max so far + 1), the image's llm grid gets t/h/w indexes
 * + text_len + st_idx; the text after the last image continues the same way.
 */
export function ropeIndexRef(
  ids: readonly number[],
  grids: readonly ImageGrid[],
  imageId: number,
  merge = 2,
): [number[], number[], number[]] {
  const out: [number[], number[], number[]] = [[], [], []];
  const stIdx = () => (out[0].length === 0 ? 0 : Math.max(...out[0], ...out[1], ...out[2]) + 1);
  let st = 0;
  for (const [t, h, w] of grids) {
    const ed = ids.indexOf(imageId, st);
    const [lt, lh, lw] = [t, h / merge, w / merge];
    const textLen = ed - st;
    const s0 = stIdx();
    for (let i = 0; i < textLen; i++) for (const row of out) row.push(s0 + i);
    for (let a = 0; a < lt; a++)
      for (let b = 0; b < lh; b++)
        for (let c = 0; c < lw; c++) {
          out[0].push(a + textLen + s0);
          out[1].push(b + textLen + s0);
          out[2].push(c + textLen + s0);
        }
    st = ed + lt * lh * lw;
  }
  if (st < ids.length) {
    const s0 = stIdx();
    for (let i = 0; i < ids.length - st; i++) for (const row of out) row.push(s0 + i);
  }
  return out;
}

/** before, <vision_start>, the image's pads, <vision_end>, after. */
export function promptIds(c: ModelConfig, before: number[], grid: ImageGrid, after: number[]): number[] {
  const pads = (grid[0] * grid[1] * grid[2]) / 4;
  return [
    ...before,
    c.tokens.visionStartTokenId,
    ...Array(pads).fill(c.tokens.imageTokenId),
    c.tokens.visionEndTokenId,
    ...after,
  ];
}

export function decoderRefConfig(c: ModelConfig): RefDecoderConfig {
  const t = c.text;
  return {
    hidden: t.hiddenSize,
    layers: t.numHiddenLayers,
    heads: t.numAttentionHeads,
    kvHeads: t.numKeyValueHeads,
    headDim: t.headDim,
    eps: t.rmsNormEps,
    theta: t.ropeTheta,
    section: t.mropeSection,
    tied: t.tieWordEmbeddings,
    imageTokenId: c.tokens.imageTokenId,
  };
}

export function visionRefConfig(c: ModelConfig): VisionRefConfig {
  const v = c.vision;
  return {
    kind: c.modelType,
    embed: v.hiddenSize,
    heads: v.numHeads,
    depth: v.depth,
    patchDim: v.patchDim,
    outHidden: v.outHiddenSize,
    windowSize: v.windowSize ?? undefined,
    patchSize: v.patchSize,
    fullatt: v.fullattBlockIndexes,
  };
}

/**
 * Reference logits [S, vocab] of the full model, differentiable in every leaf: the pixels through the
 * vision tower and merger (weights `visual.*`), spliced at the image pads, positions from ropeIndexRef.
 */
export function refModelLogits(
  c: ModelConfig,
  leaves: Record<string, R.V>,
  ids: readonly number[],
  pixels: ArrayLike<number> | undefined,
  grids: readonly ImageGrid[],
): R.V {
  let features: R.V | undefined;
  if (pixels) {
    const N = pixels.length / c.vision.patchDim;
    features = visionForwardRef(
      visionRefConfig(c),
      (n) => {
        const v = leaves[`visual.${n}`];
        if (!v) throw new Error(`reference: no weight visual.${n}`);
        return v;
      },
      R.leaf(pixels, [N, c.vision.patchDim]),
      grids,
    );
  }
  const positions = ropeIndexRef(ids, grids, c.tokens.imageTokenId);
  return refDecoderForward(decoderRefConfig(c), leaves, { ids, positions, features });
}
