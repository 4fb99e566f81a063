// Tests of the seeded train / test split and the epoch sampler: disjoint and covering parts of the
// right size, every index once per epoch, per-epoch reshuffling, determinism and exact resumption.
import { describe, expect, it } from 'vitest';
import { DataOptionsError } from '../../src/data/errors.ts';
import { Sampler, splitRows } from '../../src/data/split.ts';

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

describe('splitRows', () => {
  const ids = range(1000).map((i) => `row-${i}`);

  it('gives disjoint parts that cover every id, with round(n * fraction) test ids', () => {
    for (const [n, f, want] of [
      [1000, 0.2, 200],
      [1000, 0.05, 50],
      [7, 0.5, 4], // 3.5 rounds up
      [10, 0, 0],
      [10, 1, 10],
    ] as const) {
      const { train, test } = splitRows(ids.slice(0, n), f, 3);
      expect(test.length).toBe(want);
      expect(train.length).toBe(n - want);
      const all = new Set([...train, ...test]);
      expect(all.size).toBe(n); // disjoint and covering
      for (const id of ids.slice(0, n)) expect(all.has(id)).toBe(true);
    }
  });

  it('is deterministic for a seed, differs between seeds and keeps the input order', () => {
    const a = splitRows(ids, 0.2, 11);
    expect(splitRows(ids, 0.2, 11)).toEqual(a);
    expect(splitRows(ids, 0.2, 12).test).not.toEqual(a.test);
    const pos = (id: string): number => Number(id.slice(4));
    for (const part of [a.train, a.test]) {
      for (let i = 1; i < part.length; i++) expect(pos(part[i]!)).toBeGreaterThan(pos(part[i - 1]!));
    }
    // Not just the first or last 20%: test ids are spread over the whole range.
    expect(a.test.some((id) => pos(id) < 300)).toBe(true);
    expect(a.test.some((id) => pos(id) > 700)).toBe(true);
  });

  it('rejects a fraction outside [0, 1] and a non-integer seed', () => {
    expect(() => splitRows(ids, 1.5, 1)).toThrow(DataOptionsError);
    expect(() => splitRows(ids, Number.NaN, 1)).toThrow(DataOptionsError);
    expect(() => splitRows(ids, 0.1, 0.5)).toThrow(DataOptionsError);
  });
});

describe('Sampler', () => {
  const epochBatches = (s: Sampler): number[][] => range(s.stepsPerEpoch).map(() => s.next());

  it('covers every index exactly once per epoch in batches of batchSize (last one short)', () => {
    const s = new Sampler(10, { seed: 1, batchSize: 3 });
    expect(s.stepsPerEpoch).toBe(4);
    for (let epoch = 0; epoch < 5; epoch++) {
      expect(s.epoch).toBe(epoch);
      const batches = epochBatches(s);
      expect(batches.map((b) => b.length)).toEqual([3, 3, 3, 1]);
      expect(batches.flat().sort((x, y) => x - y)).toEqual(range(10));
    }
  });

  it('with dropLast, never yields a short batch and draws distinct indices within an epoch', () => {
    const s = new Sampler(10, { seed: 1, batchSize: 3, dropLast: true });
    expect(s.stepsPerEpoch).toBe(3);
    const seen = new Set<number>();
    for (let epoch = 0; epoch < 20; epoch++) {
      const flat = epochBatches(s).flat();
      expect(flat.length).toBe(9);
      expect(new Set(flat).size).toBe(9);
      for (const i of flat) seen.add(i);
    }
    expect(seen.size).toBe(10); // the dropped index changes between epochs
  });

  it('reshuffles each epoch, deterministically for a seed', () => {
    const a = new Sampler(50, { seed: 9, batchSize: 8 });
    const b = new Sampler(50, { seed: 9, batchSize: 8 });
    const c = new Sampler(50, { seed: 10, batchSize: 8 });
    const ea = range(4).map(() => epochBatches(a).flat());
    const eb = range(4).map(() => epochBatches(b).flat());
    const ec = range(4).map(() => epochBatches(c).flat());
    expect(eb).toEqual(ea);
    expect(ec[0]).not.toEqual(ea[0]);
    for (let i = 1; i < 4; i++) expect(ea[i]).not.toEqual(ea[i - 1]);
    expect(ea[0]).not.toEqual(range(50)); // actually shuffled
  });

  it('without shuffle, yields indices in order every epoch', () => {
    const s = new Sampler(5, { seed: 3, batchSize: 2, shuffle: false });
    expect(range(6).map(() => s.next())).toEqual([[0, 1], [2, 3], [4], [0, 1], [2, 3], [4]]);
  });

  it('restore() continues exactly where a saved state stopped, also mid-epoch and across epochs', () => {
    for (const cut of [0, 1, 3, 4, 7, 13]) {
      const a = new Sampler(11, { seed: 5, batchSize: 3 });
      for (let i = 0; i < cut; i++) a.next();
      const saved = JSON.parse(JSON.stringify(a.state()));
      const b = new Sampler(11, { seed: 5, batchSize: 3 });
      b.restore(saved);
      expect(b.epoch).toBe(a.epoch);
      expect(range(12).map(() => b.next())).toEqual(range(12).map(() => a.next()));
    }
  });

  it('rejects a state from a different sampler and impossible options', () => {
    const s = new Sampler(11, { seed: 5, batchSize: 3 });
    expect(() => s.restore({ ...s.state(), n: 12 })).toThrow(DataOptionsError);
    expect(() => s.restore({ ...s.state(), seed: 6 })).toThrow(DataOptionsError);
    expect(() => s.restore({ ...s.state(), position: -1 })).toThrow(DataOptionsError);
    expect(() => new Sampler(0, { seed: 1, batchSize: 1 })).toThrow(DataOptionsError);
    expect(() => new Sampler(4, { seed: 1, batchSize: 0 })).toThrow(DataOptionsError);
    expect(() => new Sampler(4, { seed: 1, batchSize: 5, dropLast: true })).toThrow(DataOptionsError);
  });
});
