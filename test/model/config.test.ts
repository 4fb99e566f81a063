// Tests of the config.json parser and the expected tensor shapes, against configs written by hand from
// the published Qwen2-VL-2B-Instruct and Qwen2.5-VL-3B-Instruct config.json files, module shapes derived
// by hand from the architecture, and parameter counts published for the real checkpoints.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  type ModelConfig,
  parameterCount,
  parameterShapes,
  parseModelConfig,
} from '../../src/model/config.ts';
import { ConfigError } from '../../src/model/errors.ts';

type Json = Record<string, unknown>;
const readJson = (rel: string): Json =>
  JSON.parse(readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8'));
const qwen2vl2b = () => readJson('../fixtures/model/qwen2-vl-2b-instruct.config.json');
const qwen25vl3b = () => readJson('../fixtures/model/qwen2_5-vl-3b-instruct.config.json');
const nanoDir = '../../public/nano/';

/** Parses `cfg` expecting a ConfigError; returns it. */
function configError(cfg: unknown): ConfigError {
  try {
    parseModelConfig(cfg);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    expect((e as Error).name).toBe('ConfigError');
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

const vis = (cfg: Json) => cfg.vision_config as Json;
const sumSizes = (shapes: Record<string, number[]>, filter: (name: string) => boolean) =>
  Object.entries(shapes)
    .filter(([n]) => filter(n))
    .reduce((a, [, s]) => a + s.reduce((x, y) => x * y, 1), 0);

describe('Qwen2-VL-2B-Instruct config', () => {
  const c = parseModelConfig(qwen2vl2b());

  it('reads the decoder and derives head_dim', () => {
    expect(c.modelType).toBe('qwen2_vl');
    expect(c.text).toMatchObject({
      hiddenSize: 1536,
      numHiddenLayers: 28,
      numAttentionHeads: 12,
      numKeyValueHeads: 2,
      headDim: 128,
      intermediateSize: 8960,
      rmsNormEps: 1e-6,
      ropeTheta: 1e6,
      mropeSection: [16, 24, 24],
      vocabSize: 151936,
      tieWordEmbeddings: true,
      hiddenAct: 'silu',
      maxPositionEmbeddings: 32768,
    });
  });

  it('reads the vision tower with Qwen2-VL defaults (QuickGELU, LayerNorm, no windows)', () => {
    expect(c.vision).toMatchObject({
      depth: 32,
      hiddenSize: 1280,
      numHeads: 16,
      headDim: 80,
      intermediateSize: 5120,
      mlpKind: 'fc',
      hiddenAct: 'quick_gelu',
      norm: 'layernorm',
      normEps: 1e-6,
      patchSize: 14,
      temporalPatchSize: 2,
      spatialMergeSize: 2,
      inChannels: 3,
      patchDim: 1176,
      mergerHiddenSize: 5120,
      outHiddenSize: 1536,
      windowSize: null,
      fullattBlockIndexes: [],
    });
  });

  it('reads the special token ids', () => {
    expect(c.tokens).toEqual({
      imageTokenId: 151655,
      videoTokenId: 151656,
      visionStartTokenId: 151652,
      visionEndTokenId: 151653,
      visionTokenId: 151654,
      bosTokenId: 151643,
      eosTokenIds: [151645],
    });
  });

  it('accepts the config as text', () => {
    expect(parseModelConfig(JSON.stringify(qwen2vl2b()))).toEqual(c);
  });

  it('lists the tensor shapes of the architecture', () => {
    const s = parameterShapes(c);
    // Module shapes as the architecture defines them (Conv3d 3->1280 kernel 2x14x14 without bias, fused
    // qkv 1280->3840, MLP 1280->5120->1280, merger 5120->5120->1536, GQA 1536 -> 12x128 / 2x128).
    expect(s['visual.patch_embed.proj.weight']).toEqual([1280, 3, 2, 14, 14]);
    expect(s['visual.patch_embed.proj.bias']).toBeUndefined();
    expect(s['visual.blocks.0.norm1.weight']).toEqual([1280]);
    expect(s['visual.blocks.0.norm1.bias']).toEqual([1280]);
    expect(s['visual.blocks.31.norm2.bias']).toEqual([1280]);
    expect(s['visual.blocks.31.attn.qkv.weight']).toEqual([3840, 1280]);
    expect(s['visual.blocks.31.attn.qkv.bias']).toEqual([3840]);
    expect(s['visual.blocks.5.attn.proj.weight']).toEqual([1280, 1280]);
    expect(s['visual.blocks.5.attn.proj.bias']).toEqual([1280]);
    expect(s['visual.blocks.5.mlp.fc1.weight']).toEqual([5120, 1280]);
    expect(s['visual.blocks.5.mlp.fc1.bias']).toEqual([5120]);
    expect(s['visual.blocks.5.mlp.fc2.weight']).toEqual([1280, 5120]);
    expect(s['visual.blocks.5.mlp.fc2.bias']).toEqual([1280]);
    expect(s['visual.blocks.32.attn.qkv.weight']).toBeUndefined();
    expect(s['visual.merger.ln_q.weight']).toEqual([1280]);
    expect(s['visual.merger.ln_q.bias']).toEqual([1280]);
    expect(s['visual.merger.mlp.0.weight']).toEqual([5120, 5120]);
    expect(s['visual.merger.mlp.0.bias']).toEqual([5120]);
    expect(s['visual.merger.mlp.2.weight']).toEqual([1536, 5120]);
    expect(s['visual.merger.mlp.2.bias']).toEqual([1536]);
    expect(s['model.embed_tokens.weight']).toEqual([151936, 1536]);
    expect(s['model.layers.27.self_attn.q_proj.weight']).toEqual([1536, 1536]);
    expect(s['model.layers.27.self_attn.q_proj.bias']).toEqual([1536]);
    expect(s['model.layers.27.self_attn.k_proj.weight']).toEqual([256, 1536]);
    expect(s['model.layers.27.self_attn.k_proj.bias']).toEqual([256]);
    expect(s['model.layers.27.self_attn.v_proj.weight']).toEqual([256, 1536]);
    expect(s['model.layers.27.self_attn.v_proj.bias']).toEqual([256]);
    expect(s['model.layers.27.self_attn.o_proj.weight']).toEqual([1536, 1536]);
    expect(s['model.layers.27.self_attn.o_proj.bias']).toBeUndefined();
    expect(s['model.layers.0.mlp.gate_proj.weight']).toEqual([8960, 1536]);
    expect(s['model.layers.0.mlp.up_proj.weight']).toEqual([8960, 1536]);
    expect(s['model.layers.0.mlp.down_proj.weight']).toEqual([1536, 8960]);
    expect(s['model.layers.0.mlp.down_proj.bias']).toBeUndefined();
    expect(s['model.layers.0.input_layernorm.weight']).toEqual([1536]);
    expect(s['model.layers.0.input_layernorm.bias']).toBeUndefined();
    expect(s['model.layers.0.post_attention_layernorm.weight']).toEqual([1536]);
    expect(s['model.layers.28.input_layernorm.weight']).toBeUndefined();
    expect(s['model.norm.weight']).toEqual([1536]);
    expect(s['lm_head.weight']).toBeUndefined();
    // Hand count: vision 1 + 32 blocks x 12 + merger 6; decoder 1 + 28 layers x 12 + 1.
    expect(Object.keys(s)).toHaveLength(1 + 32 * 12 + 6 + 1 + 28 * 12 + 1);
  });

  it('counts the published number of parameters', () => {
    // Qwen/Qwen2-VL-2B-Instruct: 2,208,985,600 parameters as HfApi.get_safetensors_metadata reports them
    // (the model-size tables of public benchmark code; MTEB's metadata of Qwen2-VL-2B fine-tunes gives the
    // same total with 233,373,696 embedding parameters). Its decoder is a Qwen2-1.5B-shaped LM: the same
    // tables give Qwen2.5-1.5B-Instruct 1,543,714,304.
    expect(parameterCount(c)).toBe(2_208_985_600);
    const s = parameterShapes(c);
    expect(sumSizes(s, (n) => n === 'model.embed_tokens.weight')).toBe(233_373_696);
    expect(sumSizes(s, (n) => n.startsWith('model.'))).toBe(1_543_714_304);
  });

  it('adds lm_head when the embeddings are not tied', () => {
    const cfg = qwen2vl2b();
    cfg.tie_word_embeddings = false;
    const untied = parseModelConfig(cfg);
    expect(parameterShapes(untied)['lm_head.weight']).toEqual([151936, 1536]);
    expect(parameterCount(untied)).toBe(2_208_985_600 + 151936 * 1536);
  });

  it('spells names the newer transformers way on request', () => {
    const s = parameterShapes(c, 'nested');
    expect(s['model.visual.blocks.0.attn.qkv.weight']).toEqual([3840, 1280]);
    expect(s['model.language_model.layers.0.self_attn.k_proj.weight']).toEqual([256, 1536]);
    expect(s['model.language_model.embed_tokens.weight']).toEqual([151936, 1536]);
    expect(s['visual.blocks.0.attn.qkv.weight']).toBeUndefined();
    expect(Object.keys(s)).toHaveLength(Object.keys(parameterShapes(c)).length);
  });
});

describe('Qwen2.5-VL-3B-Instruct config', () => {
  const c = parseModelConfig(qwen25vl3b());

  it('reads the decoder', () => {
    expect(c.modelType).toBe('qwen2_5_vl');
    expect(c.text).toMatchObject({
      hiddenSize: 2048,
      numHiddenLayers: 36,
      numAttentionHeads: 16,
      numKeyValueHeads: 2,
      headDim: 128,
      intermediateSize: 11008,
      mropeSection: [16, 24, 24],
      vocabSize: 151936,
      tieWordEmbeddings: true,
      maxPositionEmbeddings: 128000,
    });
  });

  it('reads the vision tower (SiLU SwiGLU, RMSNorm, windows)', () => {
    expect(c.vision).toMatchObject({
      depth: 32,
      hiddenSize: 1280,
      numHeads: 16,
      headDim: 80,
      intermediateSize: 3420,
      mlpKind: 'gated',
      hiddenAct: 'silu',
      norm: 'rmsnorm',
      mergerHiddenSize: 5120,
      outHiddenSize: 2048,
      windowSize: 112,
      fullattBlockIndexes: [7, 15, 23, 31],
      tokensPerSecond: 2,
    });
  });

  it('lists the tensor shapes of the architecture', () => {
    const s = parameterShapes(c);
    expect(s['visual.patch_embed.proj.weight']).toEqual([1280, 3, 2, 14, 14]);
    expect(s['visual.blocks.7.norm1.weight']).toEqual([1280]);
    expect(s['visual.blocks.7.norm1.bias']).toBeUndefined();
    expect(s['visual.blocks.7.attn.qkv.bias']).toEqual([3840]);
    expect(s['visual.blocks.7.mlp.gate_proj.weight']).toEqual([3420, 1280]);
    expect(s['visual.blocks.7.mlp.gate_proj.bias']).toEqual([3420]);
    expect(s['visual.blocks.7.mlp.up_proj.weight']).toEqual([3420, 1280]);
    expect(s['visual.blocks.7.mlp.up_proj.bias']).toEqual([3420]);
    expect(s['visual.blocks.7.mlp.down_proj.weight']).toEqual([1280, 3420]);
    expect(s['visual.blocks.7.mlp.down_proj.bias']).toEqual([1280]);
    expect(s['visual.blocks.7.mlp.fc1.weight']).toBeUndefined();
    expect(s['visual.merger.ln_q.weight']).toEqual([1280]);
    expect(s['visual.merger.ln_q.bias']).toBeUndefined();
    expect(s['visual.merger.mlp.2.weight']).toEqual([2048, 5120]);
    expect(s['model.layers.35.self_attn.q_proj.weight']).toEqual([2048, 2048]);
    expect(s['model.layers.35.self_attn.k_proj.weight']).toEqual([256, 2048]);
    expect(s['model.layers.35.mlp.gate_proj.weight']).toEqual([11008, 2048]);
    expect(s['lm_head.weight']).toBeUndefined();
  });

  it('counts the published number of parameters and tensors', () => {
    // Qwen2.5-VL-3B-Instruct: 3,754,622,976 parameters (MTEB's metadata of GVE-3B, adapted from it, with
    // 311,164,928 embedding parameters; fine-tune manifests of the checkpoint list 824 tensors with that
    // total). Its decoder matches Qwen2.5-3B-Instruct's published 3,085,938,688.
    expect(parameterCount(c)).toBe(3_754_622_976);
    const s = parameterShapes(c);
    expect(Object.keys(s)).toHaveLength(824);
    expect(sumSizes(s, (n) => n === 'model.embed_tokens.weight')).toBe(311_164_928);
    expect(sumSizes(s, (n) => n.startsWith('model.'))).toBe(3_085_938_688);
  });
});

describe('newer layouts', () => {
  const reference = parseModelConfig(qwen2vl2b());
  const textKeys = [
    'hidden_size',
    'intermediate_size',
    'num_hidden_layers',
    'num_attention_heads',
    'num_key_value_heads',
    'rms_norm_eps',
    'rope_theta',
    'vocab_size',
    'hidden_act',
    'max_position_embeddings',
    'tie_word_embeddings',
    'bos_token_id',
    'eos_token_id',
    'rope_scaling',
  ];
  const nest = (): Json => {
    const flat = qwen2vl2b();
    const text: Json = {};
    for (const k of textKeys) {
      text[k] = flat[k];
      delete flat[k];
    }
    flat.text_config = text;
    return flat;
  };

  it('reads decoder settings nested under text_config', () => {
    expect(parseModelConfig(nest())).toEqual(reference);
  });

  it('reads rope_parameters with rope_type and rope_theta inside', () => {
    const cfg = nest();
    const text = cfg.text_config as Json;
    delete text.rope_scaling;
    delete text.rope_theta;
    text.rope_parameters = { rope_type: 'default', rope_theta: 1000000.0, mrope_section: [16, 24, 24] };
    expect(parseModelConfig(cfg)).toEqual(reference);
    text.rope_parameters = { rope_type: 'default', rope_theta: 5e5, mrope_section: [16, 24, 24] };
    expect(parseModelConfig(cfg).text.ropeTheta).toBe(5e5);
  });

  it('reads rope_scaling with rope_type instead of type, and in_channels instead of in_chans', () => {
    const cfg = qwen2vl2b();
    cfg.rope_scaling = { rope_type: 'mrope', mrope_section: [16, 24, 24] };
    delete vis(cfg).in_chans;
    vis(cfg).in_channels = 3;
    expect(parseModelConfig(cfg)).toEqual(reference);
  });

  it('prefers text_config over top-level values', () => {
    const cfg = nest();
    cfg.hidden_size = 999;
    expect(parseModelConfig(cfg).text.hiddenSize).toBe(1536);
  });

  it('takes an explicit consistent head_dim and a list of eos ids', () => {
    const cfg = qwen2vl2b();
    cfg.head_dim = 128;
    cfg.eos_token_id = [151645, 151643];
    const c = parseModelConfig(cfg);
    expect(c.text.headDim).toBe(128);
    expect(c.tokens.eosTokenIds).toEqual([151645, 151643]);
  });

  it('defaults num_key_value_heads to the head count (as transformers does)', () => {
    const cfg = qwen2vl2b();
    delete cfg.num_key_value_heads;
    expect(parseModelConfig(cfg).text.numKeyValueHeads).toBe(12);
  });
});

describe('errors', () => {
  it('rejects unsupported model types, naming the supported ones', () => {
    for (const modelType of ['qwen2', 'qwen3_vl', undefined]) {
      const cfg = qwen2vl2b();
      cfg.model_type = modelType;
      const e = configError(cfg);
      expect(e.field).toBe('model_type');
      expect(e.message).toContain('qwen2_vl');
      expect(e.message).toContain('qwen2_5_vl');
    }
  });

  it('rejects text that is not JSON or not an object', () => {
    expect(configError('{"model_type": ').field).toBe('config.json');
    expect(configError([1, 2]).field).toBe('config.json');
    expect(configError(null).field).toBe('config.json');
  });

  it('rejects unknown activation names', () => {
    const a = qwen2vl2b();
    a.hidden_act = 'gelu';
    const ea = configError(a);
    expect(ea.field).toBe('hidden_act');
    expect(ea.message).toContain('silu');
    const b = qwen2vl2b();
    vis(b).hidden_act = 'relu';
    const eb = configError(b);
    expect(eb.field).toBe('vision_config.hidden_act');
    expect(eb.message).toContain('quick_gelu');
  });

  it('rejects missing required fields, naming them', () => {
    const cases: [(c: Json) => void, string][] = [
      [(c) => delete c.hidden_size, 'hidden_size'],
      [(c) => delete c.num_hidden_layers, 'num_hidden_layers'],
      [(c) => delete c.num_attention_heads, 'num_attention_heads'],
      [(c) => delete c.intermediate_size, 'intermediate_size'],
      [(c) => delete c.vocab_size, 'vocab_size'],
      [(c) => delete c.vision_config, 'vision_config'],
      [(c) => delete vis(c).depth, 'vision_config.depth'],
      [(c) => delete vis(c).embed_dim, 'vision_config.embed_dim'],
      [(c) => delete vis(c).num_heads, 'vision_config.num_heads'],
      [(c) => delete c.rope_scaling, 'rope_scaling.mrope_section'],
      [(c) => delete (c.rope_scaling as Json).mrope_section, 'rope_scaling.mrope_section'],
    ];
    for (const [edit, field] of cases) {
      const cfg = qwen2vl2b();
      edit(cfg);
      const e = configError(cfg);
      expect(e.field).toBe(field);
      expect(e.message).toContain(field);
    }
    const q = qwen25vl3b();
    delete vis(q).intermediate_size;
    expect(configError(q).field).toBe('vision_config.intermediate_size');
    const n = qwen2vl2b();
    n.text_config = { num_hidden_layers: 28 };
    delete n.hidden_size;
    expect(configError(n).field).toBe('text_config.hidden_size');
  });

  it('rejects values of the wrong type', () => {
    const cases: [(c: Json) => void, string][] = [
      [(c) => (c.hidden_size = '1536'), 'hidden_size'],
      [(c) => (c.num_hidden_layers = 2.5), 'num_hidden_layers'],
      [(c) => (c.vocab_size = 0), 'vocab_size'],
      [(c) => (c.rms_norm_eps = -1), 'rms_norm_eps'],
      [(c) => (c.tie_word_embeddings = 'yes'), 'tie_word_embeddings'],
      [(c) => (c.text_config = 7), 'text_config'],
      [(c) => (c.rope_scaling = [16, 24, 24]), 'rope_scaling'],
      [(c) => ((c.rope_scaling as Json).mrope_section = '16,24,24'), 'rope_scaling.mrope_section'],
      [(c) => (vis(c).patch_size = 0), 'vision_config.patch_size'],
    ];
    for (const [edit, field] of cases) {
      const cfg = qwen2vl2b();
      edit(cfg);
      expect(configError(cfg).field).toBe(field);
    }
  });

  it('rejects inconsistent values', () => {
    const cases: [(c: Json) => void, string, string][] = [
      [(c) => (c.num_attention_heads = 10), 'num_attention_heads', 'not divisible by num_attention_heads'],
      [(c) => (c.num_key_value_heads = 5), 'num_key_value_heads', 'not divisible by num_key_value_heads'],
      [(c) => (c.head_dim = 64), 'head_dim', 'differs'],
      [(c) => ((c.rope_scaling as Json).mrope_section = [16, 24, 16]), 'rope_scaling.mrope_section', '64'],
      [(c) => ((c.rope_scaling as Json).mrope_section = [32, 32]), 'rope_scaling.mrope_section', '3 entries'],
      [(c) => ((c.rope_scaling as Json).type = 'yarn'), 'rope_scaling.type', 'yarn'],
      [(c) => (vis(c).num_heads = 12), 'vision_config.num_heads', 'not divisible'],
      [(c) => (vis(c).num_heads = 128), 'vision_config.num_heads', 'multiple of 4'],
      [(c) => (vis(c).hidden_size = 2048), 'vision_config.hidden_size', '1536'],
      [(c) => (c.image_token_id = 151936), 'image_token_id', 'vocab_size'],
      [(c) => (c.eos_token_id = [151645, 200000]), 'eos_token_id', 'vocab_size'],
    ];
    for (const [edit, field, text] of cases) {
      const cfg = qwen2vl2b();
      edit(cfg);
      const e = configError(cfg);
      expect(e.field).toBe(field);
      expect(e.message).toContain(text);
    }
    const q: [(c: Json) => void, string][] = [
      [(c) => (vis(c).window_size = 100), 'vision_config.window_size'],
      [(c) => (vis(c).fullatt_block_indexes = [7, 32]), 'vision_config.fullatt_block_indexes'],
      [(c) => (vis(c).out_hidden_size = 1536), 'vision_config.out_hidden_size'],
    ];
    for (const [edit, field] of q) {
      const cfg = qwen25vl3b();
      edit(cfg);
      expect(configError(cfg).field).toBe(field);
    }
  });
});

describe('nano preset (public/nano)', () => {
  const raw = readJson(`${nanoDir}config.json`);
  const c: ModelConfig = parseModelConfig(raw);

  it('loads with the same parser as a real checkpoint', () => {
    expect(raw.model_type).toBe('qwen2_vl');
    expect(c.text).toMatchObject({
      hiddenSize: 128,
      numHiddenLayers: 4,
      headDim: 32,
      mropeSection: [4, 6, 6],
    });
    expect(c.vision).toMatchObject({ depth: 2, hiddenSize: 64, numHeads: 4, headDim: 16, patchDim: 1176 });
  });

  it('has between 0.5M and 2M parameters', () => {
    const n = parameterCount(c);
    expect(n).toBeGreaterThan(500_000);
    expect(n).toBeLessThan(2_000_000);
    // By hand: vision 64*1176 + 2*(256 + 12480 + 4160 + 16640 + 16448) + (128 + 65792 + 32896) = 274,048;
    // decoder 512*128 + 4*(256 + 16512 + 2*8256 + 16384 + 3*128*384) + 128 = 854,144.
    expect(n).toBe(274_048 + 854_144);
  });

  it('keeps its special token ids in the vocabulary, in Qwen order', () => {
    const t = c.tokens;
    const qwenOffset = 151643 - (t.bosTokenId ?? Number.NaN);
    expect(t.visionStartTokenId + qwenOffset).toBe(151652);
    expect(t.visionEndTokenId + qwenOffset).toBe(151653);
    expect((t.visionTokenId ?? Number.NaN) + qwenOffset).toBe(151654);
    expect(t.imageTokenId + qwenOffset).toBe(151655);
    expect(t.videoTokenId + qwenOffset).toBe(151656);
    expect(t.eosTokenIds.map((id) => id + qwenOffset)).toEqual([151645]);
    expect(t.videoTokenId).toBeLessThan(c.text.vocabSize);
  });

  it('ships a generation config suited to GRPO sampling', () => {
    const g = readJson(`${nanoDir}generation_config.json`);
    expect(g.do_sample).toBe(true);
    expect(g.temperature).toBe(1);
    expect(g.top_k).not.toBe(1);
    expect(g.eos_token_id).toContain(c.tokens.eosTokenIds[0]);
  });

  it('ships a Qwen2-VL preprocessor config for small images', () => {
    const p = readJson(`${nanoDir}preprocessor_config.json`);
    expect(p.image_processor_type).toBe('Qwen2VLImageProcessor');
    expect(p.min_pixels).toBe(56 * 56);
    expect(p.max_pixels).toBe(224 * 224);
    expect(p.patch_size).toBe(c.vision.patchSize);
    expect(p.temporal_patch_size).toBe(c.vision.temporalPatchSize);
    expect(p.merge_size).toBe(c.vision.spatialMergeSize);
  });
});
