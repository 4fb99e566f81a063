// The `vgrpo` command line: dispatches subcommands. Returns the process exit code.
import { adapterLabel } from '../gpu/adapter.ts';
import { GpuError } from '../gpu/errors.ts';
import { createNodeGpu } from '../gpu/node.ts';
import { evalCommand } from './eval.ts';
import { exportCommand } from './export.ts';
import { exportTrlCommand } from './export-trl.ts';
import { generateCommand } from './generate.ts';
import { importTrlCommand } from './import-trl.ts';
import { inspectDatasetCommand } from './inspect-dataset.ts';
import { planCommand } from './plan.ts';
import { promptCommand } from './prompt.ts';
import { sftCommand } from './sft.ts';
import { trainCommand } from './train.ts';

const USAGE = `vgrpo: GRPO fine-tuning of Qwen-VL grounding models on WebGPU

Usage:
  vgrpo info [--json]     the WebGPU adapter in use: name, features, limits
  vgrpo prompt --model DIR|nano --image FILE --question TEXT [--prefill TEXT] [--system TEXT]
               [--min-pixels N] [--max-pixels N] [--json] [--dump-pixels FILE]
                          the model input for an image and question (token ids, image grid,
                          M-RoPE positions, pixel_values checksums); needs no weights
  vgrpo generate --model DIR|nano --image FILE --question TEXT [--prefill TEXT] [--system TEXT]
               [--max-new-tokens N] [--temperature T] [--top-k K] [--top-p P] [--seed S]
               [--samples G] [--f16] [--json]
                          answers the question about the image with the checkpoint on the GPU
                          (KV-cached sampling; 'vgrpo generate --help' for the options)
  vgrpo inspect-dataset PATH [--json] [--box-format F] [--image-field F] [--question-field F]
               [--box-field F] [--decode]
                          validation report of a JSON / JSONL grounding dataset (a file, or a
                          folder with one plus its images): rows, usable rows, every issue
  vgrpo plan [--model nano|DIR] [--config FILE] [--preset NAME] [--image WxH] [--memory GIB] [--json]
                          the memory a run needs at its peak, whether it fits, and what would
                          make it fit; loads no weights
  vgrpo train [--model nano|DIR] [--dataset synthetic|PATH] [--config FILE] [--preset NAME]
               [--max-steps N] [--resume DIR] [--out DIR]
                          GRPO fine-tuning with a progress bar; writes metrics.jsonl, samples.jsonl
                          and checkpoints ('vgrpo train --help' for the options)
  vgrpo sft [same options as train] [--out DIR]
                          SFT warm-up on reference answers; writes an HF model folder
  vgrpo eval [--model nano|DIR] [--adapter DIR] [--dataset synthetic|PATH] [--synthetic-seed N]
               [--limit N] [--json]
                          greedy Acc@0.5, mean IoU and format rate
  vgrpo export --run DIR --out DIR [--merged]
                          a run's PEFT adapter or full HF weights, and its metrics as CSV
  vgrpo export-trl (--run DIR | --config FILE) [--model nano|DIR|ID] [--dataset PATH] --out DIR
                          the run as a TRL GRPOTrainer project for one GPU or many
  vgrpo import-trl DIR [--model nano|DIR] --out DIR
                          a run TRL trained (an exported job's folder) as our metrics, samples
                          and PEFT adapter
  vgrpo help              this text
`;

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'info':
        return await info(rest);
      case 'prompt':
        return await promptCommand(rest);
      case 'generate':
        return await generateCommand(rest);
      case 'inspect-dataset':
        return await inspectDatasetCommand(rest);
      case 'plan':
        return await planCommand(rest);
      case 'train':
        return await trainCommand(rest);
      case 'sft':
        return await sftCommand(rest);
      case 'eval':
        return await evalCommand(rest);
      case 'export':
        return await exportCommand(rest);
      case 'export-trl':
        return await exportTrlCommand(rest);
      case 'import-trl':
        return await importTrlCommand(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return 0;
      default:
        process.stderr.write(`vgrpo: unknown command '${cmd}'\n\n${USAGE}`);
        return 2;
    }
  } catch (e) {
    if (e instanceof GpuError) {
      process.stderr.write(`vgrpo: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

async function info(args: string[]): Promise<number> {
  const gpu = await createNodeGpu({ announce: false });
  try {
    const s = gpu.adapter;
    if (args.includes('--json')) {
      process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
    } else {
      const lines = [
        `adapter:  ${adapterLabel(s)}`,
        `vendor:   ${s.vendor} / ${s.architecture} / ${s.device}`,
        `features: ${s.features.join(', ')}`,
        ...Object.entries(s.limits).map(([k, v]) => `  ${k}: ${v}`),
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
    }
    return 0;
  } finally {
    gpu.destroy();
  }
}
