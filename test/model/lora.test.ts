// LoRA adapters on the decoder: off == base exactly; one adapted projection against a float64
// x.W^T + b + s * (x.A^T).B^T; the whole decoder with nonzero B against the float64 reference decoder run
// on merged weights W + s B A (an independent formulation), with gradients reaching only A and B and
// matching the reference autodiff and finite differences; dropout reproducibility and eval mode;
// merge / unmerge; PEFT export layout (names and config written here from PEFT's documented layout) and
// import round trip; full fine-tuning marking.
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../src/gpu/autograd.ts';
import type { Gpu } from '../../src/gpu/context.ts';
import { linear } from '../../src/gpu/ops/linear.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import { decoderForward } from '../../src/model/decoder.ts';
import { LoraError } from '../../src/model/errors.ts';
import {
  createLora,
  dropoutMask,
  freezeWeights,
  importPeft,
  type Lora,
  trainableWeights,
} from '../../src/model/lora.ts';
import { type TensorToWrite, writeSafetensors } from '../../src/model/safetensors-write.ts';
import { disposeWeights, randomWeights, type Weights } from '../../src/model/weights.ts';
import { expectClose, randomArray, rng, setupGpu } from '../helpers.ts';
import * as R from '../reference/f64grad.ts';
import { refDecoderForward, weightedSum } from '../reference/qwen2-decoder.ts';
import { tinyConfig } from './test-configs.ts';
import { decoderRefConfig } from './vl-reference.ts';

const gpu = setupGpu();

const IDS = Int32Array.from([1, 7, 3, 3, 12, 40, 2, 9, 0]);
const POS = Int32Array.from(IDS, (_, i) => i);
const INPUT = { inputIds: IDS, positions: [POS, POS, POS] as [Int32Array, Int32Array, Int32Array] };

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 1e-12);

/** s * x, float64. */
function scaleV(x: R.V, s: number): R.V {
  return new R.V(
    x.data.map((v) => v * s),
    x.shape,
    [x],
    (self) => {
      for (let i = 0; i < x.size; i++) x.grad[i]! += s * self.grad[i]!;
    },
  );
}

/** W + s * B A (W [out, in], A [r, in], B [out, r]), float64, differentiable in W, A and B. */
function mergedV(w: R.V, a: R.V, b: R.V, s: number): R.V {
  const [O, I] = w.shape as [number, number];
  const r = a.shape[0]!;
  const y = Float64Array.from(w.data);
  for (let o = 0; o < O; o++)
    for (let i = 0; i < I; i++) {
      let d = 0;
      for (let k = 0; k < r; k++) d += b.data[o * r + k]! * a.data[k * I + i]!;
      y[o * I + i]! += s * d;
    }
  return new R.V(y, [O, I], [w, a, b], (self) => {
    for (let o = 0; o < O; o++)
      for (let i = 0; i < I; i++) {
        const g = self.grad[o * I + i]!;
        w.grad[o * I + i]! += g;
        for (let k = 0; k < r; k++) {
          a.grad[k * I + i]! += s * g * b.data[o * r + k]!;
          b.grad[o * r + k]! += s * g * a.data[k * I + i]!;
        }
      }
  });
}

/** Gives every B random values (B starts at zero, which would hide the adapter path). */
function randomizeB(g: Gpu, lora: Lora, seed: number): void {
  let s = seed;
  for (const ad of lora.adapters.values()) g.write(ad.B, randomArray(ad.B.size, s++, 0.5));
}

async function refWeights(g: Gpu, w: Weights): Promise<Record<string, R.V>> {
  const out: Record<string, R.V> = {};
  for (const [name, t] of w) out[name] = R.leaf(await g.read(t), [...t.shape]);
  return out;
}

async function readAll(g: Gpu, t: Tensor): Promise<number[]> {
  return Array.from(await g.read(t));
}

