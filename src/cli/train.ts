// `vgrpo train`: GRPO on the GPU from the command line. Writes OUT/metrics.jsonl (one object per logged
// step: `step` and TRL's metric names), OUT/samples.jsonl (every prompt's G completions with their
// boxes, IoU, rewards and advantages), OUT/eval.jsonl (held-out evaluations every eval_steps) and
// OUT/checkpoint-STEP/ every save_steps and at the end; Ctrl-C saves a checkpoint before exiting.
// --resume continues a run from one of its checkpoints.
import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeGpu } from '../gpu/node.ts';
import { loadStartingAdapter } from '../grpo/adapter.ts';
import {
  CheckpointStateError,
  readTrainerState,
  restoreCheckpoint,
  saveCheckpoint,
} from '../grpo/checkpoint.ts';
import { intervalSteps } from '../grpo/config.ts';
import { evaluate } from '../grpo/eval.ts';
import { GrpoTrainer, type StepReport } from '../grpo/trainer.ts';
import type { Lora, PeftAdapterInput } from '../model/lora.ts';
import { disposeWeights } from '../model/weights.ts';
import { CliError, type FlagValues, runSubcommand } from './command.ts';
import { checkRunPlan } from './plan.ts';
import {
  configError,
  loadRunModel,
  loadRunRows,
  ProgressLine,
  RUN_FLAGS,
  RUN_USAGE,
  runAdapterConfig,
  runConfig,
  runEvalSettings,
} from './run-setup.ts';

export const TRAIN_USAGE = `Usage: vgrpo train [options] --out DIR
GRPO fine-tuning: with no options, the built-in nano checkpoint on the synthetic set (nano-demo preset).
${RUN_USAGE}  --out DIR             where metrics.jsonl, samples.jsonl, eval.jsonl and checkpoint-STEP/ go
                        (default runs/grpo)
  --resume DIR          continue from a checkpoint-STEP folder of an earlier run (its config is used)
  --eval-rows N         held-out synthetic rows evaluated every eval_steps (default 64; 0: none)
  --memory GIB          the device's memory for the plan printed first (see 'vgrpo plan --help');
                        a run that does not fit is refused with what would make it fit
Exit code: 0 when the run finished, 1 for a bad model, dataset or config, 2 for a usage error,
130 when interrupted (after saving a checkpoint).
`;

const FLAGS = {
  ...RUN_FLAGS,
  out: { type: 'string' as const },
  resume: { type: 'string' as const },
  'eval-rows': { type: 'string' as const },
  memory: { type: 'string' as const },
};

export function trainCommand(args: string[]): Promise<number> {
  return runSubcommand('train', TRAIN_USAGE, args, FLAGS, run);
}

async function readCheckpointFile(dir: string, name: string): Promise<Uint8Array | undefined> {
  try {
    return new Uint8Array(await readFile(join(dir, name)));
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return undefined;
    throw e;
  }
}

