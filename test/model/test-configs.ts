// Model configs the model tests share: a tiny Qwen2-VL (2 layers, hidden 32, 4 / 2 heads, head dim 8,
// mrope_section [1, 1, 2], vocab 50) and the nano preset read from public/nano.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ModelConfig, parseModelConfig } from '../../src/model/config.ts';

export const TINY_IMAGE_TOKEN = 45;
export const TINY_EOS_TOKEN = 49;

export function tinyConfig(tied = true): ModelConfig {
  return parseModelConfig({
    model_type: 'qwen2_vl',
    hidden_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    intermediate_size: 48,
    vocab_size: 50,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: tied,
    rope_scaling: { type: 'mrope', mrope_section: [1, 1, 2] },
    vision_start_token_id: 43,
    vision_end_token_id: 44,
    image_token_id: TINY_IMAGE_TOKEN,
    video_token_id: 46,
    eos_token_id: TINY_EOS_TOKEN,
    vision_config: { depth: 1, embed_dim: 16, num_heads: 2 },
  });
}

export function nanoConfig(): ModelConfig {
  const path = fileURLToPath(new URL('../../public/nano/config.json', import.meta.url));
  return parseModelConfig(readFileSync(path, 'utf8'));
}
