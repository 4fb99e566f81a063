// A run as a TRL job: the self-contained Python project `vgrpo export-trl` writes (and the app zips).
// train.py runs GRPOTrainer on job.json's settings (GRPOConfig's own names, from trlKwargs), LoRA through
// peft's LoraConfig, the same prompts and image size limits; rewards.py scores as ours do; data/ holds
// the usable rows as JSONL with PNG images and the columns the rewards read; requirements.txt pins what
// the bridge is tested against; accelerate/ holds launch configs for one GPU, 8 GPUs with DDP and 8 with
// DeepSpeed ZeRO-2 / ZeRO-3; with a small checkpoint (nano), the checkpoint itself in model/. Files go to
// a sink, so Node writes a folder and the browser a zip.

import { zlibSync } from 'fflate';
import { encodePng } from '../../data/image/png-encode.ts';
import type { GroundingRow } from '../../data/row.ts';
import { type ImageProcessorOptions, smartResize, toRgb } from '../../model/image-processor.ts';
import { peftTargetModules } from '../../model/lora.ts';
import { type GrpoConfig, trlKwargs } from '../config.ts';
import type { BoxSpace } from '../rewards/answer.ts';
import rewardsPy from './rewards.py?raw';
import trainPy from './train.py?raw';

export interface TrlJobInput {
  config: GrpoConfig;
  /** A hub id or a local folder, as train.py passes it to from_pretrained. */
  model: string;
  /** The box space the model answers in (box_space resolved for the model). */
  space: BoxSpace;
  /** The model's image processor settings (input sizes for the rewards' box mapping). */
  processor: ImageProcessorOptions;
  rows: readonly GroundingRow[];
  /** Where the rows came from, for the job's README. */
  dataset: string;
  /** A checkpoint to ship in the job's model/ folder (nano); `model` then names that folder. */
  modelFiles?: readonly { name: string; bytes: Uint8Array }[];
}

export type JobSink = (path: string, contents: string | Uint8Array) => Promise<void>;

/** The versions the bridge is tested against (scripts/check-trl-job.py). */
export const TRL_JOB_REQUIREMENTS = [
  'torch==2.14.1',
  'torchvision==0.29.1',
  'transformers==5.18.0',
  'trl==1.13.0',
  'peft==0.21.0',
  'accelerate==1.15.0',
  'datasets==5.0.1',
  'pillow==12.3.0',
  'pandas==3.0.6',
];

/** job.json: everything train.py reads besides the data. */
export function trlJobSettings(input: Omit<TrlJobInput, 'rows' | 'dataset' | 'processor'>) {
  const c = input.config;
  const { grpoConfig } = trlKwargs(c);
  // Our held-out evaluation is the product's own; the job trains on the exported rows only.
  delete grpoConfig.eval_steps;
  grpoConfig.eval_strategy = 'no';
  return {
    exported_by: 'vision-grpo',
    model: input.model,
    grpo_config: grpoConfig,
    lora: c.use_peft
      ? {
          r: c.lora_r,
          lora_alpha: c.lora_alpha,
          lora_dropout: c.lora_dropout,
          // PEFT reads a list by name suffix, which would also take Qwen2.5-VL's vision MLP.
          target_modules: peftTargetModules(c.lora_target_modules),
        }
      : null,
    reward_funcs: c.reward_funcs,
    iou_threshold: c.iou_threshold,
    system_prompt: c.system_prompt,
    prefill: c.assistant_prefill,
    box_space: input.space,
    answer_form: c.answer_form,
    min_pixels: c.min_pixels,
    max_pixels: c.max_pixels,
  };
}

const accelerate = (lines: string[]) => `${lines.join('\n')}\n`;
const ACCELERATE_BASE = [
  'compute_environment: LOCAL_MACHINE',
  'machine_rank: 0',
  'num_machines: 1',
  'main_training_function: main',
];

