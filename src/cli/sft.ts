// `vgrpo sft`: the SFT warm-up from the command line, for a model that cannot yet answer in the rewarded
// format: cross-entropy on reference answers in the model's box space and answer form. Writes
// OUT/metrics.jsonl and, at the end (or on Ctrl-C), OUT/model/: a complete HF model folder (LoRA merged
// into the weights) that `vgrpo train --model OUT/model` starts GRPO from.
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeGpu } from '../gpu/node.ts';
import { loadStartingAdapter } from '../grpo/adapter.ts';
import { totalOptimizerSteps } from '../grpo/config.ts';
import { SftTrainer } from '../grpo/sft.ts';
import type { Lora } from '../model/lora.ts';
import { disposeWeights } from '../model/weights.ts';
import { type FlagValues, runSubcommand } from './command.ts';
import { writeModelFolder } from './export.ts';
import { modelDir } from './model-input.ts';
import {
  configError,
  loadRunModel,
  loadRunRows,
  ProgressLine,
  RUN_FLAGS,
  RUN_USAGE,
  runAdapterConfig,
  runConfig,
} from './run-setup.ts';

export const SFT_USAGE = `Usage: vgrpo sft [options] --out DIR
Supervised warm-up on the dataset's reference answers (the synthetic set's by default).
${RUN_USAGE}  --out DIR             where metrics.jsonl and the trained model/ folder go (default runs/sft)
Exit code: 0 when done, 1 for a bad model, dataset or config, 2 for a usage error, 130 when
interrupted (after writing the model).
`;

export function sftCommand(args: string[]): Promise<number> {
  return runSubcommand('sft', SFT_USAGE, args, { ...RUN_FLAGS, out: { type: 'string' } }, run);
}

async function run(values: FlagValues): Promise<number> {
  const out = (values.out as string | undefined) ?? 'runs/sft';
  const { config, adapter } = await runAdapterConfig(values, await runConfig(values).catch(configError));
  const { rows, name: datasetName } = await loadRunRows(values);
  const gpu = await createNodeGpu();
  let stopping = false;
  const onSigint = () => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write('\nvgrpo sft: interrupted; writing the model after this step\n');
  };
  process.on('SIGINT', onSigint);
  try {
    // The adapters are merged into the weights written at the end, which needs them in f32.
    const model = await loadRunModel(gpu, values, { ...config, weight_dtype: 'f32' });
    let sft: SftTrainer;
    let lora: Lora | undefined;
    try {
      lora = adapter && (await loadStartingAdapter(gpu, model.prompt.config, adapter, config));
      const total = totalOptimizerSteps({ ...config, num_generations: 1, num_iterations: 1 }, rows.length);
      sft = new SftTrainer(
        {
          gpu,
          model: model.prompt,
          weights: model.weights,
          rows,
          config,
          space: model.space,
          endOfTurnId: model.prompt.config.tokens.eosTokenIds[0]!,
          ...(lora ? { adapter: lora } : {}),
        },
        total,
      );
    } catch (e) {
      lora?.dispose();
      disposeWeights(model.weights);
      configError(e);
    }
    try {
      await mkdir(out, { recursive: true });
      process.stderr.write(
        `SFT of ${model.name} on ${datasetName} (${rows.length} rows): ${sft.totalSteps} steps\n`,
      );
      const progress = new ProgressLine('step', sft.totalSteps, 1);
      while (sft.step < sft.totalSteps && !stopping) {
        const m = await sft.trainStep();
        await appendFile(join(out, 'metrics.jsonl'), `${JSON.stringify({ step: sft.step, ...m })}\n`);
        progress.update(sft.step, `loss ${m.loss?.toFixed(4)}  ${m.step_time?.toFixed(1)} s/step`);
      }
      const dir = join(out, 'model');
      await writeModelFolder(gpu, modelDir(model.name), model.weights, dir, sft.policy.lora);
      process.stderr.write(`wrote the trained model to ${dir}\n`);
      return stopping ? 130 : 0;
    } finally {
      sft.dispose();
      disposeWeights(model.weights);
    }
  } finally {
    process.off('SIGINT', onSigint);
    gpu.destroy();
  }
}
