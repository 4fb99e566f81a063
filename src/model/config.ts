// Model configuration: parses a Hugging Face config.json of a Qwen2-VL or Qwen2.5-VL checkpoint into one
// typed ModelConfig holding every value that changes the maths, validates it, and lists the tensor names
// and shapes the checkpoint must hold (parameterShapes) with their total (parameterCount).
//
// Accepted layouts: the original flat one (decoder fields at the top level, `rope_scaling` with
// `type: "mrope"`), the later `rope_scaling.rope_type`, and the newer transformers one with the decoder
// fields nested under `text_config` and RoPE under `rope_parameters`. Fields a checkpoint may omit take
// the transformers defaults; the sizes that define the network are required.
import { ConfigError } from './errors.ts';

export type ModelType = 'qwen2_vl' | 'qwen2_5_vl';
export const SUPPORTED_MODEL_TYPES: readonly ModelType[] = ['qwen2_vl', 'qwen2_5_vl'];

/** Activation of the vision MLP (transformers' ACT2FN names). `gelu` is the exact erf form. */
export type VisionActivation = 'quick_gelu' | 'silu' | 'gelu' | 'gelu_pytorch_tanh';
export const SUPPORTED_VISION_ACTIVATIONS: readonly VisionActivation[] = [
  'quick_gelu',
  'silu',
  'gelu',
  'gelu_pytorch_tanh',
];

/** The Qwen2 decoder (language model). */
export interface TextConfig {
  hiddenSize: number;
  numHiddenLayers: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  intermediateSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  /** Split of the head_dim/2 rotary frequency slots between the (t, h, w) position rows. */
  mropeSection: [number, number, number];
  vocabSize: number;
  tieWordEmbeddings: boolean;
  /** The SwiGLU MLP's activation; Qwen2 decoders only use SiLU. */
  hiddenAct: 'silu';
  maxPositionEmbeddings: number;
  /** q_proj, k_proj and v_proj carry a bias. */
  qkvBias: true;
  /** o_proj carries no bias. */
  oBias: false;
  /** gate_proj, up_proj, down_proj carry no bias. */
  mlpBias: false;
}

/** The vision tower and its patch merger. */
export interface VisionConfig {
  depth: number;
  /** Width of the tower (`embed_dim` in Qwen2-VL, `hidden_size` in Qwen2.5-VL). */
  hiddenSize: number;
  numHeads: number;
  headDim: number;
  /** Hidden width of the block MLP (embed_dim * mlp_ratio, or intermediate_size). */
  intermediateSize: number;
  /** `fc` = fc1 -> act -> fc2 (Qwen2-VL); `gated` = down(act(gate) * up) (Qwen2.5-VL). Both with biases. */
  mlpKind: 'fc' | 'gated';
  hiddenAct: VisionActivation;
  /** LayerNorm (weight and bias) for Qwen2-VL, RMSNorm (weight only) for Qwen2.5-VL. */
  norm: 'layernorm' | 'rmsnorm';
  /** Epsilon of the tower's and merger's norms (fixed by the architecture). */
  normEps: number;
  patchSize: number;
  temporalPatchSize: number;
  spatialMergeSize: number;
  inChannels: number;
  /** Values in one patch row: in_channels * temporal_patch_size * patch_size^2 (1176 for Qwen). */
  patchDim: number;
  /** The merger's input and hidden width: hidden_size * spatial_merge_size^2. */
  mergerHiddenSize: number;
  /** The merger's output width: the decoder's hidden size. */
  outHiddenSize: number;
  /** Base of the 2D vision RoPE (fixed by the architecture). */
  ropeTheta: number;
  /** Window edge in pixels for windowed attention (Qwen2.5-VL); null when every block attends fully. */
  windowSize: number | null;
  /** Blocks that attend over the whole image under windowed attention (Qwen2.5-VL); [] otherwise. */
  fullattBlockIndexes: number[];
  /** Video timing (Qwen2.5-VL); null for Qwen2-VL. Does not affect still images. */
  tokensPerSecond: number | null;
}

