// Builds the nano preset's tokenizer (public/nano/tokenizer.json, tokenizer_config.json): a byte-level
// BPE in Qwen2's tokenizer.json format (same normalizer, pre-tokenizer and decoder), 256 byte tokens +
// 224 merges learned on the product's own grounding text (ids 0-479), and Qwen's 14 special tokens at
// ids 480-493 (public/nano/README.md). Deterministic: rerunning it reproduces the files byte for byte.
//
//   node --import ./bin/register.js scripts/make-nano-tokenizer.ts [OUT_DIR]   (default public/nano)

import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BYTE_TO_CHAR, translateRegex } from '../src/model/tokenizer.ts';

export const NANO_BYTE_TOKENS = 256;
export const NANO_MERGES = 224;
export const NANO_FIRST_SPECIAL_ID = 480;

/** Qwen's special tokens in Qwen's order (Qwen id = nano id + 151163). */
export const NANO_SPECIAL_TOKENS = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<|object_ref_start|>',
  '<|object_ref_end|>',
  '<|box_start|>',
  '<|box_end|>',
  '<|quad_start|>',
  '<|quad_end|>',
  '<|vision_start|>',
  '<|vision_end|>',
  '<|vision_pad|>',
  '<|image_pad|>',
  '<|video_pad|>',
] as const;

/** Qwen2-VL's chat template (as in Qwen2-VL-2B-Instruct's tokenizer_config.json). */
export const QWEN2_VL_CHAT_TEMPLATE = [
  "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}{% for message in messages %}{% if loop.first and message['role'] != 'system' %}<|im_start|>system",
  'You are a helpful assistant.<|im_end|>',
  "{% endif %}<|im_start|>{{ message['role'] }}",
  "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>",
  "{% else %}{% for content in message['content'] %}{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>{% elif content['type'] == 'video' or 'video' in content %}{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>",
  '{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant',
  '{% endif %}',
].join('\n');

export const DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant.';
export const GROUNDING_SYSTEM_PROMPT =
  'You are a helpful assistant. First think about the question inside <think> </think>, then give the ' +
  'bounding box of the answer as [x1, y1, x2, y2] in pixels inside <answer> </answer>.';
export const GROUNDING_PREFILL = 'Let me analyze this image.\n<think>';

// Qwen2's pre-tokenizer split pattern.
const QWEN2_SPLIT_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const COLOURS = [
  'red',
  'green',
  'blue',
  'yellow',
  'orange',
  'purple',
  'pink',
  'brown',
  'black',
  'white',
  'gray',
  'cyan',
];
const SHAPES = [
  'circle',
  'square',
  'triangle',
  'rectangle',
  'star',
  'ellipse',
  'hexagon',
  'diamond',
  'cross',
];
const WORDS = ['STOP', 'EXIT', 'OPEN', 'SALE', 'CAFE', 'HOTEL', 'BUS', 'TAXI', 'PARKING', 'NO ENTRY'];
const PLACES = ['top left', 'top right', 'bottom left', 'bottom right', 'center', 'left side', 'right side'];

/**
 * The training text: full chat turns (system, user question after the image, assistant prefill and a
 * thought + box answer) for coloured shapes and written words. Generated without randomness except
 * a fixed-seed LCG for the box numbers.
 */
export function nanoCorpus(): string[] {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const box = (): string => {
    const x1 = rand(400);
    const y1 = rand(400);
    return `[${x1}, ${y1}, ${x1 + 8 + rand(100)}, ${y1 + 8 + rand(100)}]`;
  };
  const turn = (system: string, question: string, thought: string): string =>
    `<|im_start|>system\n${system}<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>` +
    `${question}<|im_end|>\n<|im_start|>assistant\n${GROUNDING_PREFILL}${thought}</think>` +
    `<answer>${box()}</answer><|im_end|>\n`;
  const corpus: string[] = [];
  let k = 0;
  for (const colour of COLOURS) {
    for (const shape of SHAPES) {
      const place = PLACES[k++ % PLACES.length]!;
      const system = k % 2 === 0 ? DEFAULT_SYSTEM_PROMPT : GROUNDING_SYSTEM_PROMPT;
      const questions = [
        `Where is the ${colour} ${shape}?`,
        `Find the ${colour} ${shape} in the image.`,
        `What is the bounding box of the ${shape} that is ${colour}?`,
      ];
      corpus.push(
        turn(
          system,
          questions[k % questions.length]!,
          ` The ${colour} ${shape} is at the ${place} of the image, so the box is around it. `,
        ),
      );
    }
  }
  for (const word of WORDS) {
    for (const question of [
      `Where does it say ${word}?`,
      `Find the word ${word}.`,
      `Where is ${word} written?`,
    ]) {
      const place = PLACES[k++ % PLACES.length]!;
      corpus.push(
        turn(
          GROUNDING_SYSTEM_PROMPT,
          question,
          ` I can see the text "${word}" written on a sign at the ${place}. The box covers the word. `,
        ),
      );
    }
  }
  return corpus;
}

