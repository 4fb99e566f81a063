// Generation with the KV cache: attention_decode (both kernel families) against a float64 loop (per-row
// lengths, GQA, keys past a row's length poisoned with NaN); prefill + decode-step logits and greedy
// generation against recomputing the whole decoderForward at every step (tiny and nano configs, text-only
// and with image features spliced at M-RoPE positions from getRopeIndex); seeded sampling reproducible and
// different across samples; stop ids; log-probs against tokenLogprobs of the recomputed logits.
import { describe, expect, it } from 'vitest';
import type { Gpu } from '../../src/gpu/context.ts';
import { attentionDecode } from '../../src/gpu/ops/attention-decode.ts';
import { linear } from '../../src/gpu/ops/linear.ts';
import { tokenLogprobs } from '../../src/gpu/ops/logprobs.ts';
import type { ModelConfig } from '../../src/model/config.ts';
import { decoderForward, type LinearFn } from '../../src/model/decoder.ts';
import {
  decodeStep,
  type GenerateOptions,
  generate,
  generateBatch,
  prefill,
} from '../../src/model/generate.ts';
import { createKvCache, disposeKvCache } from '../../src/model/kv-cache.ts';
import { getRopeIndex } from '../../src/model/rope-index.ts';
import { disposeWeights, randomWeights, type Weights } from '../../src/model/weights.ts';
import { expectClose, randomArray, rng, setupGpu } from '../helpers.ts';
import { nanoConfig, TINY_IMAGE_TOKEN, tinyConfig } from './test-configs.ts';

const gpu = setupGpu();

const IMAGE = TINY_IMAGE_TOKEN;

interface Prompt {
  ids: Int32Array;
  positions: [Int32Array, Int32Array, Int32Array];
  ropeDelta: number;
  /** Image-pad count. */
  pads: number;
}

/** before, <vision_start>, a (2 gh) x (2 gw) patch image (gh * gw pads), <vision_end>, after. */
function prompt(c: ModelConfig, before: number[], grid?: [number, number], after: number[] = []): Prompt {
  const t = c.tokens;
  const pads = grid ? grid[0] * grid[1] : 0;
  const ids = Int32Array.from([
    ...before,
    ...(grid
      ? [t.visionStartTokenId, ...new Array<number>(pads).fill(t.imageTokenId), t.visionEndTokenId]
      : []),
    ...after,
  ]);
  const { positions, ropeDelta } = getRopeIndex(ids, grid ? [[1, 2 * grid[0], 2 * grid[1]]] : [], {
    imageTokenId: t.imageTokenId,
    visionStartId: t.visionStartTokenId,
  });
  return { ids, positions, ropeDelta, pads };
}

/** The prompt followed by `extra` generated tokens: token index i >= S gets position i + ropeDelta. */
function extend(p: Prompt, extra: readonly number[]): { ids: Int32Array; positions: Prompt['positions'] } {
  const S = p.ids.length;
  const ids = Int32Array.from([...p.ids, ...extra]);
  const positions = p.positions.map((row) => {
    const out = new Int32Array(S + extra.length);
    out.set(row);
    for (let j = 0; j < extra.length; j++) out[S + j] = S + j + p.ropeDelta;
    return out;
  }) as Prompt['positions'];
  return { ids, positions };
}

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);

function features(g: Gpu, c: ModelConfig, p: Prompt, seed: number) {
  return p.pads
    ? g.tensor(randomArray(p.pads * c.text.hiddenSize, seed), [p.pads, c.text.hiddenSize])
    : undefined;
}

/** Logits of the full recomputation over prompt + extra, all rows. */
async function fullLogits(
  g: Gpu,
  c: ModelConfig,
  w: Weights,
  p: Prompt,
  extra: readonly number[],
  feats: ReturnType<typeof features>,
): Promise<Float32Array> {
  const seq = extend(p, extra);
  const logits = decoderForward(g, c, w, {
    inputIds: seq.ids,
    positions: seq.positions,
    imageFeatures: feats,
  });
  const out = (await g.read(logits)) as Float32Array;
  logits.dispose();
  return out;
}

