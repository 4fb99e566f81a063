// `vgrpo plan`: a run's memory plan before anything loads (src/grpo/plan.ts): what the model and settings
// need at the step's peak, against the adapter's buffer limit and the device's memory, and what would make
// it fit. Exits 0 when it fits, 1 when it does not. `vgrpo train` plans its run the same way first.
import { totalmem } from 'node:os';
import type { GroundingRow } from '../data/row.ts';
import { NANO_TASK } from '../data/synthetic.ts';
import { nodeAdapterSummary } from '../gpu/node.ts';
import type { GrpoConfig } from '../grpo/config.ts';
import { describePlan, type MemoryPlan, memoryPlan } from '../grpo/plan.ts';
import { CliError, type FlagValues, runSubcommand } from './command.ts';
import { loadPromptModel } from './model-input.ts';
import { configError, runConfig } from './run-setup.ts';

export const PLAN_USAGE = `Usage: vgrpo plan [--model nano|DIR] [--config FILE] [--preset NAME] [--image WxH] [--memory GIB] [--json]
The memory a GRPO run of the model with these settings needs at its peak (weights, KV cache,
activations, gradients, optimizer state), whether it fits, and which one change of settings would
make it fit. Loads no weights: config.json and preprocessor_config.json are enough.
  --model nano|DIR      the built-in nano (default) or an HF Qwen2-VL / Qwen2.5-VL folder
  --config FILE         training settings as JSON or YAML with TRL's GRPOConfig names
  --preset NAME         a preset under the config (default nano-demo on nano)
  --image WxH           the dataset's largest image (default: the synthetic scenes' size)
  --memory GIB          the device's memory; by default the machine's memory on a software
                        adapter, and unknown on a GPU (WebGPU does not report it): then only the
                        adapter's buffer limit is checked
  --json                print {"fits", "bytes": {"weights", "kv_cache", "activations", "gradients",
                        "optimizer", "total"}, "limit_bytes", "advice", ...}
`;

export function planCommand(args: string[]): Promise<number> {
  return runSubcommand(
    'plan',
    PLAN_USAGE,
    args,
    {
      model: { type: 'string' },
      config: { type: 'string' },
      preset: { type: 'string' },
      image: { type: 'string' },
      memory: { type: 'string' },
      json: { type: 'boolean' },
    },
    run,
  );
}

function imageArg(value: string | undefined): { width: number; height: number } {
  if (value === undefined) return { width: NANO_TASK.width!, height: NANO_TASK.height! };
  const m = /^(\d+)x(\d+)$/.exec(value);
  if (!m || Number(m[1]) === 0 || Number(m[2]) === 0)
    throw new CliError(`--image must be WIDTHxHEIGHT in pixels, such as 1024x768 (got '${value}')`, 2);
  return { width: Number(m[1]), height: Number(m[2]) };
}

function memoryArg(value: string | undefined, software: boolean): number | null {
  if (value === undefined) return software ? totalmem() : null;
  const gib = Number(value);
  if (!Number.isFinite(gib) || gib <= 0)
    throw new CliError(`--memory must be a positive number of GiB (got '${value}')`, 2);
  return Math.round(gib * 2 ** 30);
}

/** The plan of `config` on the best adapter, for the largest image the run will see. */
async function planRun(
  values: FlagValues,
  config: GrpoConfig,
  image: { width: number; height: number },
): Promise<MemoryPlan> {
  const prompt = await loadPromptModel((values.model as string | undefined) ?? 'nano');
  const adapter = await nodeAdapterSummary();
  return memoryPlan({ model: prompt.config, processor: prompt.imageOptions, image }, config, {
    maxBufferSize: adapter.limits.maxBufferSize ?? 0,
    maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize ?? 0,
    memoryBytes: memoryArg(values.memory as string | undefined, adapter.isFallback),
    hasF16: adapter.features.includes('shader-f16'),
  });
}

/** For `vgrpo train`: prints the run's plan on stderr and refuses a run that does not fit. */
export async function checkRunPlan(
  values: FlagValues,
  config: GrpoConfig,
  rows: readonly GroundingRow[],
): Promise<void> {
  const largest = rows.reduce(
    (a, r) => (r.width * r.height > a.width * a.height ? { width: r.width, height: r.height } : a),
    { width: 1, height: 1 },
  );
  const plan = await planRun(values, config, largest);
  process.stderr.write(`${describePlan(plan)}\n`);
  if (!plan.fits)
    throw new CliError(
      'the run does not fit this device (see the plan above); change its settings, or ' +
        'pass --memory GIB if the device has more memory than assumed',
    );
}

async function run(values: FlagValues): Promise<number> {
  const config = await runConfig(values).catch(configError);
  const plan = await planRun(values, config, imageArg(values.image as string | undefined));
  process.stdout.write(values.json ? `${JSON.stringify(plan)}\n` : `${describePlan(plan)}\n`);
  return plan.fits ? 0 : 1;
}