/** Pre-tokenized pieces (in byte-level form) of `text`, special tokens removed, as Qwen2's tokenizer splits. */
function pieces(text: string, byteChar: readonly string[]): string[] {
  const specials = new RegExp(NANO_SPECIAL_TOKENS.map((s) => s.replace(/[|]/g, '\\|')).join('|'), 'g');
  const split = translateRegex(QWEN2_SPLIT_PATTERN);
  const encoder = new TextEncoder();
  const out: string[] = [];
  for (const chunk of text.normalize('NFC').split(specials)) {
    for (const m of chunk.matchAll(split)) {
      let piece = '';
      for (const b of encoder.encode(m[0])) piece += byteChar[b];
      out.push(piece);
    }
  }
  return out;
}

/** Learns `count` merges: each step merges the most frequent adjacent pair (ties: smallest pair, by code units). */
function trainMerges(
  corpus: readonly string[],
  count: number,
  byteChar: readonly string[],
): [string, string][] {
  const freq = new Map<string, number>();
  for (const text of corpus) for (const p of pieces(text, byteChar)) freq.set(p, (freq.get(p) ?? 0) + 1);
  const words = [...freq.entries()].map(([p, n]) => ({ symbols: Array.from(p), n }));
  const merges: [string, string][] = [];
  while (merges.length < count) {
    const pairs = new Map<string, { a: string; b: string; n: number }>();
    for (const w of words) {
      for (let i = 0; i + 1 < w.symbols.length; i++) {
        const a = w.symbols[i]!;
        const b = w.symbols[i + 1]!;
        const key = `${a} ${b}`;
        const e = pairs.get(key);
        if (e) e.n += w.n;
        else pairs.set(key, { a, b, n: w.n });
      }
    }
    let best: { a: string; b: string; n: number; key: string } | undefined;
    for (const [key, e] of pairs) {
      if (!best || e.n > best.n || (e.n === best.n && key < best.key)) best = { ...e, key };
    }
    if (!best) throw new Error(`the corpus only supports ${merges.length} merges, ${count} are needed`);
    merges.push([best.a, best.b]);
    const merged = best.a + best.b;
    for (const w of words) {
      const s = w.symbols;
      for (let i = 0; i + 1 < s.length; i++) {
        if (s[i] === best.a && s[i + 1] === best.b) s.splice(i, 2, merged);
      }
    }
  }
  return merges;
}

const stringify = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;

/** The text of tokenizer.json and tokenizer_config.json. */
export function buildNanoTokenizerFiles(): { tokenizerJson: string; tokenizerConfigJson: string } {
  const byteChar = BYTE_TO_CHAR;
  const merges = trainMerges(nanoCorpus(), NANO_MERGES, byteChar);
  // Byte tokens in code point order, as in GPT-2's and Qwen's vocabularies; merged tokens follow.
  const vocab: Record<string, number> = {};
  [...byteChar]
    .sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!)
    .forEach((c, id) => {
      vocab[c] = id;
    });
  merges.forEach(([a, b], i) => {
    const token = a + b;
    if (vocab[token] !== undefined) throw new Error(`merge ${i} repeats the token ${token}`);
    vocab[token] = NANO_BYTE_TOKENS + i;
  });
  const added = NANO_SPECIAL_TOKENS.map((content, i) => ({
    id: NANO_FIRST_SPECIAL_ID + i,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: { type: 'NFC' },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: QWEN2_SPLIT_PATTERN }, behavior: 'Isolated', invert: false },
        byteLevel,
      ],
    },
    post_processor: byteLevel,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: merges.map(([a, b]) => `${a} ${b}`),
    },
  };
  const config = {
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(
      added.map(({ id, ...rest }) => [
        String(id),
        {
          content: rest.content,
          lstrip: false,
          normalized: false,
          rstrip: false,
          single_word: false,
          special: true,
        },
      ]),
    ),
    additional_special_tokens: NANO_SPECIAL_TOKENS.slice(1),
    bos_token: null,
    chat_template: QWEN2_VL_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<|im_end|>',
    errors: 'replace',
    model_max_length: 4096,
    pad_token: '<|endoftext|>',
    split_special_tokens: false,
    tokenizer_class: 'Qwen2Tokenizer',
    unk_token: null,
  };
  return { tokenizerJson: stringify(tokenizer), tokenizerConfigJson: stringify(config) };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const outDir = resolve(process.argv[2] ?? 'public/nano');
  mkdirSync(outDir, { recursive: true });
  const files = buildNanoTokenizerFiles();
  writeFileSync(join(outDir, 'tokenizer.json'), files.tokenizerJson);
  writeFileSync(join(outDir, 'tokenizer_config.json'), files.tokenizerConfigJson);
  process.stdout.write(`wrote ${join(outDir, 'tokenizer.json')} and tokenizer_config.json\n`);
}