describe('attention_decode against a float64 reference', () => {
  const cases = [
    { B: 3, Hq: 4, Hkv: 2, D: 8, maxLen: 70, lengths: [1, 70, 33] },
    { B: 3, Hq: 6, Hkv: 1, D: 32, maxLen: 140, lengths: [129, 0, 64] },
    { B: 2, Hq: 12, Hkv: 2, D: 32, maxLen: 9, lengths: [9, 5] },
    { B: 2, Hq: 2, Hkv: 1, D: 36, maxLen: 40, lengths: [40, 33] },
    { B: 1, Hq: 2, Hkv: 2, D: 256, maxLen: 50, lengths: [37] },
  ];
  for (const path of ['general', 'subgroup'] as const)
    for (const cs of cases) {
      it(`${path}: B ${cs.B}, heads ${cs.Hq}/${cs.Hkv}, D ${cs.D}, lengths [${cs.lengths}]`, async (ctx) => {
        const g = gpu();
        if (path === 'subgroup' && !(g.hasSubgroups && g.adapter.subgroupMinSize >= 8)) ctx.skip();
        const { B, Hq, Hkv, D, maxLen, lengths } = cs;
        const q = randomArray(B * Hq * D, 1, 2);
        const k = randomArray(B * maxLen * Hkv * D, 2, 2);
        const v = randomArray(B * maxLen * Hkv * D, 3);
        // Entries past a row's length must never be read.
        for (let b = 0; b < B; b++)
          for (let j = lengths[b]!; j < maxLen; j++)
            for (let e = 0; e < Hkv * D; e++) {
              k[(b * maxLen + j) * Hkv * D + e] = Number.NaN;
              v[(b * maxLen + j) * Hkv * D + e] = Number.NaN;
            }
        const qt = g.tensor(q, [B, Hq, D]);
        const kt = g.tensor(k, [B, maxLen, Hkv, D]);
        const vt = g.tensor(v, [B, maxLen, Hkv, D]);
        const out = attentionDecode(g, qt, kt, vt, lengths, { path });
        const got = await g.read(out);

        const want = new Float64Array(B * Hq * D);
        const scale = 1 / Math.sqrt(D);
        for (let b = 0; b < B; b++)
          for (let h = 0; h < Hq; h++) {
            const kh = Math.floor((h * Hkv) / Hq);
            const n = lengths[b]!;
            const s: number[] = [];
            for (let j = 0; j < n; j++) {
              let dot = 0;
              for (let d = 0; d < D; d++)
                dot += q[(b * Hq + h) * D + d]! * k[((b * maxLen + j) * Hkv + kh) * D + d]!;
              s.push(dot * scale);
            }
            const m = Math.max(...s);
            const e = s.map((x) => Math.exp(x - m));
            const z = e.reduce((a, x) => a + x, 0);
            for (let d = 0; d < D; d++) {
              let acc = 0;
              for (let j = 0; j < n; j++) acc += e[j]! * v[((b * maxLen + j) * Hkv + kh) * D + d]!;
              want[(b * Hq + h) * D + d] = n === 0 ? 0 : acc / z;
            }
          }
        expectClose(got, want, { rtol: 1e-5, atol: 2e-6 });
        for (const t of [qt, kt, vt, out]) t.dispose();
      });
    }
});