describe('LoRA adapters: creation and switching off', () => {
  it('creates A (kaiming-uniform, bound 1/sqrt(in)) and B (zeros) for every decoder target only', async () => {
    const g = gpu();
    const c = tinyConfig(false);
    const lora = createLora(g, c, { r: 4, alpha: 8, seed: 1 });
    const names = [...lora.adapters.keys()];
    expect(names).toHaveLength(2 * 7);
    expect(names).toContain('model.layers.1.self_attn.q_proj');
    expect(names).toContain('model.layers.0.mlp.down_proj');
    expect(names.some((n) => n.startsWith('visual.') || n === 'lm_head')).toBe(false);
    expect(lora.scaling).toBe(2);
    const down = lora.adapters.get('model.layers.0.mlp.down_proj')!;
    expect(down.A.shape).toEqual([4, 48]);
    expect(down.B.shape).toEqual([32, 4]);
    const a = await readAll(g, down.A);
    const bound = 1 / Math.sqrt(48);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(bound);
    const std = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(std).toBeGreaterThan(0.75 * (bound / Math.sqrt(3)));
    expect(std).toBeLessThan(1.25 * (bound / Math.sqrt(3)));
    expect((await readAll(g, down.B)).every((v) => v === 0)).toBe(true);
    // Vision-only module names match no decoder module: the tower is never adapted.
    expect(() => createLora(g, c, { r: 2, alpha: 2, targetModules: ['qkv', 'fc1'] })).toThrow(LoraError);
    expect(() => createLora(g, c, { r: 0, alpha: 2 })).toThrow(LoraError);
    lora.dispose();
  });

  it('LoRA off gives exactly the base decoder; on with B = 0 too; on with B != 0 differs', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 3, { parts: 'decoder' });
    const lora = createLora(g, c, { r: 4, alpha: 16, seed: 2 });
    const base = await readAll(g, decoderForward(g, c, w, INPUT));
    const zeroB = await readAll(g, decoderForward(g, c, w, INPUT, { linear: lora.linear }));
    expect(zeroB).toEqual(base);
    randomizeB(g, lora, 10);
    const on = await readAll(g, decoderForward(g, c, w, INPUT, { linear: lora.linear }));
    expect(maxAbs(on.map((v, i) => v - base[i]!))).toBeGreaterThan(1e-2);
    lora.enabled = false;
    const off = await readAll(g, decoderForward(g, c, w, INPUT, { linear: lora.linear }));
    expect(off).toEqual(base);
    lora.dispose();
    disposeWeights(w);
  });
});

