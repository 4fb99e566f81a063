// `vgrpo import-trl DIR`: a TRL run (an exported job's folder, its output/, or a checkpoint) brought back as
// our run files: OUT/metrics.jsonl and OUT/samples.jsonl as `vgrpo train` writes them, and OUT/adapter/
// (the PEFT adapter, checked to load on the run's model) for `vgrpo eval --adapter` and the app.
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { droppedFilesFromDirectory } from '../data/files/files-node.ts';
import { createNodeGpu } from '../gpu/node.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../grpo/adapter.ts';
import { type ImportedTrlRun, importTrlRun, TrlImportError } from '../grpo/trl/import.ts';
import { parseModelConfig } from '../model/config.ts';
import { importPeft } from '../model/lora.ts';
import { CliError, type FlagValues, runSubcommand } from './command.ts';
import { modelDir } from './model-input.ts';

export const IMPORT_TRL_USAGE = `Usage: vgrpo import-trl DIR [--model nano|DIR] --out DIR
A run trained by TRL (the folder of a job 'vgrpo export-trl' wrote, after its train.py ran; or a TRL
output folder, or one of its checkpoint-STEP folders) as our run files: metrics.jsonl (TRL's logged
metrics), samples.jsonl (every logged completion with its box, IoU, rewards and advantage, on its row)
and adapter/ (the PEFT adapter, for 'vgrpo eval --adapter OUT/adapter').
  --model nano|DIR      the model the adapter must load on (default: the job's model folder)
  --out DIR             where the run files go
`;

export function importTrlCommand(args: string[]): Promise<number> {
  const positional = args[0] !== undefined && !args[0].startsWith('-');
  const dir = positional ? args[0] : undefined;
  return runSubcommand(
    'import-trl',
    IMPORT_TRL_USAGE,
    positional ? args.slice(1) : args,
    { model: { type: 'string' }, out: { type: 'string' } },
    (values) => run(dir, values),
  );
}

/** The folder with the model's config.json: --model, else job.json's model (a folder beside it, or a path). */
function modelFolder(dir: string, run: ImportedTrlRun, flag: string | undefined): string | null {
  if (flag !== undefined) return modelDir(flag);
  const name = run.job?.model;
  if (typeof name !== 'string' || run.jobPath === null) return null;
  const folder = isAbsolute(name) ? name : join(dir, dirname(run.jobPath), name);
  return existsSync(join(folder, 'config.json')) ? folder : null;
}

async function checkAdapter(run: ImportedTrlRun, folder: string): Promise<void> {
  const config = parseModelConfig(JSON.parse(await readFile(join(folder, 'config.json'), 'utf8')));
  const gpu = await createNodeGpu();
  try {
    (await importPeft(gpu, config, run.adapter!)).dispose();
  } finally {
    gpu.destroy();
  }
}

async function run(dir: string | undefined, values: FlagValues): Promise<number> {
  if (dir === undefined) throw new CliError('name the TRL run folder: vgrpo import-trl DIR --out DIR', 2);
  const out = values.out as string | undefined;
  if (!out) throw new CliError('--out DIR is required', 2);
  if (!existsSync(dir)) throw new CliError(`${dir} does not exist`);
  // An output folder is read with the job folder around it, for the rows its completions are on.
  // An output folder is read with its job around it (job.json and data/, not other outputs), for the rows
  // its completions are on.
  const job = join(dir, '..');
  const output = existsSync(join(dir, 'trainer_state.json')) || existsSync(join(dir, 'completions'));
  const inJob = output && !/checkpoint-\d+\/?$/.test(dir) && existsSync(join(job, 'job.json'));
  const name = basename(resolve(dir));
  const files = inJob
    ? (await droppedFilesFromDirectory(job)).filter(
        (f) => f.path === 'job.json' || f.path.startsWith('data/') || f.path.startsWith(`${name}/`),
      )
    : await droppedFilesFromDirectory(dir);
  if (inJob) dir = job;
  let imported: ImportedTrlRun;
  try {
    imported = await importTrlRun(files);
  } catch (e) {
    if (e instanceof TrlImportError) throw new CliError(e.message);
    throw e;
  }
  const model = values.model as string | undefined;
  if (imported.adapter) {
    const folder = modelFolder(dir, imported, model);
    if (folder) await checkAdapter(imported, folder);
    else
      imported.warnings.push(
        `the adapter was not checked against its model (job.json names ${JSON.stringify(imported.job?.model ?? null)}, ` +
          'not a folder here): pass --model DIR',
      );
  } else if (model !== undefined)
    throw new CliError(`--model ${model}: the run has no adapter to load on it`);

  await mkdir(out, { recursive: true });
  const lines = (xs: readonly unknown[]) => xs.map((x) => `${JSON.stringify(x)}\n`).join('');
  await writeFile(join(out, 'metrics.jsonl'), lines(imported.metrics));
  await writeFile(join(out, 'samples.jsonl'), lines(imported.records));
  if (imported.adapter) {
    await mkdir(join(out, 'adapter'), { recursive: true });
    await writeFile(
      join(out, 'adapter', ADAPTER_CONFIG),
      `${JSON.stringify(imported.adapter[ADAPTER_CONFIG], null, 2)}\n`,
    );
    await writeFile(join(out, 'adapter', ADAPTER_WEIGHTS), imported.adapter[ADAPTER_WEIGHTS]);
  }
  for (const w of imported.warnings) process.stderr.write(`warning: ${w}\n`);
  const completions = imported.records.reduce((n, r) => n + r.completions.length, 0);
  process.stderr.write(
    `imported ${imported.statePath}: step ${imported.step} of ${imported.maxSteps}, ` +
      `${imported.metrics.length} logged steps, ${imported.records.length} prompts with ${completions} completions` +
      `${imported.adapter ? ', the LoRA adapter' : ''} -> ${resolve(out)}\n`,
  );
  return 0;
}