describe('KV-cache decoding against full recomputation', () => {
  it('prefill and decode-step logits equal the full forward, rows independent (tiny, image)', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 60, { parts: 'decoder' });
    const p = prompt(c, [1, 5], [2, 3], [7, 9, 12]);
    const feats = features(g, c, p, 61);
    const V = c.text.vocabSize;
    const S = p.ids.length;
    const cache = createKvCache(g, c, 2, S + 4);
    const l0 = prefill(g, c, w, cache, { inputIds: p.ids, positions: p.positions, imageFeatures: feats });
    const full0 = await fullLogits(g, c, w, p, [], feats);
    expectClose(await g.read(l0), full0.slice((S - 1) * V), { rtol: 0, atol: 1e-4 * maxAbs(full0) });
    l0.dispose();
    const fed = [
      [3, 17, 8],
      [40, 2, 2],
    ];
    for (let i = 0; i < 3; i++) {
      const l = decodeStep(g, c, w, cache, Int32Array.from([fed[0]![i]!, fed[1]![i]!]), S + i + p.ropeDelta);
      const got = await g.read(l);
      l.dispose();
      for (let r = 0; r < 2; r++) {
        const full = await fullLogits(g, c, w, p, fed[r]!.slice(0, i + 1), feats);
        expectClose(got.slice(r * V, (r + 1) * V), full.slice((S + i) * V), {
          rtol: 0,
          atol: 1e-4 * maxAbs(full),
        });
      }
    }
    expect(Array.from(cache.lengths)).toEqual([S + 3, S + 3]);
    disposeKvCache(cache);
    feats?.dispose();
    disposeWeights(w);
  });

  const greedyCases: [string, () => ModelConfig, (c: ModelConfig) => Prompt, number][] = [
    ['tiny, text only', tinyConfig, (c) => prompt(c, [1, 7, 3, 3, 12, 40, 2]), 70],
    ['tiny, image + M-RoPE', tinyConfig, (c) => prompt(c, [4], [3, 2], [8, 1]), 71],
    [
      'nano, image + M-RoPE',
      nanoConfig,
      (c) => {
        const r = rng(5);
        const text = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 480));
        return prompt(c, text(5), [2, 4], text(6));
      },
      72,
    ],
  ];
  for (const [name, makeConfig, makePrompt, seed] of greedyCases) {
    it(`greedy generation equals the argmax of the recomputed last row at every step (${name})`, async () => {
      const g = gpu();
      const c = makeConfig();
      const w = randomWeights(g, c, seed, { parts: 'decoder' });
      const p = makePrompt(c);
      const feats = features(g, c, p, seed + 1);
      const V = c.text.vocabSize;
      const S = p.ids.length;
      const steps = 6;
      const res = await generate(g, c, w, {
        inputIds: p.ids,
        positions: p.positions,
        ropeDelta: p.ropeDelta,
        imageFeatures: feats,
        numSamples: 2,
        maxNewTokens: steps,
        temperature: 0,
        seed: 1,
        // An image pad fed back would be read as a pad by the full forward.
        stopIds: [c.tokens.imageTokenId],
        logprobs: true,
      });
      expect(res.ids[1]).toEqual(res.ids[0]);
      const out = res.ids[0]!;
      expect(out.length === steps || res.finished[0]).toBe(true);
      let exact = 0;
      for (let i = 0; i < out.length; i++) {
        const full = await fullLogits(g, c, w, p, out.slice(0, i), feats);
        const last = full.slice((S - 1 + i) * V, (S + i) * V);
        let best = 0;
        for (let j = 1; j < V; j++) if (last[j]! > last[best]!) best = j;
        // The log-prob of the greedy pick (temperature 1), by a float64 log-softmax of the recomputed row.
        const m = last[best]!;
        const lse = m + Math.log(Array.from(last).reduce((a, x) => a + Math.exp(x - m), 0));
        expect(Math.abs(res.logprobs[0]![i]! - (last[out[i]!]! - lse))).toBeLessThan(2e-4);
        if (best === out[i]) exact++;
        // A different pick is only allowed on a float-level tie.
        else expect(last[best]! - last[out[i]!]!).toBeLessThan(1e-5 * maxAbs(last));
      }
      expect(exact).toBeGreaterThanOrEqual(out.length - 1);
      feats?.dispose();
      disposeWeights(w);
    });
  }
});

