// Thumbnails of a step's images: sizes, area averages checked against a direct float computation, RGB
// and RGBA inputs, and small images left at their size.
import { describe, expect, it } from 'vitest';
import { thumbnail } from '../../../src/grpo/worker/thumbnail.ts';

function image(width: number, height: number, channels: 3 | 4) {
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37 + (i >> 3)) % 256;
  return { width, height, data };
}

describe('thumbnail', () => {
  it('averages each 2 x 2 block when halving', () => {
    const src = image(8, 6, 3);
    const t = thumbnail(src, 4);
    expect([t.width, t.height]).toEqual([4, 3]);
    for (let ty = 0; ty < 3; ty++) {
      for (let tx = 0; tx < 4; tx++) {
        for (let c = 0; c < 3; c++) {
          let sum = 0;
          for (const [dx, dy] of [
            [0, 0],
            [1, 0],
            [0, 1],
            [1, 1],
          ] as const) {
            sum += src.data[((2 * ty + dy) * 8 + 2 * tx + dx) * 3 + c]!;
          }
          expect(t.pixels[(ty * 4 + tx) * 4 + c]).toBe(Math.round(sum / 4));
        }
        expect(t.pixels[(ty * 4 + tx) * 4 + 3]).toBe(255);
      }
    }
  });

  it('keeps the aspect ratio and never enlarges', () => {
    expect(thumbnail(image(1000, 250, 4)).width).toBe(192);
    expect(thumbnail(image(1000, 250, 4)).height).toBe(48);
    const small = image(84, 84, 4);
    const t = thumbnail(small);
    expect([t.width, t.height]).toEqual([84, 84]);
    expect(Array.from(t.pixels.slice(0, 8))).toEqual([
      small.data[0],
      small.data[1],
      small.data[2],
      255,
      small.data[4],
      small.data[5],
      small.data[6],
      255,
    ]);
  });

  it('covers every source pixel when the scale is not a whole number', () => {
    const flat = { width: 7, height: 5, data: new Uint8Array(7 * 5 * 3).fill(90) };
    const t = thumbnail(flat, 3);
    expect([t.width, t.height]).toEqual([3, 2]);
    expect(new Set(t.pixels.filter((_, i) => i % 4 !== 3))).toEqual(new Set([90]));
  });
});
