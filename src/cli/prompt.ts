// `vgrpo prompt`: builds the model input for one image and question without weights (chat template,
// image processor, image pad expansion, M-RoPE positions) and prints it, to check prompts against
// transformers' processor or to feed other tools.

import { writeFile } from 'node:fs/promises';
import { imageTokenCount } from '../model/chat-template.ts';
import { buildPrompt, DEFAULT_PREFILL } from '../model/prompt.ts';
import { CliError, type FlagSpec, type FlagValues, runSubcommand } from './command.ts';
import { loadPromptModel, positiveIntArg, readImageArg } from './model-input.ts';

export { DEFAULT_PREFILL, type PromptModel } from '../model/prompt.ts';
export { loadPromptModel, NANO_DIR } from './model-input.ts';

export const PROMPT_USAGE = `Usage: vgrpo prompt --model DIR|nano --image FILE --question TEXT [options]
  --prefill TEXT     assistant prefill the answer continues (default ${JSON.stringify(DEFAULT_PREFILL)};
                     '' opens the assistant turn without one)
  --system TEXT      system message (default: the chat template's own)
  --min-pixels N     override preprocessor_config.json's min_pixels
  --max-pixels N     override preprocessor_config.json's max_pixels
  --json             print {input_ids, image_grid_thw, position_ids, rope_delta, pixel_values}
  --dump-pixels FILE write pixel_values as raw little-endian float32, row-major
`;

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32LeBytes(values: Float32Array): Uint8Array {
  if (isLittleEndian) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

/** Runs `vgrpo prompt ARGS`; returns the exit code. */
export function promptCommand(args: string[]): Promise<number> {
  return runSubcommand('prompt', PROMPT_USAGE, args, FLAGS, runPrompt);
}

const FLAGS: FlagSpec = {
  model: { type: 'string' },
  image: { type: 'string' },
  question: { type: 'string' },
  prefill: { type: 'string' },
  system: { type: 'string' },
  'min-pixels': { type: 'string' },
  'max-pixels': { type: 'string' },
  json: { type: 'boolean' },
  'dump-pixels': { type: 'string' },
};

async function runPrompt(values: FlagValues): Promise<number> {
  const str = (k: string): string | undefined => values[k] as string | undefined;
  for (const required of ['model', 'image', 'question']) {
    if (str(required) === undefined) throw new CliError(`--${required} is required`, 2);
  }
  const minPixels = positiveIntArg(str('min-pixels'), '--min-pixels');
  const maxPixels = positiveIntArg(str('max-pixels'), '--max-pixels');

  const model = await loadPromptModel(str('model')!);
  const image = await readImageArg(str('image')!);
  const { text, inputIds, processed, rope } = buildPrompt(model, image, {
    question: str('question')!,
    prefill: str('prefill'),
    system: str('system'),
    minPixels,
    maxPixels,
  });
  const merge = model.config.vision.spatialMergeSize;

  let sum = 0;
  let absSum = 0;
  for (const v of processed.pixelValues) {
    sum += v;
    absSum += Math.abs(v);
  }
  const dump = str('dump-pixels');
  if (dump !== undefined) {
    try {
      await writeFile(dump, float32LeBytes(processed.pixelValues));
    } catch (e) {
      throw new CliError(`cannot write ${dump}: ${(e as Error).message}`);
    }
  }

  if (values.json) {
    const out = {
      input_ids: inputIds,
      image_grid_thw: [processed.gridThw],
      position_ids: rope.positions.map((row) => Array.from(row)),
      rope_delta: rope.ropeDelta,
      pixel_values: { rows: processed.rows, cols: processed.cols, sum, abs_sum: absSum },
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    const [gt, gh, gw] = processed.gridThw;
    process.stdout.write(
      `${text}\n\n` +
        `tokens:        ${inputIds.length} (${imageTokenCount(processed.gridThw, merge)} image pads)\n` +
        `image:         ${image.width}x${image.height} -> ${processed.resizedWidth}x${processed.resizedHeight}, grid_thw [${gt}, ${gh}, ${gw}]\n` +
        `pixel_values:  ${processed.rows} x ${processed.cols}, sum ${sum}, abs sum ${absSum}\n` +
        `rope_delta:    ${rope.ropeDelta}\n`,
    );
  }
  return 0;
}