/** Special token ids the model code needs (the tokenizer owns the rest). */
export interface SpecialTokenIds {
  imageTokenId: number;
  videoTokenId: number;
  visionStartTokenId: number;
  visionEndTokenId: number;
  /** `vision_token_id` (<|vision_pad|>), present in older configs; null when absent. */
  visionTokenId: number | null;
  bosTokenId: number | null;
  /** End-of-sequence ids as config.json lists them (one or several). */
  eosTokenIds: number[];
}

export interface ModelConfig {
  modelType: ModelType;
  text: TextConfig;
  vision: VisionConfig;
  tokens: SpecialTokenIds;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Reads `key` from the first source that has it; sources are tried in order. */
function pick(sources: readonly (readonly [Json, string])[], key: string): { value: unknown; path: string } {
  for (const [src, prefix] of sources) {
    if (src[key] !== undefined && src[key] !== null) return { value: src[key], path: `${prefix}${key}` };
  }
  return { value: undefined, path: `${sources[0]![1]}${key}` };
}

function int(
  sources: readonly (readonly [Json, string])[],
  key: string,
  fallback: number | undefined,
  min = 1,
): number {
  const { value, path } = pick(sources, key);
  if (value === undefined) {
    if (fallback === undefined)
      throw new ConfigError(path, 'is missing', 'Qwen-VL checkpoints must set it; check the config.json');
    return fallback;
  }
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min)
    throw new ConfigError(
      path,
      `must be an integer >= ${min}, got ${JSON.stringify(value)}`,
      'Fix the value',
    );
  return value;
}

function positive(sources: readonly (readonly [Json, string])[], key: string, fallback: number): number {
  const { value, path } = pick(sources, key);
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)
    throw new ConfigError(path, `must be a positive number, got ${JSON.stringify(value)}`, 'Fix the value');
  return value;
}

function intList(value: unknown, path: string, min: number): number[] {
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= min))
    throw new ConfigError(
      path,
      `must be a list of integers >= ${min}, got ${JSON.stringify(value)}`,
      'Fix the value',
    );
  return value as number[];
}

function optionalId(sources: readonly (readonly [Json, string])[], key: string): number | null {
  const { value } = pick(sources, key);
  return value === undefined ? null : int(sources, key, undefined, 0);
}

/**
 * Parses a config.json (the parsed JSON object, or its text) of model_type qwen2_vl or qwen2_5_vl.
 * Throws ConfigError naming the field for an unsupported model type or activation, a missing size, or
 * inconsistent values.
 */
export function parseModelConfig(json: unknown): ModelConfig {
  let raw: unknown = json;
  if (typeof json === 'string') {
    try {
      raw = JSON.parse(json);
    } catch (e) {
      throw new ConfigError(
        'config.json',
        `is not valid JSON (${(e as Error).message})`,
        'Pass the file text',
      );
    }
  }
  if (!isObject(raw)) throw new ConfigError('config.json', 'is not a JSON object', 'Pass the config.json');

  const modelType = raw.model_type;
  if (!SUPPORTED_MODEL_TYPES.includes(modelType as ModelType))
    throw new ConfigError(
      'model_type',
      `${JSON.stringify(modelType)} is not supported`,
      `Supported: ${SUPPORTED_MODEL_TYPES.join(', ')} (Qwen2-VL and Qwen2.5-VL checkpoints)`,
    );
  const type = modelType as ModelType;

  let textSources: (readonly [Json, string])[] = [[raw, '']];
  if (raw.text_config !== undefined && raw.text_config !== null) {
    if (!isObject(raw.text_config))
      throw new ConfigError('text_config', 'is not an object', 'Give the decoder settings as an object');
    textSources = [[raw.text_config, 'text_config.'], ...textSources];
  }
  if (!isObject(raw.vision_config))
    throw new ConfigError('vision_config', 'is missing or not an object', 'Qwen-VL checkpoints must set it');

  const text = parseText(textSources);
  const vision = parseVision(type, raw.vision_config, text.hiddenSize);
  const tokens = parseTokens([...textSources, [raw, '']], text.vocabSize);
  return { modelType: type, text, vision, tokens };
}