describe('several prompts in one decode loop', () => {
  it('prompts of different lengths, with and without images, complete as they do alone (greedy)', async () => {
    const g = gpu();
    const c = nanoConfig();
    const w = randomWeights(g, c, 90, { parts: 'decoder' });
    const r = rng(9);
    const text = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 480));
    const prompts = [
      prompt(c, text(3), [2, 3], text(9)),
      prompt(c, text(11)),
      prompt(c, text(2), [3, 2], text(2)),
    ];
    const feats = prompts.map((p, i) => features(g, c, p, 91 + i));
    const common = { numSamples: 2, maxNewTokens: 7, temperature: 0, seed: 3, stopIds: [], logprobs: true };
    const asPrompt = (p: Prompt, i: number) => ({
      inputIds: p.ids,
      positions: p.positions,
      ropeDelta: p.ropeDelta,
      imageFeatures: feats[i],
    });
    const live = g.pool.snapshot().liveBytes;
    const batch = await generateBatch(g, c, w, { ...common, prompts: prompts.map(asPrompt) });
    expect(g.pool.snapshot().liveBytes).toBe(live);
    expect(batch.ids.length).toBe(6);
    for (let i = 0; i < prompts.length; i++) {
      const alone = await generate(g, c, w, { ...common, ...asPrompt(prompts[i]!, i) });
      for (let j = 0; j < 2; j++) {
        expect(batch.ids[i * 2 + j]).toEqual(alone.ids[j]);
        expectClose(batch.logprobs[i * 2 + j]!, alone.logprobs[j]!, { rtol: 0, atol: 2e-5 });
      }
    }
    for (const f of feats) f?.dispose();
    disposeWeights(w);
  });

  it('sampled rows of a batch are reproducible, and decode-step logits equal recomputation per row', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 92, { parts: 'decoder' });
    const ps = [prompt(c, [1, 5], [2, 2], [7]), prompt(c, [3, 3, 3, 3, 9, 9])];
    const feats = ps.map((p, i) => features(g, c, p, 93 + i));
    const V = c.text.vocabSize;
    const maxS = Math.max(...ps.map((p) => p.ids.length));
    const cache = createKvCache(g, c, 4, maxS + 3);
    for (let b = 0; b < 2; b++) {
      const p = ps[b]!;
      prefill(
        g,
        c,
        w,
        cache,
        { inputIds: p.ids, positions: p.positions, imageFeatures: feats[b] },
        undefined,
        b * 2,
        2,
      ).dispose();
    }
    const fed = [
      [3, 17],
      [40, 2],
      [5, 5],
      [8, 30],
    ];
    for (let i = 0; i < 2; i++) {
      const ids = Int32Array.from(fed.map((f) => f[i]!));
      const positions = [0, 1, 2, 3].map((row) => {
        const p = ps[Math.floor(row / 2)]!;
        return p.ids.length + i + p.ropeDelta;
      });
      const l = decodeStep(g, c, w, cache, ids, positions);
      const got = await g.read(l);
      l.dispose();
      for (let row = 0; row < 4; row++) {
        const b = Math.floor(row / 2);
        const p = ps[b]!;
        const full = await fullLogits(g, c, w, p, fed[row]!.slice(0, i + 1), feats[b]);
        expectClose(got.slice(row * V, (row + 1) * V), full.slice((p.ids.length + i) * V), {
          rtol: 0,
          atol: 1e-4 * maxAbs(full),
        });
      }
    }
    expect(Array.from(cache.lengths)).toEqual(ps.flatMap((p) => [p.ids.length + 2, p.ids.length + 2]));
    disposeKvCache(cache);
    const opts = {
      prompts: ps.map((p, i) => ({
        inputIds: p.ids,
        positions: p.positions,
        ropeDelta: p.ropeDelta,
        imageFeatures: feats[i],
      })),
      numSamples: 3,
      maxNewTokens: 5,
      temperature: 1,
      seed: 77,
      stopIds: [],
    };
    const a = await generateBatch(g, c, w, opts);
    const b2 = await generateBatch(g, c, w, opts);
    expect(b2.ids).toEqual(a.ids);
    expect(new Set(a.ids.map((x) => x.join())).size).toBeGreaterThan(3);
    for (const f of feats) f?.dispose();
    disposeWeights(w);
  });
});

