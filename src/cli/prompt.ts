// `vgrpo prompt`: builds the model input for one image and question without weights (chat template,
// image processor, image pad expansion, M-RoPE positions) and prints it, to check prompts against
// transformers' processor or to feed other tools.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ImageDecodeError } from '../data/errors.ts';
import { readImageFile } from '../data/image-decode-node.ts';
import {
  applyChatTemplate,
  buildPromptIds,
  type ChatMessage,
  imageTokenCount,
} from '../model/chat-template.ts';
import { type ModelConfig, parseModelConfig } from '../model/config.ts';
import {
  ChatTemplateError,
  ConfigError,
  ImageProcessorError,
  RopeIndexError,
  TokenizerFileError,
  UnsupportedTokenizerError,
} from '../model/errors.ts';
import {
  type ImageProcessorOptions,
  imageOptionsFromConfig,
  processImage,
} from '../model/image-processor.ts';
import { getRopeIndex } from '../model/rope-index.ts';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer.ts';

/** The tutorial's assistant prefill: the model continues the assistant turn from here. */
export const DEFAULT_PREFILL = 'Let me analyze this image.\n<think>';

/** The built-in nano preset's folder. */
export const NANO_DIR = fileURLToPath(new URL('../../public/nano', import.meta.url));

export const PROMPT_USAGE = `Usage: vgrpo prompt --model DIR|nano --image FILE --question TEXT [options]
  --prefill TEXT     assistant prefill the answer continues (default ${JSON.stringify(DEFAULT_PREFILL)};
                     '' opens the assistant turn without one)
  --system TEXT      system message (default: the chat template's own)
  --min-pixels N     override preprocessor_config.json's min_pixels
  --max-pixels N     override preprocessor_config.json's max_pixels
  --json             print {input_ids, image_grid_thw, position_ids, rope_delta, pixel_values}
  --dump-pixels FILE write pixel_values as raw little-endian float32, row-major
`;

/** A problem with the command's arguments or files; printed as is, exit code 1 (2 for usage). */
class PromptCliError extends Error {
  override name = 'PromptCliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** What a model folder provides for building prompts (no weights). */
export interface PromptModel {
  config: ModelConfig;
  tokenizer: Tokenizer;
  imageOptions: ImageProcessorOptions;
}

async function readJsonFile(dir: string, name: string, required: boolean): Promise<unknown> {
  const path = join(dir, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new PromptCliError(
      code === 'ENOENT'
        ? `model folder ${dir} has no ${name}; pass a Hugging Face Qwen2-VL / Qwen2.5-VL folder or 'nano'`
        : `cannot read ${path}: ${(e as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new PromptCliError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Loads config.json, tokenizer.json, tokenizer_config.json (and chat_template.json if present) and
 * preprocessor_config.json from a model folder; `nano` is the built-in preset.
 */
export async function loadPromptModel(model: string): Promise<PromptModel> {
  const dir = model === 'nano' ? NANO_DIR : model;
  const config = parseModelConfig(await readJsonFile(dir, 'config.json', true));
  const tokenizerJson = await readJsonFile(dir, 'tokenizer.json', true);
  const tokenizerConfig = await readJsonFile(dir, 'tokenizer_config.json', true);
  const chatTemplateJson = (await readJsonFile(dir, 'chat_template.json', false)) as
    | { chat_template?: unknown }
    | undefined;
  const chatTemplate =
    typeof chatTemplateJson?.chat_template === 'string' ? chatTemplateJson.chat_template : undefined;
  const tokenizer = loadTokenizer(
    tokenizerJson,
    tokenizerConfig,
    chatTemplate === undefined ? {} : { chatTemplate },
  );
  const pre = await readJsonFile(dir, 'preprocessor_config.json', true);
  if (typeof pre !== 'object' || pre === null || Array.isArray(pre)) {
    throw new PromptCliError(`${join(dir, 'preprocessor_config.json')} is not a JSON object`);
  }
  return { config, tokenizer, imageOptions: imageOptionsFromConfig(pre as Record<string, unknown>) };
}

function positiveIntArg(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new PromptCliError(`${flag} must be a positive integer, got '${value}'`, 2);
  }
  return n;
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function float32LeBytes(values: Float32Array): Uint8Array {
  if (isLittleEndian) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return out;
}

/** Runs `vgrpo prompt ARGS`; returns the exit code. */
export async function promptCommand(args: string[]): Promise<number> {
  try {
    return await runPrompt(args);
  } catch (e) {
    if (
      e instanceof PromptCliError ||
      e instanceof ImageDecodeError ||
      e instanceof ImageProcessorError ||
      e instanceof ConfigError ||
      e instanceof TokenizerFileError ||
      e instanceof UnsupportedTokenizerError ||
      e instanceof ChatTemplateError ||
      e instanceof RopeIndexError
    ) {
      process.stderr.write(`vgrpo prompt: ${e.message}\n`);
      if (e instanceof PromptCliError && e.exitCode === 2) process.stderr.write(`\n${PROMPT_USAGE}`);
      return e instanceof PromptCliError ? e.exitCode : 1;
    }
    throw e;
  }
}

async function runPrompt(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        model: { type: 'string' },
        image: { type: 'string' },
        question: { type: 'string' },
        prefill: { type: 'string' },
        system: { type: 'string' },
        'min-pixels': { type: 'string' },
        'max-pixels': { type: 'string' },
        json: { type: 'boolean' },
        'dump-pixels': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    throw new PromptCliError((e as Error).message, 2);
  }
  if (values.help) {
    process.stdout.write(PROMPT_USAGE);
    return 0;
  }
  const str = (k: string): string | undefined => values[k] as string | undefined;
  for (const required of ['model', 'image', 'question']) {
    if (str(required) === undefined) throw new PromptCliError(`--${required} is required`, 2);
  }
  const minPixels = positiveIntArg(str('min-pixels'), '--min-pixels');
  const maxPixels = positiveIntArg(str('max-pixels'), '--max-pixels');

  const { config, tokenizer, imageOptions } = await loadPromptModel(str('model')!);
  const imagePath = str('image')!;
  let image: Awaited<ReturnType<typeof readImageFile>>;
  try {
    image = await readImageFile(imagePath);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new PromptCliError(`image file ${imagePath} does not exist`);
    if (code === 'EISDIR') throw new PromptCliError(`image ${imagePath} is a folder, not an image file`);
    throw e;
  }
  const processed = processImage(image, {
    ...imageOptions,
    ...(minPixels === undefined ? {} : { minPixels }),
    ...(maxPixels === undefined ? {} : { maxPixels }),
  });

  const messages: ChatMessage[] = [];
  const system = str('system');
  if (system !== undefined) messages.push({ role: 'system', content: system });
  messages.push({
    role: 'user',
    content: [{ type: 'image' }, { type: 'text', text: str('question')! }],
  });
  const prefill = str('prefill') ?? DEFAULT_PREFILL;
  const text = applyChatTemplate(tokenizer, messages, { assistantPrefill: prefill });
  const merge = config.vision.spatialMergeSize;
  const inputIds = buildPromptIds(tokenizer, text, [imageTokenCount(processed.gridThw, merge)]);
  const rope = getRopeIndex(inputIds, [processed.gridThw], {
    imageTokenId: config.tokens.imageTokenId,
    visionStartId: config.tokens.visionStartTokenId,
    spatialMergeSize: merge,
  });

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
      throw new PromptCliError(`cannot write ${dump}: ${(e as Error).message}`);
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