function parseText(src: (readonly [Json, string])[]): TextConfig {
  const hiddenSize = int(src, 'hidden_size', undefined);
  const numHiddenLayers = int(src, 'num_hidden_layers', undefined);
  const numAttentionHeads = int(src, 'num_attention_heads', undefined);
  const numKeyValueHeads = int(src, 'num_key_value_heads', numAttentionHeads);
  const intermediateSize = int(src, 'intermediate_size', undefined);
  const vocabSize = int(src, 'vocab_size', undefined);
  const maxPositionEmbeddings = int(src, 'max_position_embeddings', 32768);
  const rmsNormEps = positive(src, 'rms_norm_eps', 1e-5);

  const act = pick(src, 'hidden_act');
  if (act.value !== undefined && act.value !== 'silu')
    throw new ConfigError(
      act.path,
      `activation ${JSON.stringify(act.value)} is not supported`,
      'Supported: silu',
    );

  const heads = pick(src, 'num_attention_heads').path;
  if (hiddenSize % numAttentionHeads !== 0)
    throw new ConfigError(
      heads,
      `hidden_size ${hiddenSize} is not divisible by num_attention_heads ${numAttentionHeads}`,
      'hidden_size must be a multiple of num_attention_heads',
    );
  const headDim = int(src, 'head_dim', hiddenSize / numAttentionHeads);
  if (headDim !== hiddenSize / numAttentionHeads)
    throw new ConfigError(
      pick(src, 'head_dim').path,
      `${headDim} differs from hidden_size / num_attention_heads = ${hiddenSize / numAttentionHeads}`,
      'The Qwen2 decoder requires head_dim = hidden_size / num_attention_heads',
    );
  if (headDim % 2 !== 0)
    throw new ConfigError(heads, `head_dim ${headDim} is odd`, 'Rotary embeddings need an even head_dim');
  if (numAttentionHeads % numKeyValueHeads !== 0)
    throw new ConfigError(
      pick(src, 'num_key_value_heads').path,
      `num_attention_heads ${numAttentionHeads} is not divisible by num_key_value_heads ${numKeyValueHeads}`,
      'Grouped-query attention needs num_attention_heads to be a multiple of num_key_value_heads',
    );

  const tie = pick(src, 'tie_word_embeddings');
  if (tie.value !== undefined && typeof tie.value !== 'boolean')
    throw new ConfigError(
      tie.path,
      `must be true or false, got ${JSON.stringify(tie.value)}`,
      'Fix the value',
    );

  const { ropeTheta, mropeSection } = parseRope(src, headDim);
  return {
    hiddenSize,
    numHiddenLayers,
    numAttentionHeads,
    numKeyValueHeads,
    headDim,
    intermediateSize,
    rmsNormEps,
    ropeTheta,
    mropeSection,
    vocabSize,
    tieWordEmbeddings: tie.value === true,
    hiddenAct: 'silu',
    maxPositionEmbeddings,
    qkvBias: true,
    oBias: false,
    mlpBias: false,
  };
}

