// Generation benchmark of the nano preset (public/nano/config.json, seeded random weights): a prompt of
// 62 text tokens, <vision_start>, the 16 pad tokens of one 8x8-patch image, <vision_end>. Prefill: the
// vision tower plus the decoder over the prompt into a one-row KV cache (prompt tokens / time). Decode:
// greedy generate() for G = 1 and G = 8 samples; the time of 32 new tokens per sample is generate() with
// 33 new tokens minus generate() with 1 (both include the same prefill), and tokens/s = G * 32 / that.
// The same decode measure at Qwen2-VL-2B's layer shape: one decoder layer of its size (hidden 1536, 12
// query / 2 kv heads of 128, MLP 8960; nano's 512-token vocabulary) after a text prompt of 256 tokens,
// G = 8, 16 new tokens: tokens/s per layer.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { noGrad } from '../src/gpu/autograd.ts';
import type { Gpu } from '../src/gpu/context.ts';
import type { Tensor } from '../src/gpu/tensor.ts';
import { parseModelConfig } from '../src/model/config.ts';
import { generate, prefill } from '../src/model/generate.ts';
import { createKvCache, disposeKvCache } from '../src/model/kv-cache.ts';
import { modelPositions } from '../src/model/qwen-vl.ts';
import { visionForward } from '../src/model/vision.ts';
import type { ImageGrid } from '../src/model/vision-layout.ts';
import { disposeWeights, randomWeights } from '../src/model/weights.ts';
import { filled } from './fill.ts';
import { measure } from './timing.ts';

export interface GenerationRow {
  name: string;
  prompt_tokens: number;
  samples: number;
  new_tokens: number;
  tokens_per_s: number;
  ms: number;
}

const TEXT_TOKENS = 62;
const NEW_TOKENS = 32;
const LAYER_ROW = 'decode-qwen2vl-2b-layer-g8';

/** Decode at the 2B layer shape (see the header); `push` logs the row. */
async function layerDecode(
  gpu: Gpu,
  nanoJson: Record<string, unknown>,
  runs: number,
  push: (row: GenerationRow) => void,
): Promise<GenerationRow> {
  const config = parseModelConfig({
    ...nanoJson,
    hidden_size: 1536,
    intermediate_size: 8960,
    num_attention_heads: 12,
    num_key_value_heads: 2,
    num_hidden_layers: 1,
    rope_scaling: { type: 'mrope', mrope_section: [16, 24, 24] },
    vision_config: { ...(nanoJson.vision_config as object), hidden_size: 1536 },
  });
  const weights = randomWeights(gpu, config, 2);
  const ids = Int32Array.from({ length: 256 }, (_, i) => (i * 37 + 11) % 480);
  const { positions: pos, ropeDelta } = modelPositions(config, ids);
  const positions = pos.map((r) => Int32Array.from(r)) as [Int32Array, Int32Array, Int32Array];
  const G = 8;
  const newTokens = 16;
  try {
    const run = (maxNewTokens: number) => async () => {
      await generate(gpu, config, weights, {
        inputIds: ids,
        positions,
        ropeDelta,
        numSamples: G,
        maxNewTokens,
        temperature: 0,
        seed: 0,
        stopIds: [],
      });
    };
    const base = await measure(run(1), { warmup: 1, runs });
    const full = await measure(run(newTokens + 1), { warmup: 1, runs });
    const ms = full.medianMs - base.medianMs;
    const row: GenerationRow = {
      name: LAYER_ROW,
      prompt_tokens: ids.length,
      samples: G,
      new_tokens: newTokens,
      tokens_per_s: (G * newTokens) / (ms / 1000),
      ms,
    };
    push(row);
    return row;
  } finally {
    disposeWeights(weights);
  }
}

