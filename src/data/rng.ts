// Seeded pseudo-random numbers for the data code (synthetic scenes, splits, sampling): mulberry32 on
// 32-bit integer arithmetic only, so a seed gives the same stream in every JavaScript engine.

import { DataOptionsError } from './errors.ts';

/** Checks that `seed` is a safe integer (what every seeded data tool accepts). */
export function checkSeed(seed: number, what = 'seed'): number {
  if (!Number.isSafeInteger(seed)) {
    throw new DataOptionsError(`${what} must be an integer, got ${String(seed)}; pass a whole number`);
  }
  return seed;
}

/** A 32-bit hash of integers (safe integers are split into their low and high 32 bits). */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  const add = (v: number): void => {
    h = Math.imul(h ^ (v >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  };
  for (const p of parts) {
    add(p >>> 0);
    add(Math.floor(p / 4294967296) >>> 0);
  }
  return h >>> 0;
}

export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = mixSeed(seed);
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  float(): number {
    return this.nextU32() / 4294967296;
  }

  /** A uniform integer in [lo, hi], both inclusive. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.float() * (hi - lo + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  /** Fisher-Yates, in place; returns `items`. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(0, i);
      const t = items[i]!;
      items[i] = items[j]!;
      items[j] = t;
    }
    return items;
  }
}