describe('sampling', () => {
  const base = (p: Prompt): GenerateOptions => ({
    inputIds: p.ids,
    positions: p.positions,
    ropeDelta: p.ropeDelta,
    numSamples: 4,
    maxNewTokens: 8,
    temperature: 1,
    seed: 1234,
    stopIds: [],
  });

  it('G samples at temperature 1 with a fixed seed are reproducible and differ from each other', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 80, { parts: 'decoder' });
    const p = prompt(c, [1, 2, 3, 4, 5]);
    const a = await generate(g, c, w, base(p));
    const b = await generate(g, c, w, base(p));
    expect(b.ids).toEqual(a.ids);
    expect(a.ids.every((r) => r.length === 8)).toBe(true);
    expect(a.finished).toEqual([false, false, false, false]);
    expect(new Set(a.ids.map((r) => r.join())).size).toBe(4);
    const other = await generate(g, c, w, { ...base(p), seed: 99 });
    expect(other.ids).not.toEqual(a.ids);
    // top-k 1 is greedy: every sample the same.
    const k1 = await generate(g, c, w, { ...base(p), topK: 1 });
    expect(new Set(k1.ids.map((r) => r.join())).size).toBe(1);
    disposeWeights(w);
  });

  it('stop ids end rows (kept as the last id); other rows run to maxNewTokens', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 81, { parts: 'decoder' });
    const p = prompt(c, [9, 8, 7]);
    const greedy = { ...base(p), temperature: 0, numSamples: 1 };
    const plain = await generate(g, c, w, greedy);
    const seq = plain.ids[0]!;
    const stopId = seq[3]!;
    const cut = seq.indexOf(stopId);
    const stopped = await generate(g, c, w, { ...greedy, stopIds: [stopId] });
    expect(stopped.ids[0]).toEqual(seq.slice(0, cut + 1));
    expect(stopped.finished).toEqual([true]);

    // Many stop ids, sampled rows: each row ends at its first stop id or runs the full length.
    const stops = Array.from({ length: 12 }, (_, i) => 4 * i);
    const many = await generate(g, c, w, { ...base(p), numSamples: 6, maxNewTokens: 10, stopIds: stops });
    for (let r = 0; r < 6; r++) {
      const ids = many.ids[r]!;
      expect(ids.slice(0, -1).some((id) => stops.includes(id))).toBe(false);
      expect(many.finished[r]).toBe(stops.includes(ids.at(-1)!));
      if (!many.finished[r]) expect(ids.length).toBe(10);
    }
    expect(many.finished.some(Boolean)).toBe(true);
    // The default stop ids are the config's eos ids.
    expect(c.tokens.eosTokenIds).toEqual([49]);
    disposeWeights(w);
  });

  it('log-probs equal tokenLogprobs of the recomputed logits under the temperature; hook sees every projection', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 82, { parts: 'decoder' });
    const p = prompt(c, [2], [2, 2], [6, 21]);
    const feats = features(g, c, p, 83);
    const S = p.ids.length;
    const T = 0.7;
    const names = new Set<string>();
    const hook: LinearFn = (gg, name, x, weight, bias) => {
      names.add(name);
      return linear(gg, x, weight, bias);
    };
    const live = g.pool.snapshot().liveBytes;
    const res = await generate(g, c, w, {
      ...base(p),
      imageFeatures: feats,
      numSamples: 4,
      maxNewTokens: 6,
      temperature: T,
      topK: 20,
      topP: 0.95,
      // Rows end at different steps, so the log-probs of live rows only must line up.
      stopIds: [IMAGE, 1, 5, 9, 13, 17, 21, 25, 29, 33],
      logprobs: true,
      linear: hook,
    });
    // Everything generate allocated (cache, logits, pending log-probs) is freed.
    expect(g.pool.snapshot().liveBytes).toBe(live);
    expect(new Set(res.ids.map((r) => r.length)).size).toBeGreaterThan(1);
    expect(names.has('lm_head')).toBe(true);
    expect(names.has('model.layers.1.self_attn.k_proj')).toBe(true);
    expect(names.size).toBe(2 * 7 + 1);
    for (let r = 0; r < 4; r++) {
      const ids = res.ids[r]!;
      expect(res.logprobs[r]!.length).toBe(ids.length);
      const seq = extend(p, ids.slice(0, -1));
      const logits = decoderForward(g, c, w, {
        inputIds: seq.ids,
        positions: seq.positions,
        imageFeatures: feats,
      });
      const targets = new Int32Array(seq.ids.length);
      targets.set(ids, S - 1);
      const lp = tokenLogprobs(g, logits, targets, T);
      const want = Array.from(await g.read(lp)).slice(S - 1);
      expectClose(res.logprobs[r]!, want, { rtol: 0, atol: 2e-4 });
      expect(want.every((x) => x < 0)).toBe(true);
      logits.dispose();
      lp.dispose();
    }
    feats?.dispose();
    disposeWeights(w);
  });
});
