// Shared by the commands that take a model folder (`vgrpo prompt`, `generate`, `train`, `eval`): loading
// a folder's config, tokenizer and image processor (src/model/prompt.ts builds the prompt from them),
// reading an image file, and parsing numeric flags.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readImageFile } from '../data/image/image-decode-node.ts';
import { parseModelConfig } from '../model/config.ts';
import { imageOptionsFromConfig, type RgbImage } from '../model/image-processor.ts';
import type { PromptModel } from '../model/prompt.ts';
import { loadTokenizer } from '../model/tokenizer.ts';
import { CliError } from './command.ts';

/** The built-in nano preset's folder. */
export const NANO_DIR = fileURLToPath(new URL('../../public/nano', import.meta.url));

/** The folder a --model value names: `nano` is the built-in preset. */
export function modelDir(model: string): string {
  return model === 'nano' ? NANO_DIR : model;
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
