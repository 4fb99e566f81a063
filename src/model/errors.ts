// Typed errors of the Qwen-VL model code: the ones a person can cause (a wrong file, an unsupported
// checkpoint). Each message says what is wrong and what to do; callers catch them by class.

/** A config.json that this code cannot load: unsupported model type, missing or inconsistent field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    /** The offending field, as its JSON path (e.g. `vision_config.depth`), or `model_type`. */
    readonly field: string,
    /** What is wrong with it. */
    readonly problem: string,
    /** What this code supports, or what to do about it. */
    readonly supported: string,
  ) {
    super(`config.json: ${field}: ${problem}. ${supported}`);
  }
}

/** A tokenizer.json component (model, normalizer, pre-tokenizer, decoder) of a type this code does not implement. */
export class UnsupportedTokenizerError extends Error {
  override name = 'UnsupportedTokenizerError';
  constructor(
    /** Which component: `model`, `normalizer`, `pre_tokenizer`, `decoder`, or a sub-field. */
    readonly component: string,
    /** The `type` found in the file. */
    readonly type: string,
  ) {
    super(
      `tokenizer.json: ${component} type "${type}" is not supported. Only byte-level BPE tokenizers ` +
        "(Qwen2 / Qwen2-VL / Qwen2.5-VL, GPT-2 style) are supported: use the checkpoint's own tokenizer.json.",
    );
  }
}

/** A tokenizer.json or tokenizer_config.json that is malformed (missing vocab, bad merges, unknown token). */
export class TokenizerFileError extends Error {
  override name = 'TokenizerFileError';
  constructor(readonly problem: string) {
    super(
      `tokenizer files: ${problem}. Check that tokenizer.json and tokenizer_config.json come from the checkpoint.`,
    );
  }
}

/** The chat template is missing, fails to render, or the prompt does not fit the images given. */
export class ChatTemplateError extends Error {
  override name = 'ChatTemplateError';
  constructor(readonly problem: string) {
    super(`chat template: ${problem}`);
  }
}

/** Why a safetensors file was rejected. */
export type SafetensorsProblem =
  | 'truncated'
  | 'header-length'
  | 'header-json'
  | 'dtype'
  | 'shape'
  | 'offsets'
  | 'overlap'
  | 'size'
  | 'no-tensor'
  | 'conversion';

/** A safetensors file that is corrupt, truncated or not safetensors, or a tensor it cannot convert. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(
    /** The file name (as its source names it). */
    readonly file: string,
    /** The tensor concerned, when the problem is one tensor's. */
    readonly tensor: string | undefined,
    readonly problem: SafetensorsProblem,
    detail: string,
  ) {
    super(`${file}${tensor === undefined ? '' : `: tensor '${tensor}'`}: ${detail}`);
  }
}

/** A checkpoint folder that cannot be opened: no weights, a bad index, a shard it names is missing. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
  constructor(
    /** The file concerned (the index, a shard), when there is one. */
    readonly file: string | undefined,
    detail: string,
  ) {
    super(detail);
  }
}

/** A tensor whose shape in the checkpoint differs from the model's. */
export interface MisShapedTensor {
  name: string;
  expected: number[];
  actual: number[];
}

/** The checkpoint's tensors do not match what the model expects; every difference is listed by name. */
export class TensorMismatchError extends Error {
  override name = 'TensorMismatchError';
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly misShaped: MisShapedTensor[],
    detail: string,
  ) {
    super(detail);
  }
}

/** An image the processor cannot take: a bad buffer size, a zero or extreme aspect ratio, bad options. */
export class ImageProcessorError extends Error {
  override name = 'ImageProcessorError';
  constructor(readonly problem: string) {
    super(`image processor: ${problem}`);
  }
}

/** Token ids and image grids that do not fit together when computing M-RoPE position indexes. */
export class RopeIndexError extends Error {
  override name = 'RopeIndexError';
  constructor(readonly problem: string) {
    super(`rope index: ${problem}`);
  }
}

/** Decoder inputs that do not fit together: token ids, position rows, image features, packing bounds. */
export class DecoderInputError extends Error {
  override name = 'DecoderInputError';
  constructor(readonly problem: string) {
    super(`decoder input: ${problem}`);
  }
}

/** Vision tower inputs that do not fit together: pixel rows, image grids, weights. */
export class VisionInputError extends Error {
  override name = 'VisionInputError';
  constructor(readonly problem: string) {
    super(`vision tower: ${problem}`);
  }
}

/** LoRA settings or adapter files that cannot be used: a bad rank, no matching module, a PEFT file that does not fit. */
export class LoraError extends Error {
  override name = 'LoraError';
  constructor(readonly problem: string) {
    super(`LoRA: ${problem}`);
  }
}