describe('LoRA forward and gradients against float64 references', () => {
  it('one projection: x W^T + b + (alpha / r) (x A^T) B^T', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 4, { parts: 'decoder' });
    const lora = createLora(g, c, { r: 3, alpha: 5, seed: 3, targetModules: ['q_proj'] });
    randomizeB(g, lora, 20);
    const name = 'model.layers.1.self_attn.q_proj';
    const x = randomArray(7 * 32, 5);
    const xt = g.tensor(x, [7, 32]);
    const W = w.get(`${name}.weight`)!;
    const b = w.get(`${name}.bias`)!;
    const got = await readAll(g, lora.linear(g, name, xt, W, b));
    const ad = lora.adapters.get(name)!;
    const [rx, rW, rb, rA, rB] = await Promise.all(
      [xt, W, b, ad.A, ad.B].map(async (t) => R.leaf(await g.read(t), [...t.shape])),
    );
    const want = R.add(R.linear(rx!, rW!, rb), scaleV(R.linear(R.linear(rx!, rA!), rB!), 5 / 3));
    expectClose(got, want.data, { rtol: 0, atol: 1e-5 * maxAbs(want.data) });
    // A module without an adapter is the plain projection.
    const vName = 'model.layers.1.self_attn.v_proj';
    const plain = lora.linear(g, vName, xt, w.get(`${vName}.weight`)!, w.get(`${vName}.bias`));
    expect(await readAll(g, plain)).toEqual(
      await readAll(g, linear(g, xt, w.get(`${vName}.weight`)!, w.get(`${vName}.bias`))),
    );
    lora.dispose();
    disposeWeights(w);
  });

  for (const tied of [true, false]) {
    it(`whole decoder (${tied ? 'tied' : 'untied'}): logits and gradients reach only A and B`, async () => {
      const g = gpu();
      const c = tinyConfig(tied);
      const w = randomWeights(g, c, 6 + Number(tied), { parts: 'decoder' });
      const lora = createLora(g, c, { r: 2, alpha: 4, seed: 4, dropout: 0.1, training: false });
      randomizeB(g, lora, 30);
      const upstream = randomArray(IDS.length * c.text.vocabSize, 8);
      const tape = new Tape(g);
      const logits = tape.run(() => decoderForward(g, c, w, INPUT, { linear: lora.linear }));
      const seedT = g.tensor(upstream, logits.shape);
      const grads = tape.backward(logits, seedT);
      // Only the adapters get gradients; the base weights are frozen.
      expect(grads.size).toBe(2 * lora.adapters.size);
      for (const t of w.values()) expect(grads.has(t)).toBe(false);

      const rw = await refWeights(g, w);
      const leaves: [string, Tensor, R.V][] = [];
      const merged: Record<string, R.V> = { ...rw };
      for (const ad of lora.adapters.values()) {
        const rA = R.leaf(await g.read(ad.A), [...ad.A.shape]);
        const rB = R.leaf(await g.read(ad.B), [...ad.B.shape]);
        leaves.push([`${ad.module}.A`, ad.A, rA], [`${ad.module}.B`, ad.B, rB]);
        merged[`${ad.module}.weight`] = mergedV(rw[`${ad.module}.weight`]!, rA, rB, lora.scaling);
      }
      const cfg = decoderRefConfig(c);
      const refIn = { ids: IDS, positions: INPUT.positions };
      const run = () => {
        for (const ad of lora.adapters.values()) {
          const a = leaves.find(([n]) => n === `${ad.module}.A`)![2];
          const b = leaves.find(([n]) => n === `${ad.module}.B`)![2];
          merged[`${ad.module}.weight`] = mergedV(rw[`${ad.module}.weight`]!, a, b, lora.scaling);
        }
        return refDecoderForward(cfg, merged, refIn);
      };
      const refLogits = run();
      const got = await g.read(logits);
      expectClose(got, refLogits.data, { rtol: 0, atol: 1e-4 * maxAbs(refLogits.data) });
      R.backward(weightedSum(refLogits, upstream));

      const pick = rng(9);
      for (const [name, t, ref] of leaves) {
        const gt = grads.get(t);
        expect(gt, `${name} has a gradient`).toBeDefined();
        const gg = await g.read(gt!);
        const sc = maxAbs(ref.grad);
        expectClose(gg, ref.grad, { rtol: 0, atol: 2e-3 * sc });
        if (!/layers\.(0\.self_attn\.q_proj|1\.mlp\.down_proj)/.test(name)) continue;
        for (let n = 0; n < 2; n++) {
          const i = Math.floor(pick() * ref.size);
          const orig = ref.data[i]!;
          const h = 1e-5;
          ref.data[i] = orig + h;
          const up = weightedSum(run(), upstream).data[0]!;
          ref.data[i] = orig - h;
          const down = weightedSum(run(), upstream).data[0]!;
          ref.data[i] = orig;
          const fd = (up - down) / (2 * h);
          expect(Math.abs(fd - ref.grad[i]!), `${name}[${i}] reference vs fd`).toBeLessThan(1e-6 * sc + 1e-7);
          expect(Math.abs(fd - gg[i]!), `${name}[${i}] gpu vs fd`).toBeLessThan(2e-3 * sc);
        }
      }
      for (const t of grads.values()) t.dispose();
      tape.dispose();
      logits.dispose();
      seedT.dispose();
      lora.dispose();
      disposeWeights(w);
    });
  }
});

