// The worker's model files: the built-in nano checkpoint fetched from the app's own public/nano/ (same
// origin, never the network), or a dropped Hugging Face folder; both become File objects read through a
// SourceOpener. From them: config, tokenizer, image processor and stop ids (the prompt side), a PEFT
// adapter beside the weights, and an opener that counts the weight bytes read, for the loading progress.
import { type ByteSource, filesOpener, type SourceOpener } from '../../model/byte-source.ts';
import { parseModelConfig } from '../../model/config.ts';
import { CheckpointError } from '../../model/errors.ts';
import { imageOptionsFromConfig } from '../../model/image-processor.ts';
import type { PeftAdapterInput } from '../../model/lora.ts';
import { type PromptModel, stopTokenIds } from '../../model/prompt.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../adapter.ts';
import type { BoxSpace } from '../rewards/answer.ts';
import { declaredBoxSpace } from '../rewards/box-space.ts';

/** The files of public/nano/ that the model needs. */
export const NANO_FILES = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
] as const;

const FOLDER_HINT =
  'drop the whole checkpoint folder: config.json, tokenizer.json, tokenizer_config.json, ' +
  'preprocessor_config.json and the model*.safetensors files';

/** Fetches the nano checkpoint's files from `base` (the app's /nano/ folder). */
export async function fetchNanoFiles(base: URL): Promise<File[]> {
  return Promise.all(
    NANO_FILES.map(async (name) => {
      const url = new URL(name, base);
      const response = await fetch(url);
      // A static server may answer a missing file with the app's index.html.
      const html = (response.headers.get('content-type') ?? '').includes('text/html');
      if (!response.ok || html)
        throw new CheckpointError(
          name,
          `the built-in nano checkpoint's ${name} is not served at ${url} ` +
            `(${response.ok ? 'got an HTML page' : `HTTP ${response.status}`}); ` +
            'the build lacks public/nano/: rebuild the app, or drop a checkpoint folder instead',
        );
      return new File([await response.blob()], name);
    }),
  );
}

async function readJson(open: SourceOpener, name: string, required: boolean): Promise<unknown> {
  const source = await open(name);
  if (!source) {
    if (!required) return undefined;
    throw new CheckpointError(name, `no ${name} in the checkpoint; ${FOLDER_HINT}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8').decode(await source.read(0, source.size));
  } finally {
    await source.close?.();
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(name, `${name} is not valid JSON (${(e as Error).message}); ${FOLDER_HINT}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** generation_config.json's eos_token_id (a number or a list); [] when absent. */
function generationEos(json: unknown): number[] {
  const eos = isObject(json) ? json.eos_token_id : undefined;
  if (typeof eos === 'number') return [eos];
  return Array.isArray(eos) ? eos.filter((x): x is number => Number.isInteger(x)) : [];
}

/** The prompt side of a checkpoint and the ids a completion stops at. */
export async function loadPromptModelFrom(
  open: SourceOpener,
): Promise<{ model: PromptModel; stopIds: number[]; boxSpace: BoxSpace | undefined }> {
  const configJson = await readJson(open, 'config.json', true);
  const config = parseModelConfig(configJson);
  const template = await readJson(open, 'chat_template.json', false);
  const chatTemplate =
    isObject(template) && typeof template.chat_template === 'string' ? template.chat_template : undefined;
  const tokenizer = loadTokenizer(
    await readJson(open, 'tokenizer.json', true),
    await readJson(open, 'tokenizer_config.json', true),
    chatTemplate === undefined ? {} : { chatTemplate },
  );
  const pre = await readJson(open, 'preprocessor_config.json', true);
  if (!isObject(pre))
    throw new CheckpointError('preprocessor_config.json', 'preprocessor_config.json is not a JSON object');
  const generation = await readJson(open, 'generation_config.json', false);
  return {
    model: { config, tokenizer, imageOptions: imageOptionsFromConfig(pre) },
    stopIds: stopTokenIds(tokenizer, config.tokens.eosTokenIds, generationEos(generation)),
    boxSpace: declaredBoxSpace(configJson),
  };
}

const isWeights = (name: string) => name.endsWith('.safetensors') && name !== ADAPTER_WEIGHTS;

/**
 * The PEFT adapter among a model folder's files (matched by base name), read; undefined when the folder
 * has none. One of its two files without the other is an error.
 */
export async function folderAdapter(files: readonly File[]): Promise<PeftAdapterInput | undefined> {
  const config = files.find((f) => f.name === ADAPTER_CONFIG);
  const weights = files.find((f) => f.name === ADAPTER_WEIGHTS);
  if (!config && !weights) return undefined;
  if (!config || !weights) {
    const [has, lacks] = config ? [ADAPTER_CONFIG, ADAPTER_WEIGHTS] : [ADAPTER_WEIGHTS, ADAPTER_CONFIG];
    throw new CheckpointError(
      lacks,
      `the model folder has a LoRA adapter's ${has} but no ${lacks}; add it from the same adapter, or ` +
        `remove ${has} to train the model alone`,
    );
  }
  return {
    [ADAPTER_CONFIG]: await config.text(),
    [ADAPTER_WEIGHTS]: new Uint8Array(await weights.arrayBuffer()),
  };
}

/** Bytes of the safetensors files among `files`. */
export function weightBytes(files: readonly File[]): number {
  return files.filter((f) => isWeights(f.name)).reduce((n, f) => n + f.size, 0);
}

/** An opener over `files` that reports every read of a safetensors file to `onRead` (bytes read). */
export function countingOpener(files: readonly File[], onRead: (bytes: number) => void): SourceOpener {
  const open = filesOpener(files);
  return async (name) => {
    const source = await open(name);
    if (!source || !isWeights(name)) return source;
    const counted: ByteSource = {
      name: source.name,
      size: source.size,
      async read(offset, length) {
        const bytes = await source.read(offset, length);
        onRead(length);
        return bytes;
      },
      close: source.close && (() => source.close!()),
    };
    return counted;
  };
}
