// The runtime: tensors of every dtype, the buffer pool and scopes, batching hazards, compile errors
// with their file and line, typed errors for misuse and for a lost device, and the profiler.
import { describe, expect, it } from 'vitest';
import {
  DeviceLostError,
  GpuError,
  OutOfMemoryError,
  ShaderCompileError,
  ShapeError,
} from '../../src/gpu/errors.ts';
import { defineKernel, variantSource } from '../../src/gpu/kernel.ts';
import { createNodeGpu } from '../../src/gpu/node.ts';
import { add } from '../../src/gpu/ops/add.ts';
import { matmul } from '../../src/gpu/ops/matmul.ts';
import { scale } from '../../src/gpu/ops/scale.ts';
import { Params } from '../../src/gpu/params.ts';
import { sizeClass } from '../../src/gpu/pool.ts';
import type { Tensor } from '../../src/gpu/tensor.ts';
import brokenCode from '../fixtures/broken.wgsl?raw';
import { randomArray, setupGpu } from '../helpers.ts';
import { roundToHalf } from '../reference/half.ts';

const gpu = setupGpu();

describe('tensors', () => {
  it('round-trips every dtype', async () => {
    const f = randomArray(1000, 1, 100);
    const i = Int32Array.from({ length: 7 }, (_, k) => (k - 3) * 1_000_000_007);
    const u = Uint32Array.from({ length: 129 }, (_, k) => (k * 2654435761) >>> 0);
    const h = [
      0,
      1,
      -2.5,
      65504,
      70000,
      1e-7,
      6e-8,
      -0.1,
      1 / 3,
      Number.NEGATIVE_INFINITY,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
    ];
    const tf = gpu().tensor(f, [10, 100]);
    const ti = gpu().tensor(i, [7], 'i32');
    const tu = gpu().tensor(u, [129], 'u32');
    const th = gpu().tensor(h, [h.length], 'f16');
    expect(await gpu().read(tf)).toEqual(f);
    expect(await gpu().read(ti)).toEqual(i);
    expect(await gpu().read(tu)).toEqual(u);
    expect(Array.from(await gpu().read(th))).toEqual(h.map(roundToHalf));
    for (const t of [tf, ti, tu, th]) t.dispose();
  });

  it('rejects data that does not fill the shape', () => {
    expect(() => gpu().tensor([1, 2, 3], [2, 2])).toThrow(ShapeError);
  });

  it('zeros a reused buffer', async () => {
    const t = gpu().tensor(randomArray(300, 2), [300]);
    t.dispose();
    const z = gpu().zeros([300]);
    expect(Array.from(await gpu().read(z)).every((x) => x === 0)).toBe(true);
    z.dispose();
  });

  it('throws a typed error on use after dispose', () => {
    const t = gpu().tensor([1, 2], [2]);
    t.dispose();
    expect(() => scale(gpu(), t, 2)).toThrow(GpuError);
  });
});