// RoPE settings live in `rope_scaling` (older: {type: "mrope", mrope_section}; later: {rope_type: ...})
// or `rope_parameters` (newest: {rope_type, rope_theta, mrope_section}); rope_theta may sit beside them.
function parseRope(
  src: (readonly [Json, string])[],
  headDim: number,
): { ropeTheta: number; mropeSection: [number, number, number] } {
  let rope = pick(src, 'rope_parameters');
  if (rope.value === undefined) rope = pick(src, 'rope_scaling');
  if (rope.value === undefined)
    throw new ConfigError(
      'rope_scaling.mrope_section',
      'is missing',
      'Qwen-VL decoders use M-RoPE: set rope_scaling (or rope_parameters) with mrope_section',
    );
  if (!isObject(rope.value)) throw new ConfigError(rope.path, 'is not an object', 'Fix the value');
  const ropeType = rope.value.rope_type ?? rope.value.type;
  if (ropeType !== undefined && ropeType !== 'mrope' && ropeType !== 'default')
    throw new ConfigError(
      `${rope.path}.${rope.value.rope_type !== undefined ? 'rope_type' : 'type'}`,
      `RoPE type ${JSON.stringify(ropeType)} is not supported`,
      'Supported: mrope (or default with mrope_section); RoPE scaling is not implemented',
    );
  const sectionPath = `${rope.path}.mrope_section`;
  if (rope.value.mrope_section === undefined)
    throw new ConfigError(sectionPath, 'is missing', 'Qwen-VL decoders use M-RoPE: set mrope_section');
  const section = intList(rope.value.mrope_section, sectionPath, 0);
  const sum = section.reduce((a, b) => a + b, 0);
  if (section.length !== 3 || sum !== headDim / 2)
    throw new ConfigError(
      sectionPath,
      `${JSON.stringify(section)} must have 3 entries summing to head_dim / 2 = ${headDim / 2} (sum ${sum})`,
      'Give one section each for the t, h and w position rows',
    );

  const ropeTheta = positive([[rope.value, `${rope.path}.`], ...src], 'rope_theta', 1e6);
  return { ropeTheta, mropeSection: [section[0]!, section[1]!, section[2]!] };
}

function parseVision(type: ModelType, v: Json, textHidden: number): VisionConfig {
  const src = [[v, 'vision_config.']] as const;
  const depth = int(src, 'depth', undefined);
  const numHeads = int(src, 'num_heads', undefined);
  const patchSize = int(src, 'patch_size', 14);
  const temporalPatchSize = int(src, 'temporal_patch_size', 2);
  const spatialMergeSize = int(src, 'spatial_merge_size', 2);
  // Published Qwen2-VL configs say `in_chans`; transformers' class says `in_channels`.
  const inChannels = int(src, v.in_channels !== undefined ? 'in_channels' : 'in_chans', 3);

  let hiddenSize: number;
  let intermediateSize: number;
  let outHiddenSize: number;
  let outPath: string;
  let windowSize: number | null = null;
  let fullattBlockIndexes: number[] = [];
  let tokensPerSecond: number | null = null;
  if (type === 'qwen2_vl') {
    hiddenSize = int(src, 'embed_dim', undefined);
    const ratio = positive(src, 'mlp_ratio', 4);
    intermediateSize = hiddenSize * ratio;
    if (!Number.isInteger(intermediateSize))
      throw new ConfigError(
        'vision_config.mlp_ratio',
        `embed_dim * mlp_ratio = ${intermediateSize} is not an integer`,
        'Pick an mlp_ratio that gives an integer MLP width',
      );
    outHiddenSize = int(src, 'hidden_size', textHidden);
    outPath = 'vision_config.hidden_size';
  } else {
    hiddenSize = int(src, 'hidden_size', undefined);
    intermediateSize = int(src, 'intermediate_size', undefined);
    outHiddenSize = int(src, 'out_hidden_size', textHidden);
    outPath = 'vision_config.out_hidden_size';
    windowSize = int(src, 'window_size', 112);
    const unit = patchSize * spatialMergeSize;
    if (windowSize % unit !== 0)
      throw new ConfigError(
        'vision_config.window_size',
        `${windowSize} is not a multiple of patch_size * spatial_merge_size = ${unit}`,
        'Windows must hold whole merged patches',
      );
    fullattBlockIndexes = intList(
      v.fullatt_block_indexes ?? [7, 15, 23, 31],
      'vision_config.fullatt_block_indexes',
      0,
    );
    const bad = fullattBlockIndexes.find((i) => i >= depth);
    if (bad !== undefined)
      throw new ConfigError(
        'vision_config.fullatt_block_indexes',
        `block ${bad} does not exist (depth ${depth})`,
        `Indexes must be below vision_config.depth`,
      );
    tokensPerSecond = positive(src, 'tokens_per_second', 4);
  }
  if (outHiddenSize !== textHidden)
    throw new ConfigError(
      outPath,
      `the merger outputs ${outHiddenSize} values but the decoder's hidden_size is ${textHidden}`,
      'They must be equal',
    );

  const act = v.hidden_act ?? (type === 'qwen2_vl' ? 'quick_gelu' : 'silu');
  if (!SUPPORTED_VISION_ACTIVATIONS.includes(act as VisionActivation))
    throw new ConfigError(
      'vision_config.hidden_act',
      `activation ${JSON.stringify(act)} is not supported`,
      `Supported: ${SUPPORTED_VISION_ACTIVATIONS.join(', ')}`,
    );

  const widthKey = type === 'qwen2_vl' ? 'embed_dim' : 'hidden_size';
  if (hiddenSize % numHeads !== 0)
    throw new ConfigError(
      'vision_config.num_heads',
      `vision_config.${widthKey} ${hiddenSize} is not divisible by num_heads ${numHeads}`,
      `vision_config.${widthKey} must be a multiple of num_heads`,
    );
  const headDim = hiddenSize / numHeads;
  if (headDim % 4 !== 0)
    throw new ConfigError(
      'vision_config.num_heads',
      `the vision head dim ${headDim} is not a multiple of 4`,
      'The 2D vision RoPE splits each head into row and column halves of rotate-half pairs',
    );

  return {
    depth,
    hiddenSize,
    numHeads,
    headDim,
    intermediateSize,
    mlpKind: type === 'qwen2_vl' ? 'fc' : 'gated',
    hiddenAct: act as VisionActivation,
    norm: type === 'qwen2_vl' ? 'layernorm' : 'rmsnorm',
    normEps: 1e-6,
    patchSize,
    temporalPatchSize,
    spatialMergeSize,
    inChannels,
    patchDim: inChannels * temporalPatchSize * patchSize * patchSize,
    mergerHiddenSize: hiddenSize * spatialMergeSize * spatialMergeSize,
    outHiddenSize,
    ropeTheta: 10000,
    windowSize,
    fullattBlockIndexes,
    tokensPerSecond,
  };
}