describe('LoRA dropout', () => {
  it('masks are seeded, have the right rate and scale, and are used by the adapter path', async () => {
    const p = 0.3;
    const m = dropoutMask(7, 0, 20000, p);
    expect(Array.from(dropoutMask(7, 0, 50, p))).toEqual(Array.from(m.slice(0, 50)));
    expect(Array.from(dropoutMask(7, 1, 50, p))).not.toEqual(Array.from(m.slice(0, 50)));
    const zeros = m.filter((v) => v === 0).length / m.length;
    expect(Math.abs(zeros - p)).toBeLessThan(0.02);
    expect(m.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-6)).toBe(true);

    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 11, { parts: 'decoder' });
    const name = 'model.layers.0.mlp.up_proj';
    const x = randomArray(5 * 32, 12);
    const xt = g.tensor(x, [5, 32]);
    const W = w.get(`${name}.weight`)!;
    const make = (seed: number) => {
      const l = createLora(g, c, { r: 4, alpha: 4, dropout: p, seed, targetModules: ['up_proj'] });
      randomizeB(g, l, 40);
      return l;
    };
    const a = make(5);
    const b = make(5);
    const other = make(6);
    const first = await readAll(g, a.linear(g, name, xt, W));
    expect(await readAll(g, b.linear(g, name, xt, W))).toEqual(first);
    // Reference for the first application: base + s * ((x * mask) A^T) B^T with the call-0 mask.
    const ad = a.adapters.get(name)!;
    const rA = R.leaf(await g.read(ad.A), [...ad.A.shape]);
    const rB = R.leaf(await g.read(ad.B), [...ad.B.shape]);
    const rW = R.leaf(await g.read(W), [...W.shape]);
    const mask = dropoutMask(5, 0, x.length, p);
    const xm = R.leaf(
      Array.from(x, (v, i) => v * mask[i]!),
      [5, 32],
    );
    const want = R.add(R.linear(R.leaf(x, [5, 32]), rW), scaleV(R.linear(R.linear(xm, rA), rB), 1));
    expectClose(first, want.data, { rtol: 0, atol: 1e-5 * maxAbs(want.data) });
    // The next application draws a new mask; resetDropout replays the sequence.
    expect(await readAll(g, a.linear(g, name, xt, W))).not.toEqual(first);
    a.resetDropout();
    expect(await readAll(g, a.linear(g, name, xt, W))).toEqual(first);
    // Eval mode: no dropout, the same as a dropout-free reference.
    a.training = false;
    const evalOut = await readAll(g, a.linear(g, name, xt, W));
    const wantEval = R.add(R.linear(R.leaf(x, [5, 32]), rW), R.linear(R.linear(R.leaf(x, [5, 32]), rA), rB));
    expectClose(evalOut, wantEval.data, { rtol: 0, atol: 1e-5 * maxAbs(wantEval.data) });
    expect(await readAll(g, a.linear(g, name, xt, W))).toEqual(evalOut);
    // The A init also follows the seed.
    expect(await readAll(g, other.adapters.get(name)!.A)).not.toEqual(await readAll(g, ad.A));
    expect(await readAll(g, b.adapters.get(name)!.A)).toEqual(await readAll(g, ad.A));
    for (const l of [a, b, other]) l.dispose();
    disposeWeights(w);
  });
});

describe('LoRA merge', () => {
  it('merged forward == adapter forward; unmerge restores the weights', async () => {
    const g = gpu();
    const c = tinyConfig(false);
    const w = randomWeights(g, c, 13, { parts: 'decoder' });
    const before = new Map<string, number[]>();
    for (const [n, t] of w) before.set(n, await readAll(g, t));
    const lora = createLora(g, c, { r: 4, alpha: 8, seed: 14, training: false });
    randomizeB(g, lora, 50);
    const adapter = await readAll(g, decoderForward(g, c, w, INPUT, { linear: lora.linear }));
    lora.merge(w);
    expect(lora.merged).toBe(true);
    // Weight = W + s B A, checked on one module against a float64 product.
    const ad = lora.adapters.get('model.layers.0.self_attn.o_proj')!;
    const mergedRef = mergedV(
      R.leaf(before.get('model.layers.0.self_attn.o_proj.weight')!, [32, 32]),
      R.leaf(await g.read(ad.A), [4, 32]),
      R.leaf(await g.read(ad.B), [32, 4]),
      2,
    );
    expectClose(await readAll(g, w.get('model.layers.0.self_attn.o_proj.weight')!), mergedRef.data, {
      rtol: 1e-6,
      atol: 1e-6,
    });
    const plain = await readAll(g, decoderForward(g, c, w, INPUT));
    const viaHook = await readAll(g, decoderForward(g, c, w, INPUT, { linear: lora.linear }));
    expectClose(plain, adapter, { rtol: 0, atol: 1e-5 * maxAbs(adapter) });
    expect(viaHook).toEqual(plain);
    lora.enabled = false;
    expect(() => decoderForward(g, c, w, INPUT, { linear: lora.linear })).toThrow(LoraError);
    lora.enabled = true;
    expect(() => lora.merge(w)).toThrow(LoraError);
    lora.unmerge(w);
    for (const [n, t] of w) expectClose(await readAll(g, t), before.get(n)!, { rtol: 1e-6, atol: 1e-6 });
    expect(() => lora.unmerge(w)).toThrow(LoraError);
    lora.dispose();
    disposeWeights(w);
  });
});

