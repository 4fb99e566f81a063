// An estimate of the GPU memory a GRPO run takes, from the model's config and the run's settings, before
// anything is loaded: the weights as stored; what training keeps beside them (gradients and Adam's two
// moments for every trainable value, the LoRA adapters, a frozen reference copy when full fine-tuning
// with a KL term); and the larger of a step's two phases: generation (the KV cache of a whole generation
// batch) and one micro-batch's forward and backward (the activations the tape keeps, the logits kept at
// completion tokens, the gradients flowing back; with gradient checkpointing, each layer's input and one
// layer's activations at a time, and the logits one chunk of rows at a time). It also gives the largest
// single buffers, which WebGPU bounds by maxBufferSize and maxStorageBufferBindingSize whatever memory the
// device has.

import { type ModelConfig, parameterCount } from '../model/config.ts';
import { type ImageProcessorOptions, smartResize } from '../model/image-processor.ts';
import { loraModuleShapes } from '../model/lora.ts';
import { derivedSizes, type GrpoConfig } from './config.ts';
import { logitChunkRows } from './sequences.ts';
import { resolveWeightDtype } from './weight-dtype.ts';

const F32 = 4;
/** Prompt text around the image pads: template, question, prefill. */
const PROMPT_TEXT_TOKENS = 64;
const POOL_ROUNDING = 1.125;

export interface MemoryInputs {
  /** Tokens of the longest prompt, image pads included. */
  promptTokens: number;
  /** Vision patches of the largest image (before the 2x2 merge). */
  imagePatches: number;
  /** Bytes per stored weight: 4 (f32) or 2 (f16). */
  weightBytes: 2 | 4;
  /** Tokens per completion; default max_completion_length (the most a run can take). */
  completionTokens?: number;
}

export interface MemoryEstimate {
  /** The model's weights as stored. */
  weights: number;
  /** Trainable copies, gradients, Adam moments and the reference copy, kept for the whole run. */
  training: number;
  /** Generating a batch: the KV cache and the sampling logits. */
  generation: number;
  /** One micro-batch's forward and backward: saved activations, kept logits, gradients in flight. */
  microBatch: number;
  /** weights + training + the larger phase. */
  total: number;
  /** Of `generation`: the KV cache. */
  kvCache: number;
  /** Of `training`: gradients (one float per trainable value) and Adam's two moments (two). */
  gradients: number;
  optimizer: number;
  /** The largest buffer a kernel binds whole, in bytes. */
  largestBuffer: number;
  /** The largest buffer read in row ranges (logits, a trained embedding): held to maxBufferSize only. */
  largestRowBuffer: number;
  parameters: number;
  trainableParameters: number;
}

/** Floats the tape keeps per token for one decoder layer (norm inputs and outputs, q/k/v, attention output
 * and its reshape, the residual sum, the SwiGLU inputs and output, the attention's softmax statistics). */
function decoderFloatsPerToken(m: ModelConfig): number {
  const t = m.text;
  const kv = t.numKeyValueHeads * t.headDim;
  return 7 * t.hiddenSize + 2 * kv + 3 * t.intermediateSize + t.numAttentionHeads;
}

/** The same for one vision block, per patch. */
function visionFloatsPerPatch(m: ModelConfig): number {
  const v = m.vision;
  return 7 * v.hiddenSize + (v.mlpKind === 'gated' ? 3 : 2) * v.intermediateSize + v.numHeads;
}

/** The estimate's inputs for the dataset's largest image as the processor resizes it (min / max pixels). */
export function memoryInputs(
  model: ModelConfig,
  processor: ImageProcessorOptions,
  config: GrpoConfig,
  image: { width: number; height: number },
  hasF16: boolean,
): MemoryInputs & { resized: { width: number; height: number } } {
  const v = model.vision;
  const [height, width] = smartResize(
    image.height,
    image.width,
    v.patchSize * v.spatialMergeSize,
    config.min_pixels ?? processor.minPixels,
    config.max_pixels ?? processor.maxPixels,
  );
  const patches = (height / v.patchSize) * (width / v.patchSize);
  return {
    promptTokens: PROMPT_TEXT_TOKENS + patches / v.spatialMergeSize ** 2,
    imagePatches: patches,
    weightBytes: resolveWeightDtype(config, hasF16) === 'f16' ? 2 : 4,
    resized: { width, height },
  };
}

