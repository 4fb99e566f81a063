// `vgrpo export`: turns a run (its latest checkpoint, or a checkpoint folder) into what other tools load:
// a LoRA run's adapter in PEFT's layout (adapter_config.json + adapter_model.safetensors), or with
// --merged (and always for full fine-tuning) a complete HF checkpoint folder (the trained weights in
// model.safetensors beside the base model's config, tokenizer and processor files), plus the run's
// metrics as JSONL and CSV.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Gpu } from '../gpu/context.ts';
import { createNodeGpu } from '../gpu/node.ts';
import { CheckpointStateError, readTrainerState } from '../grpo/checkpoint.ts';
import { MODEL_FILES, mergedWeightsFile, metricsCsv } from '../grpo/export.ts';
import { directoryOpener } from '../model/byte-source-node.ts';
import { loadModel } from '../model/load.ts';
import { importPeft, type Lora } from '../model/lora.ts';
import { disposeWeights, type Weights } from '../model/weights.ts';
import { CliError, type FlagValues, runSubcommand } from './command.ts';
import { modelDir } from './model-input.ts';

export const EXPORT_USAGE = `Usage: vgrpo export --run DIR --out DIR [--merged]
  --run DIR    a 'vgrpo train' output folder (its latest checkpoint-STEP is used) or one checkpoint folder
  --out DIR    where to write: a PEFT adapter folder (LoRA runs), or an HF model folder
  --merged     LoRA runs: merge the adapter into the base weights and write a full HF model folder
Also writes metrics.jsonl and metrics.csv when the run has metrics.
`;

export function exportCommand(args: string[]): Promise<number> {
  return runSubcommand(
    'export',
    EXPORT_USAGE,
    args,
    { run: { type: 'string' }, out: { type: 'string' }, merged: { type: 'boolean' } },
    run,
  );
}

async function exists(path: string): Promise<boolean> {
  return readFile(path).then(
    () => true,
    () => false,
  );
}

/** The checkpoint folder of --run: itself, or its checkpoint-STEP with the largest STEP. */
export async function checkpointOf(dir: string): Promise<string> {
  if (await exists(join(dir, 'trainer_state.json'))) return dir;
  const entries = await readdir(dir).catch(() => {
    throw new CliError(`--run ${dir} does not exist`);
  });
  const steps = entries
    .map((e) => /^checkpoint-(\d+)$/.exec(e))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => Number(m[1]));
  if (steps.length === 0) throw new CliError(`--run ${dir} holds no checkpoint-STEP folder; train first`);
  return join(dir, `checkpoint-${Math.max(...steps)}`);
}

/**
 * A complete HF model folder: the base folder's config, tokenizer and processor files, and `weights`
 * (with `lora` merged in, when given) as an F32 model.safetensors.
 */
export async function writeModelFolder(
  gpu: Gpu,
  baseDir: string,
  weights: Weights,
  out: string,
  lora?: Lora,
): Promise<void> {
  await mkdir(out, { recursive: true });
  for (const f of MODEL_FILES)
    if (await exists(join(baseDir, f))) await copyFile(join(baseDir, f), join(out, f));
  await writeFile(join(out, 'model.safetensors'), await mergedWeightsFile(gpu, weights, lora));
}

async function run(values: FlagValues): Promise<number> {
  const runDir = values.run as string | undefined;
  const out = values.out as string | undefined;
  if (runDir === undefined || out === undefined) throw new CliError('--run and --out are required', 2);
  const ckpt = await checkpointOf(runDir);
  let state: ReturnType<typeof readTrainerState>;
  try {
    state = readTrainerState(await readFile(join(ckpt, 'trainer_state.json')).catch(() => undefined));
  } catch (e) {
    if (e instanceof CheckpointStateError) throw new CliError(`${ckpt}: ${e.message}`);
    throw e;
  }
  const base = modelDir(state.run.model);
  const lora = await exists(join(ckpt, 'adapter_model.safetensors'));
  await mkdir(out, { recursive: true });

  if (lora && !values.merged) {
    for (const f of ['adapter_config.json', 'adapter_model.safetensors'])
      await copyFile(join(ckpt, f), join(out, f));
    process.stderr.write(`wrote the PEFT adapter to ${out} (base model: ${state.run.model})\n`);
  } else {
    if (!lora) {
      for (const f of MODEL_FILES)
        if (await exists(join(base, f))) await copyFile(join(base, f), join(out, f));
      await copyFile(join(ckpt, 'model.safetensors'), join(out, 'model.safetensors'));
    } else {
      const gpu = await createNodeGpu({ announce: false });
      try {
        const loaded = await loadModel(gpu, directoryOpener(base));
        const adapter = await importPeft(gpu, loaded.config, {
          'adapter_config.json': await readFile(join(ckpt, 'adapter_config.json'), 'utf8'),
          'adapter_model.safetensors': new Uint8Array(
            await readFile(join(ckpt, 'adapter_model.safetensors')),
          ),
        });
        await writeModelFolder(gpu, base, loaded.weights, out, adapter);
        adapter.dispose();
        disposeWeights(loaded.weights);
      } finally {
        gpu.destroy();
      }
    }
    process.stderr.write(`wrote a full HF checkpoint folder to ${out}\n`);
  }
  const metrics = join(runDir, 'metrics.jsonl');
  if (await exists(metrics)) {
    const text = await readFile(metrics, 'utf8');
    await writeFile(join(out, 'metrics.jsonl'), text);
    await writeFile(join(out, 'metrics.csv'), metricsCsv(text));
  }
  return 0;
}
