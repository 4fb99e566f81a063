// M-RoPE position indexes: hand-derived cases, and a literal re-statement of transformers'
// get_rope_index steps (segments of arange + offsets) on random prompts.
import { describe, expect, it } from 'vitest';
import { RopeIndexError } from '../../src/model/errors.ts';
import { getRopeIndex } from '../../src/model/rope-index.ts';

const VS = 151652;
const VE = 151653;
const P = 151655;

function rows(r: ReturnType<typeof getRopeIndex>): number[][] {
  return r.positions.map((a) => Array.from(a));
}

describe('getRopeIndex', () => {
  it('text only: t = h = w = index, delta 0', () => {
    const r = getRopeIndex([10, 11, 12, 13], []);
    expect(rows(r)).toEqual([
      [0, 1, 2, 3],
      [0, 1, 2, 3],
      [0, 1, 2, 3],
    ]);
    expect(r.ropeDelta).toBe(0);
  });

  it('text, one image (grid 1x4x6 -> 2x3 merged), text (hand-derived)', () => {
    const ids = [1, 2, VS, P, P, P, P, P, P, VE, 3, 4];
    const r = getRopeIndex(ids, [[1, 4, 6]]);
    expect(rows(r)).toEqual([
      [0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7, 8],
      [0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7, 8],
      [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8],
    ]);
    expect(r.ropeDelta).toBe(9 - 12);
  });

  it('two images with text between (hand-derived)', () => {
    const ids = [VS, P, P, P, P, VE, 5, VS, P, P, VE];
    const r = getRopeIndex(ids, [
      [1, 4, 4],
      [1, 2, 4],
    ]);
    expect(rows(r)).toEqual([
      [0, 1, 1, 1, 1, 3, 4, 5, 6, 6, 8],
      [0, 1, 1, 2, 2, 3, 4, 5, 6, 6, 8],
      [0, 1, 2, 1, 2, 3, 4, 5, 6, 7, 8],
    ]);
    expect(r.ropeDelta).toBe(9 - 11);
  });

  it('a prompt ending inside the image: delta from the image max', () => {
    const r = getRopeIndex([7, VS, P, P, P, P, P, P], [[1, 6, 4]]);
    // s = 2; merged grid 3 rows x 2 cols: h = 2..4, w = 2..3; max 4 -> delta 5 - 8.
    expect(rows(r)).toEqual([
      [0, 1, 2, 2, 2, 2, 2, 2],
      [0, 1, 2, 2, 3, 3, 4, 4],
      [0, 1, 2, 3, 2, 3, 2, 3],
    ]);
    expect(r.ropeDelta).toBe(-3);
  });

  it('honours custom token ids and merge size', () => {
    const r = getRopeIndex([9, 8, 8, 8, 8, 1], [[1, 2, 2]], {
      imageTokenId: 8,
      visionStartId: 9,
      spatialMergeSize: 1,
    });
    expect(rows(r)).toEqual([
      [0, 1, 1, 1, 1, 3],
      [0, 1, 1, 2, 2, 3],
      [0, 1, 2, 1, 2, 3],
    ]);
  });

  it('rejects a grid count or pad count that does not fit the prompt', () => {
    expect(() => getRopeIndex([VS, P, P, P, P, VE], [])).toThrow(RopeIndexError);
    expect(() => getRopeIndex([VS, P, P, P, VE], [[1, 4, 4]])).toThrow(RopeIndexError);
    expect(() => getRopeIndex([VS, P, P, P, P, VE], [[1, 4, 3]])).toThrow(RopeIndexError);
  });

  it('matches the get_rope_index steps on random prompts', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let trial = 0; trial < 50; trial++) {
      const ids: number[] = [];
      const grids: [number, number, number][] = [];
      const images = rand(4);
      for (let k = 0; k < images; k++) {
        for (let j = rand(5); j > 0; j--) ids.push(100 + rand(50));
        const g: [number, number, number] = [1, 2 * (1 + rand(4)), 2 * (1 + rand(5))];
        grids.push(g);
        ids.push(VS);
        for (let j = 0; j < (g[1] * g[2]) / 4; j++) ids.push(P);
        ids.push(VE);
      }
      for (let j = rand(5); j > 0; j--) ids.push(100 + rand(50));

      // The steps as transformers writes them: per image, a text segment arange(text_len) + st_idx
      // (st_idx = previous segment max + 1), then the grid segment + text_len + st_idx.
      const segs: number[][][] = [];
      const lastMax = (): number => (segs.length ? Math.max(...segs[segs.length - 1]!.flat()) + 1 : 0);
      let st = 0;
      for (const [gt, gh, gw] of grids) {
        const ed = ids.indexOf(P, st);
        const textLen = ed - st;
        const stIdx = lastMax();
        const text = Array.from({ length: textLen }, (_, i) => i + stIdx);
        segs.push([text, text, text]);
        const lh = gh / 2;
        const lw = gw / 2;
        const seg: number[][] = [[], [], []];
        for (let a = 0; a < gt; a++)
          for (let b = 0; b < lh; b++)
            for (let c = 0; c < lw; c++) {
              seg[0]!.push(a + textLen + stIdx);
              seg[1]!.push(b + textLen + stIdx);
              seg[2]!.push(c + textLen + stIdx);
            }
        segs.push(seg);
        st = ed + gt * lh * lw;
      }
      if (st < ids.length) {
        const stIdx = lastMax();
        const text = Array.from({ length: ids.length - st }, (_, i) => i + stIdx);
        segs.push([text, text, text]);
      }
      const expected = [0, 1, 2].map((d) => segs.flatMap((s) => s[d]!));
      const r = getRopeIndex(ids, grids);
      expect(rows(r)).toEqual(expected);
      const max = ids.length ? Math.max(...expected.flat()) : -1;
      expect(r.ropeDelta).toBe(ids.length ? max + 1 - ids.length : 0);
    }
  });
});
