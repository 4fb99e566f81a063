// Prompt building: renders the checkpoint's own Jinja chat template (messages with image and text
// parts, generation prompt or an assistant prefill that the model continues), then tokenizes it and
// expands each <|image_pad|> into as many pad tokens as its image has LLM tokens.

import { Template } from '@huggingface/jinja';
import { ChatTemplateError } from './errors.ts';
import type { Tokenizer } from './tokenizer.ts';

/** A content part of a chat message: an image placeholder or text. */
export type ChatContentPart = { type: 'image' } | { type: 'text'; text: string };

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string | ChatContentPart[];
}

export interface RenderChatOptions {
  /** Open a new assistant turn at the end (`add_generation_prompt`). */
  addGenerationPrompt?: boolean;
  /**
   * Text the assistant's answer starts with: the prompt ends right after it, inside the assistant turn
   * (like transformers' `continue_final_message`). Excludes `addGenerationPrompt`; '' just opens the turn.
   */
  assistantPrefill?: string;
  /** Extra variables for the template (e.g. `add_vision_id`). */
  variables?: Record<string, unknown>;
}

/** The Jinja source of the tokenizer's chat template, or a ChatTemplateError saying what to provide. */
export function requireChatTemplate(tokenizer: Tokenizer): string {
  if (tokenizer.chatTemplate === undefined) {
    throw new ChatTemplateError(
      'the tokenizer has no chat_template: load tokenizer_config.json (or chat_template.json) with the tokenizer',
    );
  }
  return tokenizer.chatTemplate;
}

/** Renders `messages` with a Jinja chat template into the prompt text. */
export function renderChat(
  template: string,
  messages: readonly ChatMessage[],
  options: RenderChatOptions = {},
  specialTokens: { eos_token?: string; bos_token?: string; pad_token?: string } = {},
): string {
  const prefill = options.assistantPrefill;
  const continuing = prefill !== undefined && prefill !== '';
  if (continuing && options.addGenerationPrompt) {
    throw new ChatTemplateError('use either addGenerationPrompt or assistantPrefill, not both');
  }
  const all = continuing ? [...messages, { role: 'assistant', content: prefill } as const] : messages;
  let text: string;
  try {
    text = new Template(template).render({
      ...specialTokens,
      ...options.variables,
      messages: all,
      add_generation_prompt: prefill === '' ? true : (options.addGenerationPrompt ?? false),
    });
  } catch (e) {
    throw new ChatTemplateError(`rendering failed: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!continuing) return text;
  // The template closes the prefill message (e.g. with <|im_end|>\n): cut right after the prefill.
  const at = text.lastIndexOf(prefill);
  if (at < 0) {
    throw new ChatTemplateError(
      'the template does not reproduce the assistant prefill verbatim, so it cannot be continued',
    );
  }
  return text.slice(0, at + prefill.length);
}

/** Renders `messages` with the tokenizer's own chat template and special tokens. */
export function applyChatTemplate(
  tokenizer: Tokenizer,
  messages: readonly ChatMessage[],
  options: RenderChatOptions = {},
): string {
  const specialTokens: { eos_token?: string; bos_token?: string; pad_token?: string } = {};
  if (tokenizer.eosToken !== undefined) specialTokens.eos_token = tokenizer.eosToken;
  if (tokenizer.bosToken !== undefined) specialTokens.bos_token = tokenizer.bosToken;
  if (tokenizer.padToken !== undefined) specialTokens.pad_token = tokenizer.padToken;
  return renderChat(requireChatTemplate(tokenizer), messages, options, specialTokens);
}

/** The number of LLM tokens of one image: grid_t * grid_h * grid_w / merge_size^2. */
export function imageTokenCount(gridThw: readonly [number, number, number], mergeSize = 2): number {
  const [t, h, w] = gridThw;
  return (t * h * w) / (mergeSize * mergeSize);
}

/**
 * Token ids of a rendered prompt with the i-th `<|image_pad|>` repeated `imageTokenCounts[i]` times.
 * Throws ChatTemplateError when the number of image pads and of counts differ.
 */
export function buildPromptIds(
  tokenizer: Tokenizer,
  text: string,
  imageTokenCounts: readonly number[],
): number[] {
  const padId = tokenizer.tokenToId('<|image_pad|>');
  if (padId === undefined) throw new ChatTemplateError('the tokenizer has no <|image_pad|> token');
  for (const n of imageTokenCounts) {
    if (!Number.isInteger(n) || n < 1)
      throw new ChatTemplateError(`image token count ${n} is not a positive integer`);
  }
  const ids = tokenizer.encode(text);
  const pads = ids.reduce((n, id) => n + (id === padId ? 1 : 0), 0);
  if (pads !== imageTokenCounts.length) {
    throw new ChatTemplateError(
      `the prompt has ${pads} <|image_pad|> but ${imageTokenCounts.length} images were given: give one image per image part`,
    );
  }
  const out: number[] = [];
  let image = 0;
  for (const id of ids) {
    if (id !== padId) {
      out.push(id);
      continue;
    }
    const n = imageTokenCounts[image++]!;
    for (let k = 0; k < n; k++) out.push(padId);
  }
  return out;
}
