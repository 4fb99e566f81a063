// Shared by the commands that take a model folder, an image and a question (`vgrpo prompt`,
// `vgrpo generate`): loading a folder's config, tokenizer and image processor, reading the image, and
// building the prompt (chat template, image pads, M-RoPE positions) exactly as the model sees it.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImageFile } from '../data/image-decode-node.ts';
import {
  applyChatTemplate,
  buildPromptIds,
  type ChatMessage,
  imageTokenCount,
} from '../model/chat-template.ts';
import { type ModelConfig, parseModelConfig } from '../model/config.ts';
import {
  type ImageProcessorOptions,
  imageOptionsFromConfig,
  type ProcessedImage,
  processImage,
  type RgbImage,
} from '../model/image-processor.ts';
import { getRopeIndex, type RopeIndex } from '../model/rope-index.ts';
import { loadTokenizer, type Tokenizer } from '../model/tokenizer.ts';
import { CliError } from './command.ts';

/** The tutorial's assistant prefill: the model continues the assistant turn from here. */
export const DEFAULT_PREFILL = 'Let me analyze this image.\n<think>';

/** The built-in nano preset's folder. */
export const NANO_DIR = fileURLToPath(new URL('../../public/nano', import.meta.url));

/** The folder a --model value names: `nano` is the built-in preset. */
export function modelDir(model: string): string {
  return model === 'nano' ? NANO_DIR : model;
}

/** What a model folder provides for building prompts (no weights). */
export interface PromptModel {
  config: ModelConfig;
  tokenizer: Tokenizer;
  imageOptions: ImageProcessorOptions;
}

/** Reads and parses `name` in `dir`; undefined when it is absent and not `required`. */
export async function readJsonFile(dir: string, name: string, required: boolean): Promise<unknown> {
  const path = join(dir, name);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (!required && code === 'ENOENT') return undefined;
    throw new CliError(
      code === 'ENOENT'
        ? `model folder ${dir} has no ${name}; pass a Hugging Face Qwen2-VL / Qwen2.5-VL folder or 'nano'`
        : `cannot read ${path}: ${(e as Error).message}`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CliError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * Loads config.json, tokenizer.json, tokenizer_config.json (and chat_template.json if present) and
 * preprocessor_config.json from a model folder; `nano` is the built-in preset.
 */
export async function loadPromptModel(model: string): Promise<PromptModel> {
  const dir = modelDir(model);
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
    throw new CliError(`${join(dir, 'preprocessor_config.json')} is not a JSON object`);
  }
  return { config, tokenizer, imageOptions: imageOptionsFromConfig(pre as Record<string, unknown>) };
}

/** A positive integer flag value (usage error, exit 2, otherwise); undefined stays undefined. */
export function positiveIntArg(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n <= 0) {
    throw new CliError(`${flag} must be a positive integer, got '${value}'`, 2);
  }
  return n;
}

/** Decodes the image file at `path` (PNG or JPEG); CliError for a missing file or a folder. */
export async function readImageArg(path: string): Promise<RgbImage> {
  try {
    return await readImageFile(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new CliError(`image file ${path} does not exist`);
    if (code === 'EISDIR') throw new CliError(`image ${path} is a folder, not an image file`);
    throw e;
  }
}

export interface PromptRequest {
  question: string;
  /** Assistant prefill (default DEFAULT_PREFILL; '' opens the assistant turn without one). */
  prefill?: string;
  /** System message (default: the chat template's own). */
  system?: string;
  minPixels?: number;
  maxPixels?: number;
}

export interface BuiltPrompt {
  /** The rendered chat text (one <|image_pad|> per image). */
  text: string;
  /** The prefill the assistant turn ends with. */
  prefill: string;
  /** Token ids with the image's pads expanded. */
  inputIds: number[];
  processed: ProcessedImage;
  rope: RopeIndex;
}

/** The model input for one image and question: chat template, image processor, pads, M-RoPE positions. */
export function buildPrompt(model: PromptModel, image: RgbImage, request: PromptRequest): BuiltPrompt {
  const { config, tokenizer, imageOptions } = model;
  const processed = processImage(image, {
    ...imageOptions,
    ...(request.minPixels === undefined ? {} : { minPixels: request.minPixels }),
    ...(request.maxPixels === undefined ? {} : { maxPixels: request.maxPixels }),
  });
  const messages: ChatMessage[] = [];
  if (request.system !== undefined) messages.push({ role: 'system', content: request.system });
  messages.push({ role: 'user', content: [{ type: 'image' }, { type: 'text', text: request.question }] });
  const prefill = request.prefill ?? DEFAULT_PREFILL;
  const text = applyChatTemplate(tokenizer, messages, { assistantPrefill: prefill });
  const merge = config.vision.spatialMergeSize;
  const inputIds = buildPromptIds(tokenizer, text, [imageTokenCount(processed.gridThw, merge)]);
  const rope = getRopeIndex(inputIds, [processed.gridThw], {
    imageTokenId: config.tokens.imageTokenId,
    visionStartId: config.tokens.visionStartTokenId,
    spatialMergeSize: merge,
  });
  return { text, prefill, inputIds, processed, rope };
}