/** The safetensors header, parsed by hand from the format's definition (u64 length + JSON). */
function header(
  bytes: Uint8Array,
): Record<string, { dtype: string; shape: number[]; data_offsets: number[] }> {
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const json = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
  delete json.__metadata__;
  return json;
}

describe('PEFT adapter export and import', () => {
  it('writes PEFT names, shapes and config, and loads back', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 15, { parts: 'decoder' });
    const lora = createLora(g, c, {
      r: 4,
      alpha: 16,
      dropout: 0.05,
      seed: 16,
      targetModules: ['q_proj', 'v_proj', 'down_proj'],
    });
    randomizeB(g, lora, 60);
    const files = await lora.exportPeft({ baseModelNameOrPath: 'Qwen/Qwen2-VL-2B-Instruct' });
    const cfg = files['adapter_config.json'];
    expect(cfg).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      r: 4,
      lora_alpha: 16,
      lora_dropout: 0.05,
      bias: 'none',
      base_model_name_or_path: 'Qwen/Qwen2-VL-2B-Instruct',
      use_rslora: false,
      use_dora: false,
    });
    // PEFT matches target_modules against whole module names of current transformers: the list becomes
    // a regex that keeps to the decoder's layers (a vision block's mlp.down_proj must not match).
    const re = new RegExp(`^(?:${cfg.target_modules as string})$`);
    for (const m of ['model.language_model.layers.0.self_attn.q_proj', 'model.layers.7.mlp.down_proj'])
      expect(re.test(m), m).toBe(true);
    for (const m of ['model.visual.blocks.0.mlp.down_proj', 'model.language_model.layers.0.self_attn.k_proj'])
      expect(re.test(m), m).toBe(false);
    const h = header(files['adapter_model.safetensors']);
    const expected: Record<string, number[]> = {};
    for (const l of [0, 1]) {
      const p = `base_model.model.model.language_model.layers.${l}.`;
      expected[`${p}self_attn.q_proj.lora_A.weight`] = [4, 32];
      expected[`${p}self_attn.q_proj.lora_B.weight`] = [32, 4];
      expected[`${p}self_attn.v_proj.lora_A.weight`] = [4, 32];
      expected[`${p}self_attn.v_proj.lora_B.weight`] = [16, 4];
      expected[`${p}mlp.down_proj.lora_A.weight`] = [4, 48];
      expected[`${p}mlp.down_proj.lora_B.weight`] = [32, 4];
    }
    expect(Object.keys(h).sort()).toEqual(Object.keys(expected).sort());
    for (const [n, shape] of Object.entries(expected)) {
      expect(h[n]!.shape, n).toEqual(shape);
      expect(h[n]!.dtype).toBe('F32');
    }
    // The B bytes in the file are the adapter's values.
    const qB = h['base_model.model.model.language_model.layers.1.self_attn.q_proj.lora_B.weight']!;
    const n = Number(new DataView(files['adapter_model.safetensors'].buffer).getBigUint64(0, true));
    const data = files['adapter_model.safetensors'].slice(
      8 + n + qB.data_offsets[0]!,
      8 + n + qB.data_offsets[1]!,
    );
    expect(Array.from(new Float32Array(data.buffer))).toEqual(
      await readAll(g, lora.adapters.get('model.layers.1.self_attn.q_proj')!.B),
    );

    const back = await importPeft(g, c, {
      'adapter_config.json': JSON.stringify(cfg),
      'adapter_model.safetensors': files['adapter_model.safetensors'],
    });
    expect(back.r).toBe(4);
    expect(back.scaling).toBe(4);
    expect(back.training).toBe(false);
    for (const [mod, ad] of lora.adapters) {
      const other = back.adapters.get(mod)!;
      expect(await readAll(g, other.A)).toEqual(await readAll(g, ad.A));
      expect(await readAll(g, other.B)).toEqual(await readAll(g, ad.B));
    }
    lora.training = false;
    expect(await readAll(g, decoderForward(g, c, w, INPUT, { linear: back.linear }))).toEqual(
      await readAll(g, decoderForward(g, c, w, INPUT, { linear: lora.linear })),
    );
    back.dispose();

    // A config for another rank, or a non-LoRA adapter, is refused with a typed error.
    await expect(
      importPeft(g, c, {
        'adapter_config.json': { ...cfg, r: 8 },
        'adapter_model.safetensors': files['adapter_model.safetensors'],
      }),
    ).rejects.toThrow(LoraError);
    await expect(
      importPeft(g, c, {
        'adapter_config.json': { ...cfg, peft_type: 'IA3' },
        'adapter_model.safetensors': files['adapter_model.safetensors'],
      }),
    ).rejects.toThrow(/peft_type/);
    await expect(
      importPeft(g, c, {
        'adapter_config.json': { ...cfg, target_modules: ['q_proj'] },
        'adapter_model.safetensors': files['adapter_model.safetensors'],
      }),
    ).rejects.toThrow(/match no adapted module/);
    lora.dispose();
    disposeWeights(w);
  });

  it('reads the newer transformers naming (model.language_model.layers) and refuses missing tensors', async () => {
    const g = gpu();
    const c = tinyConfig();
    const cfg = { peft_type: 'LORA', r: 2, lora_alpha: 3, target_modules: ['o_proj'], bias: 'none' };
    const values = (n: number, seed: number) => randomArray(n, seed);
    const tensors: TensorToWrite[] = [0, 1].flatMap((l) => [
      {
        name: `base_model.model.model.language_model.layers.${l}.self_attn.o_proj.lora_A.weight`,
        dtype: 'BF16' as const,
        shape: [2, 32],
        data: values(64, 70 + l),
      },
      {
        name: `base_model.model.model.language_model.layers.${l}.self_attn.o_proj.lora_B.weight`,
        dtype: 'F32' as const,
        shape: [32, 2],
        data: values(64, 80 + l),
      },
    ]);
    const lora = await importPeft(g, c, {
      'adapter_config.json': cfg,
      'adapter_model.safetensors': writeSafetensors(tensors),
    });
    expect([...lora.adapters.keys()]).toEqual([
      'model.layers.0.self_attn.o_proj',
      'model.layers.1.self_attn.o_proj',
    ]);
    expect(lora.scaling).toBe(1.5);
    expect(await readAll(g, lora.adapters.get('model.layers.1.self_attn.o_proj')!.B)).toEqual(
      Array.from(values(64, 81)),
    );
    lora.dispose();
    await expect(
      importPeft(g, c, {
        'adapter_config.json': cfg,
        'adapter_model.safetensors': writeSafetensors(tensors.slice(0, 3)),
      }),
    ).rejects.toThrow(/lacks 1 tensors/);
  });
});

describe('full fine-tuning', () => {
  it('trainableWeights gives the chosen base weights gradients, and only those', async () => {
    const g = gpu();
    const c = tinyConfig();
    const w = randomWeights(g, c, 17, { parts: 'decoder' });
    const chosen = trainableWeights(w, (n) => n.includes('.mlp.') || n === 'model.norm.weight');
    expect(chosen.size).toBe(2 * 3 + 1);
    const tape = new Tape(g);
    const logits = tape.run(() => decoderForward(g, c, w, INPUT));
    const seedT = g.tensor(randomArray(logits.size, 18), logits.shape);
    const grads = tape.backward(logits, seedT);
    expect(new Set(grads.keys())).toEqual(new Set(chosen.values()));
    for (const t of grads.values()) {
      expect(maxAbs(await g.read(t))).toBeGreaterThan(0);
      t.dispose();
    }
    tape.dispose();
    freezeWeights(w);
    const tape2 = new Tape(g);
    const again = tape2.run(() => decoderForward(g, c, w, INPUT));
    expect(tape2.size).toBe(0);
    tape2.dispose();
    for (const t of [logits, seedT, again]) t.dispose();
    markTrainable(w.get('model.norm.weight')!, false);
    disposeWeights(w);
  });
});
