// First half of the export oracle recipe (the second is scripts/check-export.py): trains the built-in
// nano checkpoint for 2 GRPO steps with LoRA, saves the checkpoint as a run folder, exports it with the
// real binary (`vgrpo export`, as a PEFT adapter and with --merged as a full HF model folder), and writes
// our own logits for two inputs to OUT_DIR/ours.json, so that PEFT and transformers can be checked to
// load the exports and give the same logits.
//
//   node --import ./bin/register.js scripts/export-check.ts OUT_DIR
//   python3 scripts/check-export.py OUT_DIR
//
// OUT_DIR then holds run/ (metrics.jsonl and checkpoint-2/), adapter/ and merged/ (the two exports) and
// ours.json: for a text-only id sequence and for a chat prompt with one synthetic image, the input ids,
// the processor's pixel_values (flat, row-major [patches, patchDim]) and image_grid_thw, and our logits
// [S, vocab] (flat, row-major) of the base model with the adapter's `linear` hook (`logits`) and of the
// base model alone (`base_logits`, to show that the adapter moved the model). Everything is seeded; no
// network is used.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPromptModel, NANO_DIR } from '../src/cli/model-input.ts';
import { generateScene, syntheticDataset } from '../src/data/synthetic.ts';
import type { Gpu } from '../src/gpu/context.ts';
import { createNodeGpu } from '../src/gpu/node.ts';
import { saveCheckpoint } from '../src/grpo/checkpoint.ts';
import { resolveConfig } from '../src/grpo/config.ts';
import { registerReward, rewardNames } from '../src/grpo/rewards/rewards.ts';
import { GrpoTrainer } from '../src/grpo/trainer.ts';
import { directoryOpener } from '../src/model/byte-source-node.ts';
import type { ModelConfig } from '../src/model/config.ts';
import type { LinearFn } from '../src/model/decoder.ts';
import { loadModel } from '../src/model/load.ts';
import { importPeft } from '../src/model/lora.ts';
import { buildPrompt, stopTokenIds } from '../src/model/prompt.ts';
import { modelForward } from '../src/model/qwen-vl.ts';
import type { ImageGrid } from '../src/model/vision-layout.ts';
import { disposeWeights, type Weights } from '../src/model/weights.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const REWARD = 'export-check-length';
const STEPS = 2;
const SEED = 1234;

/** The GRPO run: 2 steps of LoRA on nano, a reward with spread (longer completions score higher). */
async function train(gpu: Gpu, runDir: string): Promise<void> {
  if (!rewardNames().includes(REWARD)) registerReward(REWARD, (x) => x.completion.length / 100);
  const model = await loadPromptModel('nano');
  const loaded = await loadModel(gpu, directoryOpener(NANO_DIR));
  const config = resolveConfig(
    {
      num_generations: 2,
      per_device_train_batch_size: 2,
      gradient_accumulation_steps: 1,
      max_completion_length: 8,
      use_peft: true,
      lora_r: 4,
      lora_alpha: 8,
      lora_dropout: 0,
      learning_rate: 1e-2,
      save_steps: STEPS,
      max_steps: STEPS,
      seed: SEED,
      reward_funcs: [REWARD],
    },
    { preset: 'nano-demo', knownRewards: rewardNames() },
  );
  const trainer = new GrpoTrainer({
    gpu,
    model,
    weights: loaded.weights,
    rows: syntheticDataset(SEED, 8),
    config,
    space: 'pixels',
    stopIds: stopTokenIds(model.tokenizer, model.config.tokens.eosTokenIds),
  });
  const logged: string[] = [];
  while (!trainer.done) {
    const report = await trainer.trainStep();
    logged.push(JSON.stringify({ step: report.step }));
  }
  const ckpt = join(runDir, `checkpoint-${STEPS}`);
  mkdirSync(ckpt, { recursive: true });
  const files = await saveCheckpoint(trainer, { model: 'nano', dataset: `synthetic:${SEED}:8` });
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(ckpt, name), bytes);
  writeFileSync(join(runDir, 'metrics.jsonl'), `${logged.join('\n')}\n`);
  trainer.dispose();
  disposeWeights(loaded.weights);
}

