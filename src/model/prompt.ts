// Prompts as the model sees them, shared by the trainer, the CLI and the app: the chat template with an
// optional system message and the assistant prefill, the image processor's pixel rows, the image pads
// expanded, and the M-RoPE positions; plus the stop ids of a checkpoint and the text of generated ids.
import { applyChatTemplate, buildPromptIds, type ChatMessage, imageTokenCount } from './chat-template.ts';
import type { ModelConfig } from './config.ts';
import {
  type ImageProcessorOptions,
  type ProcessedImage,
  processImage,
  type RgbImage,
} from './image-processor.ts';
import { getRopeIndex, type RopeIndex } from './rope-index.ts';
import type { Tokenizer } from './tokenizer.ts';

/** The tutorial's assistant prefill: the model continues the assistant turn from here. */
export const DEFAULT_PREFILL = 'Let me analyze this image.\n<think>';

/** What a model folder provides for building prompts (no weights). */
export interface PromptModel {
  config: ModelConfig;
  tokenizer: Tokenizer;
  imageOptions: ImageProcessorOptions;
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

/** The ids a completion stops at: <|im_end|> and <|endoftext|> (tokenizer), config and generation eos. */
export function stopTokenIds(tokenizer: Tokenizer, ...lists: readonly (readonly number[])[]): number[] {
  const ids = new Set<number>();
  for (const tok of ['<|im_end|>', '<|endoftext|>']) {
    const id = tokenizer.tokenToId(tok);
    if (id !== undefined) ids.add(id);
  }
  for (const list of lists) for (const id of list) ids.add(id);
  return [...ids].sort((a, b) => a - b);
}

/**
 * Text of generated ids. Ids the tokenizer lacks (the padding rows of the embedding past its vocabulary,
 * which an untrained model may sample) decode to nothing, as in HF tokenizers.
 */
export function decodeCompletion(tokenizer: Tokenizer, ids: readonly number[]): string {
  return tokenizer.decode(ids.filter((id) => tokenizer.idToToken(id) !== undefined));
}