describe('buffer pool and scopes', () => {
  it('rounds sizes to classes within a quarter', () => {
    expect(sizeClass(1)).toBe(256);
    expect(sizeClass(3000)).toBe(4096);
    expect(sizeClass(4097)).toBe(5120);
    for (const n of [5000, 123457, 9_999_999]) {
      expect(sizeClass(n)).toBeGreaterThanOrEqual(n);
      expect(sizeClass(n)).toBeLessThanOrEqual(n * 1.25);
    }
  });

  it('reuses released buffers instead of allocating', () => {
    const before = gpu().pool.snapshot();
    for (let i = 0; i < 20; i++) gpu().empty([1000]).dispose();
    const after = gpu().pool.snapshot();
    expect(after.created - before.created).toBeLessThanOrEqual(1);
    expect(after.liveBytes).toBe(before.liveBytes);
  });

  it('disposes what a scope created, except what it returns or keeps', async () => {
    const live = gpu().pool.snapshot().liveBytes;
    let temp: Tensor | undefined;
    let kept: Tensor | undefined;
    const result = gpu().scope(() => {
      const a = gpu().tensor([1, 2, 3], [3]);
      temp = scale(gpu(), a, 2);
      kept = gpu().keep(gpu().tensor([4], [1]));
      return { out: add(gpu(), temp, a) };
    });
    expect(temp?.isDisposed).toBe(true);
    expect(kept?.isDisposed).toBe(false);
    expect(Array.from(await gpu().read(result.out))).toEqual([3, 6, 9]);
    result.out.dispose();
    kept?.dispose();
    expect(gpu().pool.snapshot().liveBytes).toBe(live);
  });

  it('releases everything a throwing scope created', () => {
    const live = gpu().pool.snapshot().liveBytes;
    expect(() =>
      gpu().scope(() => {
        gpu().tensor([1, 2, 3], [3]);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(gpu().pool.snapshot().liveBytes).toBe(live);
  });

  it('keeps uploads away from buffers that recorded work still reads', async () => {
    // x is consumed by a recorded (unsubmitted) dispatch and released; a new upload of the same size
    // must not receive x's buffer, or queue.writeBuffer would overwrite x before the dispatch runs.
    const x = gpu().tensor([1, 2, 3, 4], [4]);
    const y = scale(gpu(), x, 10);
    x.dispose();
    const z = gpu().tensor([100, 200, 300, 400], [4]);
    expect(Array.from(await gpu().read(y))).toEqual([10, 20, 30, 40]);
    expect(Array.from(await gpu().read(z))).toEqual([100, 200, 300, 400]);
    y.dispose();
    z.dispose();
  });

  it('write() lets earlier recorded work see the old values', async () => {
    const x = gpu().tensor([1, 1], [2]);
    const y = scale(gpu(), x, 3);
    gpu().write(x, [5, 5]);
    const z = scale(gpu(), x, 3);
    expect(Array.from(await gpu().read(y))).toEqual([3, 3]);
    expect(Array.from(await gpu().read(z))).toEqual([15, 15]);
    for (const t of [x, y, z]) t.dispose();
  });

  it('batches many dispatches into few submits with correct ordering', async () => {
    let x = gpu().tensor([1], [1]);
    for (let i = 0; i < 3000; i++) {
      const next = add(gpu(), x, x);
      x.dispose();
      x = gpu().scope(() => scale(gpu(), next, 0.5));
      next.dispose();
    }
    expect(Array.from(await gpu().read(x))).toEqual([1]);
    x.dispose();
  });
});

describe('errors', () => {
  it('reports a WGSL compile error with the kernel file and line', async () => {
    const broken = defineKernel('broken', brokenCode);
    const err = await gpu()
      .kernels.compile(broken)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ShaderCompileError);
    const e = err as ShaderCompileError;
    expect(e.file).toBe('kernels/broken.wgsl');
    expect(e.line).toBe(12);
    expect(e.message).toMatch(/^kernels\/broken\.wgsl:12:/);
    // The f16 variant has a longer prelude: the line must still be the file's own.
    if (gpu().hasF16) {
      const e16 = await gpu()
        .kernels.compile(broken, { f16: true })
        .catch((x: unknown) => x);
      expect((e16 as ShaderCompileError).line).toBe(12);
    }
  });

  it('surfaces a compile error of a dispatched kernel at the next readback', async () => {
    const broken = defineKernel('broken2', brokenCode);
    const out = gpu().empty([64]);
    gpu().dispatch({
      kernel: broken,
      params: new Params().u32(64).bytes(),
      bindings: [out],
      workgroups: [1],
    });
    await expect(gpu().read(out)).rejects.toBeInstanceOf(ShaderCompileError);
    // Using the broken kernel again fails at once with the same error, not with a cascade.
    expect(() =>
      gpu().dispatch({
        kernel: broken,
        params: new Params().u32(64).bytes(),
        bindings: [out],
        workgroups: [1],
      }),
    ).toThrow(ShaderCompileError);
    out.dispose();
    // The runtime goes on working after the error.
    const ok = gpu().scope(() => scale(gpu(), gpu().tensor([2], [1]), 2));
    expect(Array.from(await gpu().read(ok))).toEqual([4]);
    ok.dispose();
  });

  it('refuses an allocation over the device maximum with OutOfMemoryError', () => {
    const max = gpu().device.limits.maxBufferSize;
    expect(() => gpu().empty([Math.ceil(max / 4) + 1024])).toThrow(OutOfMemoryError);
  });

  it('refuses shape mismatches with ShapeError', () => {
    gpu().scope(() => {
      const a = gpu().tensor([1, 2, 3, 4, 5, 6], [2, 3]);
      expect(() => matmul(gpu(), a, a)).toThrow(ShapeError);
      expect(() => add(gpu(), a, gpu().tensor([1, 2], [2]))).toThrow(ShapeError);
    });
  });

  it('turns a lost device into DeviceLostError', async () => {
    const g = await createNodeGpu({ announce: false });
    const t = g.tensor([1, 2], [2]);
    g.device.destroy();
    expect(await g.lostReason()).toBe('destroyed');
    expect(() => scale(g, t, 2)).toThrow(DeviceLostError);
    expect(() => g.tensor([1], [1])).toThrow(DeviceLostError);
    g.destroy();
  });
});

describe('profiler', () => {
  it('times each kernel with timestamp queries', async () => {
    const g = await createNodeGpu({ announce: false, profile: true });
    try {
      const a = g.tensor(randomArray(64 * 64, 3), [64, 64]);
      for (let i = 0; i < 3; i++) matmul(g, a, a).dispose();
      scale(g, a, 2).dispose();
      await g.sync();
      const report = await g.profiler!.report();
      const mm = report.find((r) => r.kernel.startsWith('matmul'));
      expect(mm?.calls).toBe(3);
      expect(mm?.totalMs).toBeGreaterThan(0);
      expect(report.find((r) => r.kernel === 'scale')?.calls).toBe(1);
      a.dispose();
    } finally {
      g.destroy();
    }
  });
});

describe('kernel sources', () => {
  it('moves enable directives in front of the prelude and keeps line numbers', () => {
    const code = '// header\nenable subgroups;\nstruct P { n: u32 }\n';
    for (const f16 of [false, true]) {
      const { source, headLines } = variantSource(code, f16);
      const lines = source.split('\n');
      expect(lines.slice(0, headLines).filter((l) => l.startsWith('enable'))).toEqual(
        f16 ? ['enable f16;', 'enable subgroups;'] : ['enable subgroups;'],
      );
      expect(lines[headLines - 1]).toBe(`alias WT = ${f16 ? 'f16' : 'f32'};`);
      // Line 3 of the file is line 3 after the head.
      expect(lines[headLines + 2]).toBe('struct P { n: u32 }');
      expect(lines[headLines + 1]).toBe('');
    }
  });

  it('moves diagnostic directives in front too, after the enables', () => {
    const code = 'enable subgroups;\n// why\ndiagnostic(off, subgroup_uniformity);\nstruct P { n: u32 }\n';
    const { source, headLines } = variantSource(code, false);
    const lines = source.split('\n');
    expect(lines.slice(0, headLines)).toEqual([
      'enable subgroups;',
      'diagnostic(off, subgroup_uniformity);',
      'alias WT = f32;',
    ]);
    expect(lines[headLines + 2]).toBe('');
    expect(lines[headLines + 3]).toBe('struct P { n: u32 }');
  });
});