export function estimateMemory(m: ModelConfig, c: GrpoConfig, inputs: MemoryInputs): MemoryEstimate {
  const t = m.text;
  const parameters = parameterCount(m);
  const weights = parameters * inputs.weightBytes;
  const modules = c.use_peft ? loraModuleShapes(m, c.lora_target_modules) : [];
  const lora = modules.reduce((n, [out, inDim]) => n + c.lora_r * (inDim + out), 0);
  const trainableParameters = c.use_peft ? lora : parameters;
  // LoRA: the adapters themselves; full fine-tuning trains the weights in place. Both: gradients and Adam.
  const reference = !c.use_peft && c.beta !== 0 ? weights : 0;
  const training = (c.use_peft ? lora * F32 : 0) + trainableParameters * 3 * F32 + reference;

  const { generationBatchSize, promptsPerGeneration } = derivedSizes(c);
  const completion = inputs.completionTokens ?? c.max_completion_length;
  const length = inputs.promptTokens + completion;
  const kv = t.numKeyValueHeads * t.headDim;
  const kvCache = generationBatchSize * length * t.numHiddenLayers * 2 * kv * F32;
  const samplingLogits = 2 * generationBatchSize * t.vocabSize * F32;
  const prefill = generationBatchSize * inputs.promptTokens * (2 * t.hiddenSize + t.intermediateSize) * F32;
  const generation = kvCache + samplingLogits + prefill;

  const b = c.per_device_train_batch_size;
  const tokens = b * length;
  // Each adapted projection adds, per token: its dropped-out input, x A and the adapter's output.
  const adapted = modules.reduce(
    (n, [out, inDim]) => n + (c.lora_dropout > 0 ? inDim : 0) + c.lora_r + out,
    0,
  );
  const perToken = decoderFloatsPerToken(m) + adapted / t.numHiddenLayers;
  const layerBytes = tokens * perToken * F32;
  const kept = b * completion;
  // Gradient checkpointing keeps each layer's input and, in the backward, one layer's activations at a
  // time; the logits are formed a chunk of rows at a time from the kept hidden rows, which it saves.
  const recompute = c.gradient_checkpointing;
  const chunked = recompute && kept > logitChunkRows(t.vocabSize);
  const logitRows = chunked ? logitChunkRows(t.vocabSize) : kept;
  const logits = 3 * logitRows * t.vocabSize * F32 + (chunked ? kept * t.hiddenSize * F32 : 0);
  const decoder = recompute
    ? tokens * t.hiddenSize * F32 * t.numHiddenLayers + layerBytes
    : layerBytes * t.numHiddenLayers;
  // A micro-batch holds at most one image per prompt it draws from. Under LoRA the tower is frozen and
  // keeps nothing: one block's activations live at a time, as when its blocks are recomputed.
  const images = Math.min(b, promptsPerGeneration);
  const patches = images * inputs.imagePatches;
  const blockBytes = patches * visionFloatsPerPatch(m) * F32;
  const vision = c.use_peft
    ? blockBytes
    : recompute
      ? patches * m.vision.hiddenSize * F32 * m.vision.depth + blockBytes
      : blockBytes * m.vision.depth;
  // Backward: the gradients of one layer's activations beside the saved ones, and the logits' gradient.
  const backward = tokens * decoderFloatsPerToken(m) * F32 + logitRows * t.vocabSize * F32;
  const microBatch = decoder + vision + logits + backward;

  // Bound whole: activations and the KV cache of one layer. Read in row ranges, so held to maxBufferSize
  // only: the kept logits and, when trained, the embedding with its gradient and moments (frozen weights
  // over maxBufferSize are stored in row blocks).
  const largestBuffer = Math.max(tokens * t.intermediateSize * F32, (kvCache / t.numHiddenLayers) * 0.5);
  const largestRowBuffer = Math.max(
    logitRows * t.vocabSize * F32,
    c.use_peft ? 0 : t.vocabSize * t.hiddenSize * F32,
  );
  // The buffer pool rounds every buffer up to a size class: up to a quarter more, an eighth on average.
  const pooled = (bytes: number) => Math.round(bytes * POOL_ROUNDING);
  return {
    weights,
    training,
    generation: pooled(generation),
    microBatch: pooled(microBatch),
    total: weights + training + pooled(Math.max(generation, microBatch)),
    kvCache: pooled(kvCache),
    gradients: trainableParameters * F32,
    optimizer: trainableParameters * 2 * F32,
    largestBuffer,
    largestRowBuffer,
    parameters,
    trainableParameters,
  };
}