/** `vgrpo export ARGS` through the real binary; throws (with its stderr shown) when it fails. */
function vgrpoExport(args: string[]): void {
  execFileSync(process.execPath, ['bin/vgrpo.js', 'export', ...args], { cwd: ROOT, stdio: 'inherit' });
}

interface Case {
  ids: number[];
  pixel_values?: number[];
  pixel_shape?: [number, number];
  grid?: ImageGrid;
  shape: [number, number];
  logits: number[];
  base_logits: number[];
}

/** Logits [S, vocab] of one input, with the adapter's hook and without it, read back flat. */
async function logitsOf(
  gpu: Gpu,
  config: ModelConfig,
  weights: Weights,
  linearHook: LinearFn,
  ids: number[],
  image?: { pixels: Float32Array; grid: ImageGrid },
): Promise<Pick<Case, 'shape' | 'logits' | 'base_logits'>> {
  const input = {
    inputIds: Int32Array.from(ids),
    ...(image ? { pixelValues: image.pixels, imageGrids: [image.grid] } : {}),
  };
  const adapted = modelForward(gpu, config, weights, input, { linear: linearHook });
  const base = modelForward(gpu, config, weights, input);
  const [a, b] = [await gpu.read(adapted), await gpu.read(base)];
  const shape: [number, number] = [adapted.shape[0]!, adapted.shape[1]!];
  adapted.dispose();
  base.dispose();
  return { shape, logits: Array.from(a), base_logits: Array.from(b) };
}

async function main(): Promise<void> {
  const outArg = process.argv[2];
  if (outArg === undefined) {
    process.stderr.write('usage: node --import ./bin/register.js scripts/export-check.ts OUT_DIR\n');
    process.exit(2);
  }
  const out = resolve(outArg);
  const runDir = join(out, 'run');
  const adapterDir = join(out, 'adapter');
  const mergedDir = join(out, 'merged');
  for (const d of [runDir, adapterDir, mergedDir]) rmSync(d, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });

  const gpu = await createNodeGpu({ announce: true });
  try {
    await train(gpu, runDir);
    vgrpoExport(['--run', runDir, '--out', adapterDir]);
    vgrpoExport(['--run', runDir, '--out', mergedDir, '--merged']);

    const model = await loadPromptModel('nano');
    const base = await loadModel(gpu, directoryOpener(NANO_DIR));
    const lora = await importPeft(gpu, base.config, {
      'adapter_config.json': readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'),
      'adapter_model.safetensors': new Uint8Array(
        readFileSync(join(adapterDir, 'adapter_model.safetensors')),
      ),
    });
    // (a) Text only: vocabulary ids with chat specials (<|endoftext|>, <|im_start|>, <|im_end|>) among them.
    const textIds = [480, 77, 101, 33, 482, 10, 481, 97, 115, 12, 250, 3, 479, 64, 200, 5];
    const text: Case = {
      ids: textIds,
      ...(await logitsOf(gpu, base.config, base.weights, lora.linear, textIds)),
    };
    // (b) One synthetic image, non-square so that M-RoPE's height and width sections differ.
    const scene = generateScene(SEED, { width: 160, height: 112, objects: 3 });
    const prompt = buildPrompt(model, scene.image, {
      question: 'Find the red object and give its bounding box.',
    });
    const px = prompt.processed;
    const grid = px.gridThw as ImageGrid;
    const image: Case = {
      ids: prompt.inputIds,
      pixel_values: Array.from(px.pixelValues),
      pixel_shape: [px.rows, px.cols],
      grid,
      ...(await logitsOf(gpu, base.config, base.weights, lora.linear, prompt.inputIds, {
        pixels: px.pixelValues,
        grid,
      })),
    };
    lora.dispose();
    disposeWeights(base.weights);
    writeFileSync(join(out, 'ours.json'), JSON.stringify({ model: 'nano', text, image }));
    process.stderr.write(
      `wrote ${join(out, 'ours.json')}: text [${text.shape}], image [${image.shape}] grid [${grid}]\n` +
        `next: python3 scripts/check-export.py ${outArg}\n`,
    );
  } finally {
    gpu.destroy();
  }
}

await main();
