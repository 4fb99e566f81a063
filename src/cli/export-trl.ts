// `vgrpo export-trl`: a run (its latest checkpoint's settings, model and dataset) or a config and
// dataset, as a TRL job folder (src/grpo/trl/job.ts) that trains the same run with GRPOTrainer on one GPU
// or many.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CheckpointStateError, readTrainerState } from '../grpo/checkpoint.ts';
import { declaredBoxSpace, type ModelKind, resolveBoxSpace } from '../grpo/rewards/box-space.ts';
import { writeTrlJob } from '../grpo/trl/job.ts';
import { NANO_FILES } from '../grpo/worker/model.ts';
import { type ImageProcessorOptions, QWEN_VL_IMAGE_DEFAULTS } from '../model/image-processor.ts';
import { CliError, type FlagValues, runSubcommand } from './command.ts';
import { DATASET_FLAGS, DATASET_USAGE } from './dataset-flags.ts';
import { checkpointOf } from './export.ts';
import { loadPromptModel, modelDir, readJsonFile } from './model-input.ts';
import { configError, loadRunRows, ProgressLine, runConfig } from './run-setup.ts';

export const EXPORT_TRL_USAGE = `Usage: vgrpo export-trl (--run DIR | [--config FILE] [--preset NAME]) [--model nano|DIR|ID]
                        [--dataset synthetic|PATH] --out DIR
A self-contained TRL project that runs the same GRPO with GRPOTrainer: train.py, rewards.py (our rewards
in Python), job.json (the settings under GRPOConfig's names), data/ (the usable rows and their images),
requirements.txt, accelerate configs for 1 GPU, 8 GPUs (DDP) and DeepSpeed ZeRO-2 / ZeRO-3, README.md.
  --run DIR             a 'vgrpo train' output or checkpoint folder: its settings, model and dataset
  --config FILE         settings as JSON or YAML with TRL's GRPOConfig names (without --run)
  --preset NAME         a preset under the config
  --model nano|DIR|ID   what train.py loads: the built-in nano (shipped in the job's model/), an HF
                        folder, or a hub id such as Qwen/Qwen2-VL-2B-Instruct (default: the run's
                        model, else nano)
  --dataset synthetic|PATH
                        the rows to train on (default: the run's dataset, else synthetic)
  --synthetic-seed N    the synthetic set's seed (default 1)
  --synthetic-rows N    its size (default 2000)
  --out DIR             the project folder to write
${DATASET_USAGE}`;

export function exportTrlCommand(args: string[]): Promise<number> {
  return runSubcommand(
    'export-trl',
    EXPORT_TRL_USAGE,
    args,
    {
      run: { type: 'string' },
      config: { type: 'string' },
      preset: { type: 'string' },
      model: { type: 'string' },
      dataset: { type: 'string' },
      'synthetic-seed': { type: 'string' },
      'synthetic-rows': { type: 'string' },
      out: { type: 'string' },
      ...DATASET_FLAGS,
    },
    run,
  );
}

/** The model as train.py names it, its kind, declared box space and image processor settings. */
async function modelOf(model: string): Promise<{
  name: string;
  kind: ModelKind;
  declared?: ReturnType<typeof declaredBoxSpace>;
  processor: ImageProcessorOptions;
}> {
  const dir = modelDir(model);
  if (model === 'nano' || existsSync(join(dir, 'config.json'))) {
    const prompt = await loadPromptModel(model);
    const declared = declaredBoxSpace(await readJsonFile(dir, 'config.json', true));
    return {
      name: resolve(dir),
      kind: model === 'nano' ? 'nano' : prompt.config.modelType,
      ...(declared ? { declared } : {}),
      processor: prompt.imageOptions,
    };
  }
  const kind = /qwen2\.5-vl/i.test(model) ? 'qwen2_5_vl' : /qwen2-vl/i.test(model) ? 'qwen2_vl' : undefined;
  if (!kind)
    throw new CliError(
      `--model ${model} is neither a folder with a config.json nor a Qwen2-VL / Qwen2.5-VL hub id; ` +
        'pass the model folder',
      2,
    );
  return { name: model, kind, processor: QWEN_VL_IMAGE_DEFAULTS };
}

async function run(values: FlagValues): Promise<number> {
  const out = values.out as string | undefined;
  if (!out) throw new CliError('--out DIR is required', 2);
  const runDir = values.run as string | undefined;
  const flags: FlagValues = { ...values };
  let stateConfig: Record<string, unknown> = {};
  if (runDir !== undefined) {
    if (values.config !== undefined || values.preset !== undefined)
      throw new CliError("--run takes the run's own settings; drop --config and --preset", 2);
    const checkpoint = await checkpointOf(runDir);
    try {
      const state = readTrainerState(new Uint8Array(await readFile(join(checkpoint, 'trainer_state.json'))));
      stateConfig = state.config;
      flags.model ??= state.run.model;
      const synthetic = /^synthetic:(\d+):(\d+)$/.exec(state.run.dataset);
      if (flags.dataset === undefined && synthetic) {
        flags.dataset = 'synthetic';
        flags['synthetic-seed'] ??= synthetic[1];
        flags['synthetic-rows'] ??= synthetic[2];
      } else flags.dataset ??= state.run.dataset;
    } catch (e) {
      if (e instanceof CheckpointStateError) throw new CliError(`--run ${runDir}: ${e.message}`);
      throw e;
    }
  }
  const config = await runConfig(flags, stateConfig).catch(configError);
  const model = await modelOf((flags.model as string | undefined) ?? 'nano');
  const { rows, name } = await loadRunRows(flags);
  // nano ships inside the job, so the project runs anywhere.
  const modelFiles =
    model.kind === 'nano'
      ? await Promise.all(
          NANO_FILES.map(async (f) => ({
            name: f,
            bytes: new Uint8Array(await readFile(join(model.name, f))),
          })),
        )
      : undefined;
  const progress = new ProgressLine('rows', rows.length, 100);
  await writeTrlJob(
    {
      config,
      model: modelFiles ? 'model' : model.name,
      space: resolveBoxSpace(config.box_space, model.kind, model.declared),
      processor: model.processor,
      rows,
      dataset: name,
      ...(modelFiles ? { modelFiles } : {}),
    },
    async (path, contents) => {
      const file = join(out, path);
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, contents);
    },
    (done) => progress.update(done),
  );
  process.stderr.write(`wrote a TRL job for ${model.name} on ${rows.length} rows of ${name} to ${out}\n`);
  return 0;
}
