// Trains the shipped nano checkpoint: from the untrained initialisation of scripts/make-nano-weights.ts,
// the product's own SFT warm-up (src/grpo/sft.ts) on synthetic grounding rows of the nano task, full fine-tuning, so that
// the model answers in the rewarded format with boxes GRPO can improve. Everything is seeded; the run's
// settings, wall time and held-out evaluation are written beside the weights (training.json), and the
// weights as F32 model.safetensors. Weights are saved every --save-every steps, so a long run can be
// stopped and resumed with --resume (the optimiser state restarts; the data order continues).
//
//   node --import ./bin/register.js scripts/make-nano-checkpoint.ts [--steps N] [--out DIR] [--resume]

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadPromptModel, NANO_DIR } from '../src/cli/model-input.ts';
import { NANO_TASK, syntheticDataset } from '../src/data/synthetic.ts';
import { createNodeGpu } from '../src/gpu/node.ts';
import { resolveConfig } from '../src/grpo/config.ts';
import { evaluate } from '../src/grpo/eval.ts';
import { mergedWeightsFile } from '../src/grpo/export.ts';
import { SftTrainer } from '../src/grpo/sft.ts';
import { bytesSource, type SourceOpener } from '../src/model/byte-source.ts';
import { loadModel } from '../src/model/load.ts';
import { stopTokenIds } from '../src/model/prompt.ts';
import { makeNanoWeights } from './make-nano-weights.ts';

/** The recorded settings of the shipped checkpoint. */
export const NANO_SFT = {
  dataSeed: 7101,
  rows: 20000,
  evalSeed: 9001,
  evalRows: 128,
  steps: 1200,
  config: {
    seed: 7102,
    learning_rate: 2e-3,
    lr_scheduler_type: 'cosine',
    warmup_steps: 50,
    per_device_train_batch_size: 16,
    gradient_accumulation_steps: 1,
    max_grad_norm: 1.0,
    weight_decay: 0.0,
    use_peft: false,
    box_space: 'pixels',
    answer_form: 'list',
  },
} as const;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: 'string' },
      out: { type: 'string' },
      resume: { type: 'boolean' },
      'save-every': { type: 'string' },
      'eval-every': { type: 'string' },
    },
  });
  const steps = Number(values.steps ?? NANO_SFT.steps);
  const out = resolve(values.out ?? NANO_DIR);
  const saveEvery = Number(values['save-every'] ?? 100);
  const evalEvery = Number(values['eval-every'] ?? 250);
  mkdirSync(out, { recursive: true });
  const weightsPath = join(out, 'model.safetensors');
  const logPath = join(out, 'training.json');

  const start = values.resume
    ? (JSON.parse(readFileSync(logPath, 'utf8')) as { steps_done: number; seconds: number; log: unknown[] })
    : { steps_done: 0, seconds: 0, log: [] as unknown[] };
  const initial = values.resume ? readFileSync(weightsPath) : makeNanoWeights();
  const configBytes = readFileSync(join(NANO_DIR, 'config.json'));
  const opener: SourceOpener = async (file) =>
    file === 'config.json'
      ? bytesSource(configBytes, file)
      : file === 'model.safetensors'
        ? bytesSource(new Uint8Array(initial), file)
        : undefined;

  const gpu = await createNodeGpu({ announce: false });
  try {
    const model = await loadPromptModel('nano');
    const loaded = await loadModel(gpu, opener);
    const config = resolveConfig({ ...NANO_SFT.config, max_steps: steps }, { preset: 'nano-demo' });
    const rows = syntheticDataset(NANO_SFT.dataSeed, NANO_SFT.rows, NANO_TASK);
    const held = syntheticDataset(NANO_SFT.evalSeed, NANO_SFT.evalRows, NANO_TASK);
    const stopIds = stopTokenIds(model.tokenizer, model.config.tokens.eosTokenIds);
    const sft = new SftTrainer(
      {
        gpu,
        model,
        weights: loaded.weights,
        rows,
        config,
        space: 'pixels',
        endOfTurnId: model.config.tokens.eosTokenIds[0]!,
      },
      steps,
    );
    sft.skipTo(start.steps_done);
    const log = start.log;
    const started = performance.now();
    const seconds = () => start.seconds + (performance.now() - started) / 1000;
    const runEval = async () => {
      const r = await evaluate(gpu, model, sft.policy.current, held, {
        space: 'pixels',
        maxCompletionLength: 64,
        stopIds,
        systemPrompt: null,
        prefill: config.assistant_prefill,
        minPixels: null,
        maxPixels: null,
        batchSize: 16,
      });
      return {
        acc50: r.acc50,
        mean_iou: r.mean_iou,
        format_rate: r.format_rate,
        example: r.samples[0]!.text,
      };
    };
    const record = (extra: Record<string, unknown>) =>
      writeFileSync(
        logPath,
        `${JSON.stringify(
          {
            recipe: 'scripts/make-nano-checkpoint.ts',
            settings: { ...NANO_SFT, steps },
            steps_done: sft.step,
            seconds: seconds(),
            ...extra,
            log,
          },
          null,
          1,
        )}\n`,
      );
    while (sft.step < steps) {
      const m = await sft.trainStep();
      const entry: Record<string, unknown> = {
        step: sft.step,
        loss: m.loss,
        grad_norm: m.grad_norm,
        lr: m.learning_rate,
      };
      if (sft.step % evalEvery === 0 || sft.step === steps) entry.eval = await runEval();
      if (sft.step % 10 === 0 || entry.eval) {
        log.push(entry);
        process.stdout.write(`${JSON.stringify({ ...entry, seconds: Math.round(seconds()) })}\n`);
      }
      if (sft.step % saveEvery === 0 || sft.step === steps) {
        writeFileSync(weightsPath, await mergedWeightsFile(gpu, loaded.weights, undefined));
        record({});
      }
    }
    record({ final_eval: await runEval() });
    sft.dispose();
  } finally {
    gpu.destroy();
  }
}

await main();