export async function benchGenerate(
  gpu: Gpu,
  { only, runs = 5 }: { only?: RegExp; runs?: number } = {},
  log: (s: string) => void = () => {},
): Promise<GenerationRow[]> {
  const names = ['nano-prefill', 'nano-decode-g1', 'nano-decode-g8', LAYER_ROW];
  if (only && !names.some((n) => only.test(n))) return [];
  const nanoJson = JSON.parse(
    readFileSync(fileURLToPath(new URL('../public/nano/config.json', import.meta.url)), 'utf8'),
  );
  const config = parseModelConfig(nanoJson);
  const weights = randomWeights(gpu, config, 1);
  const grid: ImageGrid = [1, 8, 8];
  const patches = grid[0] * grid[1] * grid[2];
  const pads = patches / config.vision.spatialMergeSize ** 2;
  const text = Array.from({ length: TEXT_TOKENS }, (_, i) => (i * 37 + 11) % 480);
  const ids = Int32Array.from([
    ...text.slice(0, 8),
    config.tokens.visionStartTokenId,
    ...Array<number>(pads).fill(config.tokens.imageTokenId),
    config.tokens.visionEndTokenId,
    ...text.slice(8),
  ]);
  const S = ids.length;
  const { positions: pos, ropeDelta } = modelPositions(config, ids, [grid]);
  const positions = pos.map((r) => Int32Array.from(r)) as [Int32Array, Int32Array, Int32Array];
  const pixelData = filled(patches * config.vision.patchDim, 3);
  const pixels = gpu.keep(gpu.tensor(pixelData, [patches, config.vision.patchDim]));
  const features = (): Tensor => noGrad(gpu, () => visionForward(gpu, config, weights, pixels, [grid]));
  const rows: GenerationRow[] = [];
  const push = (row: GenerationRow) => {
    rows.push(row);
    log(
      `  ${row.name.padEnd(34)} ${row.tokens_per_s.toFixed(1).padStart(9)} tokens/s  (${row.ms.toFixed(1)} ms; prompt ${row.prompt_tokens}, G ${row.samples}, ${row.new_tokens} new)`,
    );
  };
  try {
    if (!only || only.test('nano-prefill')) {
      const t = await measure(
        async () => {
          const cache = createKvCache(gpu, config, 1, S);
          const f = gpu.keep(features());
          const logits = prefill(gpu, config, weights, cache, { inputIds: ids, positions, imageFeatures: f });
          await gpu.read(logits);
          for (const x of [logits, f]) x.dispose();
          disposeKvCache(cache);
        },
        { warmup: 1, runs },
      );
      push({
        name: 'nano-prefill',
        prompt_tokens: S,
        samples: 1,
        new_tokens: 0,
        tokens_per_s: S / (t.medianMs / 1000),
        ms: t.medianMs,
      });
    }
    const imageFeatures = gpu.keep(features());
    try {
      for (const G of [1, 8]) {
        const name = `nano-decode-g${G}`;
        if (only && !only.test(name)) continue;
        const run = (maxNewTokens: number) => async () => {
          const out = await generate(gpu, config, weights, {
            inputIds: ids,
            positions,
            ropeDelta,
            imageFeatures,
            numSamples: G,
            maxNewTokens,
            temperature: 0,
            seed: 0,
            stopIds: [],
          });
          if (out.ids[0]!.length !== maxNewTokens) throw new Error('generation stopped early');
        };
        const base = await measure(run(1), { warmup: 1, runs });
        const full = await measure(run(NEW_TOKENS + 1), { warmup: 1, runs });
        const ms = full.medianMs - base.medianMs;
        push({
          name,
          prompt_tokens: S,
          samples: G,
          new_tokens: NEW_TOKENS,
          tokens_per_s: (G * NEW_TOKENS) / (ms / 1000),
          ms,
        });
      }
    } finally {
      imageFeatures.dispose();
    }
  } finally {
    pixels.dispose();
    disposeWeights(weights);
  }
  if (!only || only.test(LAYER_ROW)) await layerDecode(gpu, nanoJson, runs, push);
  return rows;
}