async function run(values: FlagValues): Promise<number> {
  const out = (values.out as string | undefined) ?? 'runs/grpo';
  const resume = values.resume as string | undefined;
  let resumeConfig: Record<string, unknown> | undefined;
  if (resume !== undefined) {
    try {
      resumeConfig = readTrainerState(await readCheckpointFile(resume, 'trainer_state.json')).config;
    } catch (e) {
      if (e instanceof CheckpointStateError) throw new CliError(`--resume ${resume}: ${e.message}`);
      throw e;
    }
  }
  let config = await runConfig(values, resumeConfig ?? {}).catch(configError);
  // A resumed run's checkpoint holds its adapter already.
  let adapter: PeftAdapterInput | undefined;
  if (resume === undefined) ({ config, adapter } = await runAdapterConfig(values, config));
  const { rows, name: datasetName } = await loadRunRows(values);
  const evalRows = Number((values['eval-rows'] as string | undefined) ?? 64);
  if (!Number.isInteger(evalRows) || evalRows < 0)
    throw new CliError('--eval-rows must be an integer >= 0', 2);
  const held = (
    await loadRunRows({
      ...values,
      dataset: 'synthetic',
      'synthetic-seed': '424242',
      'synthetic-rows': String(Math.max(evalRows, 1)),
    })
  ).rows;
  await checkRunPlan(values, config, rows);

  const gpu = await createNodeGpu();
  let stopping = false;
  const onSigint = () => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(
      '\nvgrpo train: interrupted; saving a checkpoint after this step (Ctrl-C again to quit now)\n',
    );
  };
  process.on('SIGINT', onSigint);
  try {
    const model = await loadRunModel(gpu, values, config);
    let trainer: GrpoTrainer;
    let lora: Lora | undefined;
    try {
      lora = adapter && (await loadStartingAdapter(gpu, model.prompt.config, adapter, config));
      trainer = new GrpoTrainer({
        gpu,
        model: model.prompt,
        weights: model.weights,
        rows,
        config,
        space: model.space,
        stopIds: model.stopIds,
        ...(lora ? { adapter: lora } : {}),
      });
    } catch (e) {
      lora?.dispose();
      disposeWeights(model.weights);
      configError(e);
    }
    try {
      if (resume !== undefined) {
        try {
          await restoreCheckpoint(trainer, (name) => readCheckpointFile(resume, name));
        } catch (e) {
          if (e instanceof CheckpointStateError) throw new CliError(`--resume ${resume}: ${e.message}`);
          throw e;
        }
        process.stderr.write(`resumed from ${resume} at step ${trainer.step}\n`);
      }
      await mkdir(out, { recursive: true });
      const runInfo = { model: model.name, dataset: datasetName };
      const save = async () => {
        const dir = join(out, `checkpoint-${trainer.step}`);
        await mkdir(dir, { recursive: true });
        for (const [name, bytes] of Object.entries(await saveCheckpoint(trainer, runInfo)))
          await writeFile(join(dir, name), bytes);
        return dir;
      };
      const total = trainer.totalSteps;
      const saveEvery = intervalSteps(config.save_steps, total);
      const evalEvery =
        config.eval_steps === null || evalRows === 0 ? 0 : intervalSteps(config.eval_steps, total);
      const progress = new ProgressLine('step', total, 1);
      let last: StepReport | undefined;
      process.stderr.write(
        `training ${model.name} on ${datasetName} (${rows.length} rows): ${total} steps, ` +
          `${config.num_generations} samples per prompt, box space ${model.space}\n`,
      );
      const evalHeld = async () => {
        const lora = trainer.policy.lora;
        if (lora) lora.training = false;
        const r = await evaluate(
          gpu,
          model.prompt,
          trainer.policy.current,
          held,
          runEvalSettings(config, model),
        );
        if (lora) lora.training = true;
        const line = {
          step: trainer.step,
          n: r.n,
          acc50: r.acc50,
          mean_iou: r.mean_iou,
          format_rate: r.format_rate,
        };
        await appendFile(join(out, 'eval.jsonl'), `${JSON.stringify(line)}\n`);
        process.stderr.write(
          `\neval at step ${trainer.step}: Acc@0.5 ${r.acc50.toFixed(3)}, mean IoU ${r.mean_iou.toFixed(3)}, format ${r.format_rate.toFixed(3)}\n`,
        );
      };
      // The starting point, so the run's gain can be read from eval.jsonl alone.
      if (evalEvery > 0 && trainer.step === 0) await evalHeld();
      while (!trainer.done) {
        last = await trainer.trainStep();
        if (last.skipped) process.stderr.write(`\nstep ${last.step}: ${last.skipped}\n`);
        if (last.logged)
          await appendFile(
            join(out, 'metrics.jsonl'),
            `${JSON.stringify({ step: last.step, ...last.logged })}\n`,
          );
        if (last.records.length)
          await appendFile(
            join(out, 'samples.jsonl'),
            last.records.map((r) => `${JSON.stringify(r)}\n`).join(''),
          );
        const m = last.metrics;
        const fmt = (v: number | null | undefined, d = 3) => (typeof v === 'number' ? v.toFixed(d) : '-');
        progress.update(
          last.step,
          `reward ${fmt(m.reward)}  loss ${fmt(m.loss, 4)}  ${fmt(m.step_time, 1)} s/step`,
        );
        if (evalEvery > 0 && (last.step % evalEvery === 0 || trainer.done)) await evalHeld();
        if (stopping) {
          process.stderr.write(`checkpoint saved to ${await save()}\n`);
          return 130;
        }
        if (last.step % saveEvery === 0 && !trainer.done) await save();
      }
      process.stderr.write(`done: checkpoint saved to ${await save()}\n`);
      return 0;
    } finally {
      trainer.dispose();
      disposeWeights(model.weights);
    }
  } finally {
    process.off('SIGINT', onSigint);
    gpu.destroy();
  }
}