function parseTokens(src: (readonly [Json, string])[], vocabSize: number): SpecialTokenIds {
  const check = (key: string, id: number): number => {
    if (id >= vocabSize)
      throw new ConfigError(
        pick(src, key).path,
        `token id ${id} is outside the vocabulary (vocab_size ${vocabSize})`,
        'Special token ids must be below vocab_size',
      );
    return id;
  };
  const optional = (key: string): number | null => {
    const id = optionalId(src, key);
    return id === null ? null : check(key, id);
  };
  const eos = pick(src, 'eos_token_id');
  let eosTokenIds: number[] = [];
  if (eos.value !== undefined)
    eosTokenIds = Array.isArray(eos.value)
      ? intList(eos.value, eos.path, 0)
      : [int(src, 'eos_token_id', 0, 0)];
  for (const id of eosTokenIds) check('eos_token_id', id);
  // Defaults are transformers' (the Qwen tokenizer's ids).
  return {
    imageTokenId: check('image_token_id', int(src, 'image_token_id', 151655, 0)),
    videoTokenId: check('video_token_id', int(src, 'video_token_id', 151656, 0)),
    visionStartTokenId: check('vision_start_token_id', int(src, 'vision_start_token_id', 151652, 0)),
    visionEndTokenId: check('vision_end_token_id', int(src, 'vision_end_token_id', 151653, 0)),
    visionTokenId: optional('vision_token_id'),
    bosTokenId: optional('bos_token_id'),
    eosTokenIds,
  };
}

/** How tensor names are spelled: `legacy` = `model.*` / `visual.*` (published checkpoints);
 * `nested` = `model.language_model.*` / `model.visual.*` (newer transformers). */
export type ParameterNaming = 'legacy' | 'nested';

/**
 * Every tensor of the checkpoint with its shape (PyTorch layout: Linear weights are [out, in]).
 * `lm_head.weight` is listed only when the embeddings are not tied.
 */
