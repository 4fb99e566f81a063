// `vgrpo eval`: greedy evaluation of a checkpoint (optionally with a PEFT adapter) on a dataset or on a
// held-out synthetic set: Acc@0.5 (IoU > 0.5), mean IoU and format rate, as text or JSON.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createNodeGpu } from '../gpu/node.ts';
import { evaluate } from '../grpo/eval.ts';
import { importPeft, type Lora } from '../model/lora.ts';
import { disposeWeights } from '../model/weights.ts';
import { CliError, type FlagValues, runSubcommand } from './command.ts';
import { positiveIntArg } from './model-input.ts';
import {
  configError,
  loadRunModel,
  loadRunRows,
  ProgressLine,
  RUN_FLAGS,
  RUN_USAGE,
  runConfig,
  runEvalSettings,
} from './run-setup.ts';

export const EVAL_USAGE = `Usage: vgrpo eval [options] [--json]
Greedy evaluation: Acc@0.5 (IoU > 0.5), mean IoU and format rate.
${RUN_USAGE}  --adapter DIR         a PEFT adapter folder (adapter_config.json + adapter_model.safetensors)
  --limit N             evaluate the first N rows only
  --json                print {"n", "acc50", "mean_iou", "format_rate"}
  --samples FILE        also write every sample's result (question, box, answer, its box, IoU) as JSONL
The synthetic set defaults to seed 424242 here, which training's default (seed 1) never draws.
`;

export function evalCommand(args: string[]): Promise<number> {
  return runSubcommand(
    'eval',
    EVAL_USAGE,
    args,
    {
      ...RUN_FLAGS,
      adapter: { type: 'string' },
      limit: { type: 'string' },
      json: { type: 'boolean' },
      samples: { type: 'string' },
    },
    run,
  );
}

async function run(values: FlagValues): Promise<number> {
  const config = await runConfig(values).catch(configError);
  const limit = positiveIntArg(values.limit as string | undefined, '--limit');
  const { rows: all, name } = await loadRunRows(values, { seed: 424242, rows: 200 });
  const rows = limit === undefined ? all : all.slice(0, limit);
  const gpu = await createNodeGpu({ announce: false });
  let lora: Lora | undefined;
  try {
    const model = await loadRunModel(gpu, values, config);
    try {
      const adapter = values.adapter as string | undefined;
      if (adapter !== undefined) {
        const read = (f: string) =>
          readFile(join(adapter, f)).catch(() => {
            throw new CliError(`--adapter ${adapter} has no ${f}; give a PEFT adapter folder`);
          });
        lora = await importPeft(gpu, model.prompt.config, {
          'adapter_config.json': (await read('adapter_config.json')).toString('utf8'),
          'adapter_model.safetensors': new Uint8Array(await read('adapter_model.safetensors')),
        });
      }
      const progress = new ProgressLine(`eval ${name}`, rows.length, 1);
      const r = await evaluate(gpu, model.prompt, { weights: model.weights, linear: lora?.linear }, rows, {
        ...runEvalSettings(config, model),
        onProgress: (done) => progress.update(done),
      });
      const summary = { n: r.n, acc50: r.acc50, mean_iou: r.mean_iou, format_rate: r.format_rate };
      const samplesFile = values.samples as string | undefined;
      if (samplesFile !== undefined)
        await writeFile(samplesFile, r.samples.map((x) => `${JSON.stringify(x)}\n`).join(''));
      process.stdout.write(
        values.json
          ? `${JSON.stringify(summary)}\n`
          : `n ${r.n}  Acc@0.5 ${r.acc50.toFixed(3)}  mean IoU ${r.mean_iou.toFixed(3)}  format ${r.format_rate.toFixed(3)}\n`,
      );
      return 0;
    } finally {
      lora?.dispose();
      disposeWeights(model.weights);
    }
  } finally {
    gpu.destroy();
  }
}
