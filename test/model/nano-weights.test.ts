// The committed nano weights (public/nano/model.safetensors): read here with a header parser and a bf16
// decoder written for the test, checked against hand-written shapes and the README's parameter count,
// the init statistics (matrices ~ N(0, 0.02^2), biases 0, norm weights 1), loaded with loadModel onto
// the GPU (same values), and rebuilt twice by scripts/make-nano-weights.ts byte for byte.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { directoryOpener } from '../../src/model/byte-source-node.ts';
import { loadModel } from '../../src/model/load.ts';
import { disposeWeights } from '../../src/model/weights.ts';
import { setupGpu } from '../helpers.ts';

const run = promisify(execFile);
const root = new URL('../../', import.meta.url).pathname;
const nanoDir = join(root, 'public/nano');
const file = join(nanoDir, 'model.safetensors');
const gpu = setupGpu();

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function parse(bytes: Uint8Array) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))) as Record<string, unknown>;
  const { __metadata__: metadata, ...tensors } = header;
  const values = (name: string): Float32Array => {
    const e = tensors[name] as Entry;
    const [a, b] = e.data_offsets;
    const out = new Float32Array((b - a) / 2);
    const u32 = new Uint32Array(out.buffer);
    for (let i = 0; i < out.length; i++) u32[i] = view.getUint16(8 + n + a + 2 * i, true) << 16;
    return out;
  };
  return { metadata, tensors: tensors as Record<string, Entry>, values, dataStart: 8 + n };
}

function meanStd(v: Float32Array) {
  let s = 0;
  for (const x of v) s += x;
  const mean = s / v.length;
  let q = 0;
  for (const x of v) q += (x - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length) };
}

describe('nano weights', () => {
  const bytes = new Uint8Array(readFileSync(file));
  const st = parse(bytes);

  it('holds every tensor in BF16 with the right shapes and the README parameter count', () => {
    expect(st.metadata).toEqual({ format: 'pt' });
    const names = Object.keys(st.tensors);
    // Vision: patch_embed + 2 blocks x (2 LayerNorms w+b, qkv w+b, proj w+b, fc1 w+b, fc2 w+b) + merger 6.
    // Decoder: embed + 4 layers x (2 norms, q/k/v w+b, o w, gate/up/down w) + final norm; tied head.
    expect(names).toHaveLength(1 + 2 * 12 + 6 + 1 + 4 * 12 + 1);
    for (const e of Object.values(st.tensors)) expect(e.dtype).toBe('BF16');
    const shape = (n: string) => st.tensors[n]?.shape;
    expect(shape('visual.patch_embed.proj.weight')).toEqual([64, 3, 2, 14, 14]);
    expect(shape('visual.blocks.1.attn.qkv.weight')).toEqual([192, 64]);
    expect(shape('visual.blocks.1.mlp.fc1.weight')).toEqual([256, 64]);
    expect(shape('visual.blocks.0.norm1.bias')).toEqual([64]);
    expect(shape('visual.merger.ln_q.weight')).toEqual([64]);
    expect(shape('visual.merger.mlp.0.weight')).toEqual([256, 256]);
    expect(shape('visual.merger.mlp.2.weight')).toEqual([128, 256]);
    expect(shape('model.embed_tokens.weight')).toEqual([512, 128]);
    expect(shape('model.layers.3.self_attn.q_proj.weight')).toEqual([128, 128]);
    expect(shape('model.layers.3.self_attn.k_proj.weight')).toEqual([64, 128]);
    expect(shape('model.layers.3.self_attn.v_proj.bias')).toEqual([64]);
    expect(shape('model.layers.3.self_attn.o_proj.bias')).toBeUndefined();
    expect(shape('model.layers.0.mlp.down_proj.weight')).toEqual([128, 384]);
    expect(shape('model.norm.weight')).toEqual([128]);
    expect(shape('lm_head.weight')).toBeUndefined();
    const total = Object.values(st.tensors).reduce((n, e) => n + e.shape.reduce((a, b) => a * b, 1), 0);
    expect(total).toBe(1_128_192);
    expect(bytes.length).toBe(st.dataStart + 2 * total);
  });

  it('is initialised like HF _init_weights: N(0, 0.02^2) matrices, zero biases, unit norms', () => {
    for (const name of [
      'model.embed_tokens.weight',
      'model.layers.2.mlp.up_proj.weight',
      'visual.merger.mlp.0.weight',
    ]) {
      const { mean, std } = meanStd(st.values(name));
      expect(Math.abs(mean), name).toBeLessThan(0.0005);
      expect(std, name).toBeGreaterThan(0.0195);
      expect(std, name).toBeLessThan(0.0205);
    }
    // A normal sample: about 4.6% of |x| beyond 2 sigma, none beyond 6 sigma.
    const v = st.values('model.layers.1.mlp.gate_proj.weight');
    const beyond2 = v.filter((x) => Math.abs(x) > 0.04).length / v.length;
    expect(beyond2).toBeGreaterThan(0.04);
    expect(beyond2).toBeLessThan(0.052);
    expect(v.every((x) => Math.abs(x) < 0.12)).toBe(true);
    // Different tensors are different draws.
    expect(st.values('model.layers.0.mlp.up_proj.weight')).not.toEqual(
      st.values('model.layers.1.mlp.up_proj.weight'),
    );
    for (const [name, e] of Object.entries(st.tensors)) {
      if (e.shape.length !== 1) continue;
      const expected = name.endsWith('.bias') ? 0 : 1;
      expect(
        st.values(name).every((x) => x === expected),
        name,
      ).toBe(true);
    }
  });

  it('loads with loadModel with the same values', async () => {
    const loaded = await loadModel(gpu(), directoryOpener(nanoDir));
    try {
      expect(loaded.weights.size).toBe(Object.keys(st.tensors).length);
      for (const [name, e] of Object.entries(st.tensors))
        expect(loaded.weights.get(name)?.shape, name).toEqual(e.shape);
      for (const name of ['model.layers.0.self_attn.k_proj.weight', 'visual.blocks.0.norm2.weight']) {
        const got = await gpu().read(loaded.weights.get(name)!);
        expect(Float32Array.from(got)).toEqual(st.values(name));
      }
    } finally {
      disposeWeights(loaded.weights);
    }
  });

  it('is rebuilt byte for byte by scripts/make-nano-weights.ts', async () => {
    const dirs = [mkdtempSync(join(tmpdir(), 'nano-w-')), mkdtempSync(join(tmpdir(), 'nano-w-'))];
    try {
      for (const d of dirs)
        await run(process.execPath, ['--import', './bin/register.js', 'scripts/make-nano-weights.ts', d], {
          cwd: root,
        });
      const a = readFileSync(join(dirs[0]!, 'model.safetensors'));
      const b = readFileSync(join(dirs[1]!, 'model.safetensors'));
      expect(a.equals(b)).toBe(true);
      expect(a.equals(Buffer.from(bytes))).toBe(true);
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  }, 30_000);
});