export function parameterShapes(
  config: ModelConfig,
  naming: ParameterNaming = 'legacy',
): Record<string, number[]> {
  const { text: t, vision: v } = config;
  const lm = naming === 'legacy' ? 'model.' : 'model.language_model.';
  const vis = naming === 'legacy' ? 'visual.' : 'model.visual.';
  const shapes: Record<string, number[]> = {};
  const linear = (name: string, out: number, inp: number, bias: boolean) => {
    shapes[`${name}.weight`] = [out, inp];
    if (bias) shapes[`${name}.bias`] = [out];
  };
  const norm = (name: string, dim: number, withBias: boolean) => {
    shapes[`${name}.weight`] = [dim];
    if (withBias) shapes[`${name}.bias`] = [dim];
  };
  const layerNorm = v.norm === 'layernorm';

  shapes[`${vis}patch_embed.proj.weight`] = [
    v.hiddenSize,
    v.inChannels,
    v.temporalPatchSize,
    v.patchSize,
    v.patchSize,
  ];
  for (let i = 0; i < v.depth; i++) {
    const b = `${vis}blocks.${i}.`;
    norm(`${b}norm1`, v.hiddenSize, layerNorm);
    norm(`${b}norm2`, v.hiddenSize, layerNorm);
    linear(`${b}attn.qkv`, 3 * v.hiddenSize, v.hiddenSize, true);
    linear(`${b}attn.proj`, v.hiddenSize, v.hiddenSize, true);
    if (v.mlpKind === 'fc') {
      linear(`${b}mlp.fc1`, v.intermediateSize, v.hiddenSize, true);
      linear(`${b}mlp.fc2`, v.hiddenSize, v.intermediateSize, true);
    } else {
      linear(`${b}mlp.gate_proj`, v.intermediateSize, v.hiddenSize, true);
      linear(`${b}mlp.up_proj`, v.intermediateSize, v.hiddenSize, true);
      linear(`${b}mlp.down_proj`, v.hiddenSize, v.intermediateSize, true);
    }
  }
  norm(`${vis}merger.ln_q`, v.hiddenSize, layerNorm);
  linear(`${vis}merger.mlp.0`, v.mergerHiddenSize, v.mergerHiddenSize, true);
  linear(`${vis}merger.mlp.2`, v.outHiddenSize, v.mergerHiddenSize, true);

  const kv = t.numKeyValueHeads * t.headDim;
  shapes[`${lm}embed_tokens.weight`] = [t.vocabSize, t.hiddenSize];
  for (let i = 0; i < t.numHiddenLayers; i++) {
    const l = `${lm}layers.${i}.`;
    norm(`${l}input_layernorm`, t.hiddenSize, false);
    linear(`${l}self_attn.q_proj`, t.numAttentionHeads * t.headDim, t.hiddenSize, t.qkvBias);
    linear(`${l}self_attn.k_proj`, kv, t.hiddenSize, t.qkvBias);
    linear(`${l}self_attn.v_proj`, kv, t.hiddenSize, t.qkvBias);
    linear(`${l}self_attn.o_proj`, t.hiddenSize, t.numAttentionHeads * t.headDim, t.oBias);
    norm(`${l}post_attention_layernorm`, t.hiddenSize, false);
    linear(`${l}mlp.gate_proj`, t.intermediateSize, t.hiddenSize, t.mlpBias);
    linear(`${l}mlp.up_proj`, t.intermediateSize, t.hiddenSize, t.mlpBias);
    linear(`${l}mlp.down_proj`, t.hiddenSize, t.intermediateSize, t.mlpBias);
  }
  norm(`${lm}norm`, t.hiddenSize, false);
  if (!t.tieWordEmbeddings) shapes['lm_head.weight'] = [t.vocabSize, t.hiddenSize];
  return shapes;
}

/** Total number of parameters (tied embeddings counted once). */
export function parameterCount(config: ModelConfig): number {
  let n = 0;
  for (const shape of Object.values(parameterShapes(config))) n += shape.reduce((a, b) => a * b, 1);
  return n;
}
