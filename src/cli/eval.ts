// `vgrpo eval`: greedy evaluation of a checkpoint (optionally with a PEFT adapter) on a dataset or on a
// held-out synthetic set: Acc@0.5 (IoU > 0.5), mean IoU and format rate, as text or JSON.
import { writeFile } from 'node:fs/promises';
import { createNodeGpu } from '../gpu/node.ts';
import { evaluate } from '../grpo/eval.ts';
import { importPeft, type Lora } from '../model/lora.ts';
import { disposeWeights } from '../model/weights.ts';
import { type FlagValues, runSubcommand } from './command.ts';
import { positiveIntArg } from './model-input.ts';
import {
  configError,
  loadRunModel,
  loadRunRows,
  ProgressLine,
  RUN_FLAGS,
  RUN_USAGE,
  readRunAdapter,
  runConfig,
  runEvalSettings,
} from './run-setup.ts';

export const EVAL_USAGE = `Usage: vgrpo eval [options] [--json]
Greedy evaluation: Acc@0.5 (IoU > 0.5), mean IoU and format rate.
${RUN_USAGE}  --limit N             evaluate the first N rows only
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
      const adapter = await readRunAdapter(values);
      if (adapter) lora = await importPeft(gpu, model.prompt.config, adapter);
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