export const ACCELERATE_CONFIGS: Record<string, string> = {
  'accelerate/one-gpu.yaml': accelerate([
    ...ACCELERATE_BASE,
    "distributed_type: 'NO'",
    'num_processes: 1',
    'mixed_precision: bf16',
  ]),
  'accelerate/ddp-8gpu.yaml': accelerate([
    ...ACCELERATE_BASE,
    'distributed_type: MULTI_GPU',
    'num_processes: 8',
    'mixed_precision: bf16',
  ]),
  'accelerate/zero2-8gpu.yaml': accelerate([
    ...ACCELERATE_BASE,
    'distributed_type: DEEPSPEED',
    'deepspeed_config:',
    '  zero_stage: 2',
    '  offload_optimizer_device: none',
    '  offload_param_device: none',
    '  zero3_init_flag: false',
    'num_processes: 8',
    'mixed_precision: bf16',
  ]),
  'accelerate/zero3-8gpu.yaml': accelerate([
    ...ACCELERATE_BASE,
    'distributed_type: DEEPSPEED',
    'deepspeed_config:',
    '  zero_stage: 3',
    '  offload_optimizer_device: none',
    '  offload_param_device: none',
    '  zero3_init_flag: true',
    '  zero3_save_16bit_model: true',
    'num_processes: 8',
    'mixed_precision: bf16',
  ]),
};

function readme(input: TrlJobInput, rows: number): string {
  const c = input.config;
  return `# GRPO on ${input.model} with TRL

Exported by vision-grpo: ${rows} rows of ${input.dataset}, ${c.num_generations} completions per prompt,
${c.use_peft ? `LoRA r ${c.lora_r}` : 'full fine-tuning'}, rewards ${c.reward_funcs.join(', ')} (boxes in ${input.space}).
The settings are in job.json under GRPOConfig's own names; train.py reads them.

    pip install -r requirements.txt
    python train.py                                                     # one GPU, or a CPU trial with --max-steps 2
    accelerate launch --config_file accelerate/one-gpu.yaml train.py
    accelerate launch --config_file accelerate/ddp-8gpu.yaml train.py   # 8 GPUs, data parallel
    accelerate launch --config_file accelerate/zero2-8gpu.yaml train.py # 8 GPUs, DeepSpeed ZeRO-2 (pip install deepspeed)
    accelerate launch --config_file accelerate/zero3-8gpu.yaml train.py # 8 GPUs, DeepSpeed ZeRO-3 (pip install deepspeed)

With 8 processes each takes per_device_train_batch_size completions per micro-batch, so a step sees
8 times the prompts it does on one; lower gradient_accumulation_steps in job.json to keep the step's
size. The output folder (--output-dir, default output/) holds the adapter or model,
trainer_state.json with the logged metrics and completions/ with every logged completion and its
rewards. To see the run in vision-grpo's charts and inspector, drop this folder on the app's "Open a
TRL run" (with output/ in it), or run \`vgrpo import-trl output --out DIR\`.

data/train.jsonl holds one row per line: the image (data/images/), the question, the ground-truth box
in pixels of the original image, the image's size and the size the processor resizes it to, which the
rewards use to map the model's answer box to pixels.
`;
}

/** Writes the job through `sink`; `onRow` reports progress over the rows' images. */
export async function writeTrlJob(
  input: TrlJobInput,
  sink: JobSink,
  onRow: (done: number, total: number) => void = () => {},
): Promise<void> {
  const deflate = async (bytes: Uint8Array) => zlibSync(bytes, { level: 6 });
  const c = input.config;
  const p = input.processor;
  const factor = p.patchSize * p.mergeSize;
  const minPixels = c.min_pixels ?? p.minPixels;
  const maxPixels = c.max_pixels ?? p.maxPixels;
  const lines: string[] = [];
  for (const [i, row] of input.rows.entries()) {
    const name = `images/${String(i).padStart(6, '0')}.png`;
    const image = await row.image();
    const rgb = { width: image.width, height: image.height, data: toRgb(image) };
    await sink(`data/${name}`, await encodePng(rgb, deflate));
    const [inputHeight, inputWidth] = smartResize(row.height, row.width, factor, minPixels, maxPixels);
    lines.push(
      JSON.stringify({
        id: row.id,
        image: name,
        question: row.question,
        box: row.box,
        width: row.width,
        height: row.height,
        input_width: inputWidth,
        input_height: inputHeight,
      }),
    );
    onRow(i + 1, input.rows.length);
  }
  await sink('data/train.jsonl', `${lines.join('\n')}\n`);
  for (const f of input.modelFiles ?? []) await sink(`${input.model}/${f.name}`, f.bytes);
  await sink('job.json', `${JSON.stringify(trlJobSettings(input), null, 2)}\n`);
  await sink('train.py', trainPy);
  await sink('rewards.py', rewardsPy);
  await sink('requirements.txt', `${TRL_JOB_REQUIREMENTS.join('\n')}\n`);
  for (const [path, text] of Object.entries(ACCELERATE_CONFIGS)) await sink(path, text);
  await sink('README.md', readme(input, input.rows.length));
}
