// Shared by the training tests: a GrpoTrainer on the shipped nano checkpoint and synthetic rows with tiny
// settings (2 prompts x G 4, 2 micro-batches, short completions), optionally continuing a PEFT adapter or
// on another model folder with random weights; and `test-length`, a reward with spread in every group
// (longer answers score higher), so nano gets non-zero advantages whatever it writes.
import { loadPromptModel, NANO_DIR } from '../../src/cli/model-input.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import { ADAPTER_CONFIG, loadStartingAdapter, withAdapterSettings } from '../../src/grpo/adapter.ts';
import { resolveConfig } from '../../src/grpo/config.ts';
import { registerReward, rewardNames } from '../../src/grpo/rewards/rewards.ts';
import { GrpoTrainer } from '../../src/grpo/trainer.ts';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { loadModel } from '../../src/model/load.ts';
import type { PeftAdapterInput } from '../../src/model/lora.ts';
import { stopTokenIds } from '../../src/model/prompt.ts';
import { disposeWeights, randomWeights, type Weights } from '../../src/model/weights.ts';

export const LENGTH_REWARD = 'test-length';
if (!rewardNames().includes(LENGTH_REWARD)) registerReward(LENGTH_REWARD, (x) => x.completion.length / 100);

export interface NanoRun {
  trainer: GrpoTrainer;
  weights: Weights;
  dispose(): void;
}

/** A trainer over `rows` synthetic rows of `seed`; `overrides` go over the tiny settings. */
export async function nanoRun(
  g: Gpu,
  overrides: Record<string, unknown>,
  {
    seed = 5,
    rows = 12,
    adapter,
    warn = () => {},
    modelDir,
  }: {
    seed?: number;
    rows?: number;
    adapter?: PeftAdapterInput;
    warn?: (m: string) => void;
    /** Another model folder (config, tokenizer, processor), given seeded random weights. */
    modelDir?: string;
  } = {},
): Promise<NanoRun> {
  const model = await loadPromptModel(modelDir ?? 'nano');
  const loaded = modelDir
    ? { weights: randomWeights(g, model.config, seed) }
    : await loadModel(g, directoryOpener(NANO_DIR));
  let config = resolveConfig(
    {
      num_generations: 4,
      per_device_train_batch_size: 4,
      gradient_accumulation_steps: 2,
      max_completion_length: 12,
      // Sampling at 1 (the preset's 0.7) keeps the 4 completions of a group apart within 12 tokens.
      temperature: 1,
      learning_rate: 1e-3,
      reward_funcs: [LENGTH_REWARD, 'format'],
      ...overrides,
    },
    { preset: 'nano-demo', knownRewards: rewardNames() },
  );
  if (adapter) config = withAdapterSettings(config, adapter[ADAPTER_CONFIG], warn);
  const lora = adapter && (await loadStartingAdapter(g, model.config, adapter, config));
  const trainer = new GrpoTrainer({
    gpu: g,
    model,
    weights: loaded.weights,
    rows: syntheticDataset(seed, rows),
    config,
    space: 'pixels',
    stopIds: stopTokenIds(model.tokenizer, model.config.tokens.eosTokenIds),
    ...(lora ? { adapter: lora } : {}),
  });
  return {
    trainer,
    weights: loaded.weights,
    dispose: () => {
      trainer.dispose();
      disposeWeights(loaded.weights);
    },
  };
}
