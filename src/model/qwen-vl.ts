// The full Qwen2-VL / Qwen2.5-VL forward for one sequence: the images' pixel rows through the vision
// tower and merger, the features spliced at the image-pad tokens, M-RoPE positions from get_rope_index,
// the decoder, and the logits.
import type { Gpu } from '../gpu/context.ts';
import type { Tensor } from '../gpu/tensor.ts';
import type { ModelConfig } from './config.ts';
import { type DecoderOptions, decoderForward } from './decoder.ts';
import { VisionInputError } from './errors.ts';
import { getRopeIndex, type RopeIndex } from './rope-index.ts';
import { visionForward } from './vision.ts';
import type { ImageGrid } from './vision-layout.ts';
import type { Weights } from './weights.ts';

export interface ModelInput {
  /** Token ids [S], each image expanded into its pad tokens (grid_t * grid_h * grid_w / merge^2). */
  inputIds: Int32Array;
  /** The image processor's pixel_values [patches, patchDim] of every image, in order. */
  pixelValues?: Tensor | Float32Array;
  /** One image_grid_thw per image, in the order the images appear in the ids. */
  imageGrids?: readonly ImageGrid[];
}

/** The M-RoPE positions of a prompt under the config's special tokens and merge size. */
export function modelPositions(
  config: ModelConfig,
  inputIds: ArrayLike<number>,
  imageGrids: readonly ImageGrid[] = [],
): RopeIndex {
  return getRopeIndex(inputIds, imageGrids, {
    imageTokenId: config.tokens.imageTokenId,
    visionStartId: config.tokens.visionStartTokenId,
    spatialMergeSize: config.vision.spatialMergeSize,
  });
}

/**
 * Logits [S, vocab] of one sequence with its images. Throws RopeIndexError when the ids and the grids
 * do not fit together, VisionInputError for pixel values that do not match the grids. Records on an
 * active tape like the parts it is built from; the caller owns the result.
 */
export function modelForward(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  input: ModelInput,
  options: DecoderOptions = {},
): Tensor {
  const grids = input.imageGrids ?? [];
  if (grids.length > 0 !== (input.pixelValues !== undefined))
    throw new VisionInputError(
      grids.length > 0
        ? `${grids.length} image grid(s) were given without pixel values; pass the processor's pixel_values`
        : "pixel values were given without image grids; pass the processor's image_grid_thw",
    );
  const { positions } = modelPositions(config, input.inputIds, grids);
  return gpu.scope(() => {
    let imageFeatures: Tensor | undefined;
    if (input.pixelValues !== undefined) {
      const px = input.pixelValues;
      const dim = config.vision.patchDim;
      if (px instanceof Float32Array && px.length % dim !== 0)
        throw new VisionInputError(
          `${px.length} pixel values are not whole patch rows of ${dim}; pass the processor's pixel_values`,
        );
      const pixels = px instanceof Float32Array ? gpu.tensor(px, [px.length / dim, dim]) : px;
      imageFeatures = visionForward(gpu, config, weights, pixels, grids);
    }
    return decoderForward(
      gpu,
      config,
      weights,
      { inputIds: input.inputIds, positions, imageFeatures },
      options,
    );
  });
}
