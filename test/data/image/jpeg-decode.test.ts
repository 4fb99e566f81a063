// Our JPEG decoder against Pillow (libjpeg-turbo): every fixture of test/fixtures/jpeg/ (written by
// scripts/make-jpeg-fixtures.py) must decode to exactly the RGB bytes whose sha256 Pillow recorded in
// expected.json. Plus the typed errors for truncated, garbage, arithmetic and 12-bit files (the speed
// comparison with jpeg-js is in bench/images.ts).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ImageDecodeError } from '../../../src/data/errors.ts';
import { decodeJpeg } from '../../../src/data/image/jpeg-decode.ts';

const DIR = join(import.meta.dirname, '..', '..', 'fixtures', 'jpeg');
interface Expected {
  pillow: string;
  libjpeg_turbo: string;
  files: Record<string, { width: number; height: number; mode: string; sha256: string }>;
}
const expected = JSON.parse(readFileSync(join(DIR, 'expected.json'), 'utf8')) as Expected;

function rgbOf(rgba: Uint8Array): Uint8Array {
  const rgb = new Uint8Array((rgba.length / 4) * 3);
  for (let i = 0, o = 0; i < rgba.length; i += 4, o += 3) {
    rgb[o] = rgba[i]!;
    rgb[o + 1] = rgba[i + 1]!;
    rgb[o + 2] = rgba[i + 2]!;
  }
  return rgb;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(DIR, name)));
}

function errorOf(fn: () => unknown): ImageDecodeError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ImageDecodeError) return e;
    throw new Error(`expected an ImageDecodeError, got ${String(e)}`);
  }
  throw new Error('expected an ImageDecodeError, decoding succeeded');
}

describe('decodeJpeg matches Pillow bit for bit', () => {
  const names = Object.keys(expected.files);

  it('has every fixture on disk and nothing else', () => {
    const onDisk = readdirSync(DIR).filter((f) => f.endsWith('.jpg'));
    expect(onDisk.sort()).toEqual([...names].sort());
    expect(names.length).toBeGreaterThanOrEqual(25);
  });

  for (const name of names) {
    it(name, () => {
      const want = expected.files[name]!;
      const image = decodeJpeg(fixture(name), name);
      expect([image.width, image.height]).toEqual([want.width, want.height]);
      expect(image.data.length).toBe(want.width * want.height * 4);
      for (let i = 3; i < image.data.length; i += 4) if (image.data[i] !== 255) throw new Error('alpha');
      expect(sha256(rgbOf(image.data))).toBe(want.sha256);
    });
  }

  it('the fixtures exercise what their names say', () => {
    const has = (name: string, marker: number) => {
      const b = fixture(name);
      for (let i = 0; i + 1 < b.length; i++) if (b[i] === 0xff && b[i + 1] === marker) return true;
      return false;
    };
    expect(has('restart-blocks-420-smooth-64x40.jpg', 0xdd)).toBe(true);
    expect(has('restart-rows-422-edges-50x30.jpg', 0xd0)).toBe(true);
    expect(has('restart-progressive-420-smooth-40x40.jpg', 0xd1)).toBe(true);
    expect(has('progressive-420-edges-64x48.jpg', 0xc2)).toBe(true);
    expect(has('q90-420-edges-64x48.jpg', 0xc2)).toBe(false);
    expect(has('rgb-adobe0-keep-rgb-30x20.jpg', 0xee)).toBe(true);
  });
});

describe('decodeJpeg errors', () => {
  const good = fixture('q90-420-edges-64x48.jpg');

  it('truncated data is corrupt', () => {
    for (const cut of [good.length - 200, Math.floor(good.length / 2), 700, 30, 3]) {
      const e = errorOf(() => decodeJpeg(good.subarray(0, cut), 'cut.jpg'));
      expect(e.problem).toBe('corrupt');
      expect(e.message).toContain('cut.jpg');
    }
    const prog = fixture('progressive-420-edges-64x48.jpg');
    expect(errorOf(() => decodeJpeg(prog.subarray(0, prog.length - 300))).problem).toBe('corrupt');
  });

  it('garbage after SOI, random bytes and damaged entropy data are corrupt, never a raw error', () => {
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 24;
    };
    const garbage = new Uint8Array(500).map(() => rand());
    garbage[0] = 0xff;
    garbage[1] = 0xd8;
    expect(errorOf(() => decodeJpeg(garbage)).problem).toBe('corrupt');
    expect(errorOf(() => decodeJpeg(new Uint8Array([1, 2, 3, 4, 5]))).problem).toBe('corrupt');
    // Flip bytes inside the entropy-coded data: either a (wrong) image or the typed error.
    for (let trial = 0; trial < 40; trial++) {
      const bad = good.slice();
      for (let j = 0; j < 8; j++) bad[700 + ((rand() * 7 + j * 230) % (good.length - 702))] = rand();
      try {
        decodeJpeg(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(ImageDecodeError);
      }
    }
  });

  it('arithmetic coding, 12-bit samples, lossless and CMYK are unsupported', () => {
    const sofAt = (b: Uint8Array) => {
      for (let i = 2; i + 1 < b.length; i++) if (b[i] === 0xff && b[i + 1] === 0xc0) return i;
      throw new Error('no SOF0');
    };
    const withSof = (marker: number) => {
      const b = good.slice();
      b[sofAt(b) + 1] = marker;
      return b;
    };
    for (const marker of [0xc9, 0xca, 0xc3, 0xc5]) {
      const e = errorOf(() => decodeJpeg(withSof(marker)));
      expect(e.problem).toBe('unsupported');
    }
    expect(errorOf(() => decodeJpeg(withSof(0xc9))).message).toContain('arithmetic');
    const twelve = good.slice();
    twelve[sofAt(twelve) + 4] = 12;
    const e12 = errorOf(() => decodeJpeg(twelve));
    expect(e12.problem).toBe('unsupported');
    expect(e12.message).toContain('12-bit');
    const cmyk = good.slice();
    cmyk[sofAt(cmyk) + 9] = 4;
    expect(errorOf(() => decodeJpeg(cmyk)).problem).toBe('unsupported');
  });

  it('refuses over 100 megapixels before allocating', () => {
    const huge = good.slice();
    for (let i = 2; i + 1 < huge.length; i++) {
      if (huge[i] === 0xff && huge[i + 1] === 0xc0) {
        huge.set([0xff, 0xff, 0xff, 0xff], i + 5); // 65535 x 65535
        break;
      }
    }
    const e = errorOf(() => decodeJpeg(huge));
    expect(e.problem).toBe('unsupported');
    expect(e.message).toContain('megapixels');
  });
});
