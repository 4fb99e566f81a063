// Safetensors io: hand-built files read back, writer round trips, bf16 / f16 conversions on
// hand-derived bit patterns, sharded checkpoints from disk and from Blobs, every error path, HF name
// layouts, and that reading one tensor reads only its bytes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ByteSource, blobSource, bytesSource, filesOpener } from '../../src/model/byte-source.ts';
import { directoryOpener, fileSource } from '../../src/model/byte-source-node.ts';
import { type Checkpoint, matchTensors, openCheckpoint } from '../../src/model/checkpoint.ts';
import { CheckpointError, SafetensorsError, TensorMismatchError } from '../../src/model/errors.ts';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from '../../src/model/half.ts';
import { canonicalName } from '../../src/model/hf-names.ts';
import { openSafetensors, toF32 } from '../../src/model/safetensors.ts';
import { writeSafetensorsFile } from '../../src/model/safetensors-node.ts';
import { writeSafetensors } from '../../src/model/safetensors-write.ts';

// ---- An independent, minimal file builder: header JSON as given, data as given. ----

function build(
  header: Record<string, unknown>,
  data: Uint8Array,
  headerLength?: number,
): Uint8Array<ArrayBuffer> {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, headerLength ?? json.length, true);
  dv.setUint32(4, 0, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Little-endian bytes written field by field with DataView. */
class Bytes {
  private readonly parts: number[] = [];
  private put(n: number, write: (dv: DataView) => void): this {
    const b = new Uint8Array(n);
    write(new DataView(b.buffer));
    this.parts.push(...b);
    return this;
  }
  f32(...v: number[]) {
    for (const x of v) this.put(4, (dv) => dv.setFloat32(0, x, true));
    return this;
  }
  u16(...v: number[]) {
    for (const x of v) this.put(2, (dv) => dv.setUint16(0, x, true));
    return this;
  }
  i32(...v: number[]) {
    for (const x of v) this.put(4, (dv) => dv.setInt32(0, x, true));
    return this;
  }
  i64(...v: bigint[]) {
    for (const x of v) this.put(8, (dv) => dv.setBigInt64(0, x, true));
    return this;
  }
  u8(...v: number[]) {
    this.parts.push(...v);
    return this;
  }
  get length() {
    return this.parts.length;
  }
  done() {
    return Uint8Array.from(this.parts);
  }
}

const TINY_BF16 = 2 ** -133; // bf16 bits 0x0001: the smallest subnormal

/** A hand-built file: dtypes in a mixed order, a metadata block, an odd-length header. */
function handBuilt(): Uint8Array {
  const d = new Bytes();
  const at = () => d.length;
  const header: Record<string, unknown> = { __metadata__: { format: 'pt', note: 'hand' } };
  let s = at();
  d.u16(0x3f80, 0xc020, 0x4049, 0x477f, 0x0001, 0x8000);
  header['model.b'] = { dtype: 'BF16', shape: [2, 3], data_offsets: [s, at()] };
  s = at();
  d.u16(0x3c00, 0xc000, 0x7bff, 0x0001);
  header['model.c'] = { dtype: 'F16', shape: [4], data_offsets: [s, at()] };
  s = at();
  d.f32(1, -2, 0.5, 3.25);
  header['model.a'] = { dtype: 'F32', shape: [2, 2], data_offsets: [s, at()] };
  s = at();
  d.i64(-5n, 7n, 2147483647n);
  header['model.d'] = { dtype: 'I64', shape: [3], data_offsets: [s, at()] };
  s = at();
  d.i32(-1, 123456789);
  header['model.g'] = { dtype: 'I32', shape: [1, 2], data_offsets: [s, at()] };
  s = at();
  d.u8(0, 200, 255);
  header['model.e'] = { dtype: 'U8', shape: [3], data_offsets: [s, at()] };
  s = at();
  d.u8(1, 0);
  header['model.f'] = { dtype: 'BOOL', shape: [2], data_offsets: [s, at()] };
  header['model.empty'] = { dtype: 'F32', shape: [0, 4], data_offsets: [at(), at()] };
  header['model.scalar'] = { dtype: 'F32', shape: [], data_offsets: [at(), at() + 4] };
  d.f32(42);
  return build(header, d.done());
}

describe('reader on hand-built bytes', () => {
  it('lists tensors and metadata and converts every dtype', async () => {
    const bytes = handBuilt();
    expect(new DataView(bytes.buffer).getUint32(0, true) % 8).not.toBe(0); // unaligned data start
    const f = await openSafetensors(bytesSource(bytes, 'hand.safetensors'));
    expect(f.metadata).toEqual({ format: 'pt', note: 'hand' });
    expect(f.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['model.b', 'BF16', [2, 3]],
      ['model.c', 'F16', [4]],
      ['model.a', 'F32', [2, 2]],
      ['model.d', 'I64', [3]],
      ['model.g', 'I32', [1, 2]],
      ['model.e', 'U8', [3]],
      ['model.f', 'BOOL', [2]],
      ['model.empty', 'F32', [0, 4]],
      ['model.scalar', 'F32', []],
    ]);
    expect([...(await f.readF32('model.a'))]).toEqual([1, -2, 0.5, 3.25]);
    const b = await f.readF32('model.b');
    expect([...b]).toEqual([1, -2.5, 3.140625, 65280, TINY_BF16, -0]);
    expect(Object.is(b[5], -0)).toBe(true);
    expect([...(await f.readF32('model.c'))]).toEqual([1, -2, 65504, 2 ** -24]);
    expect([...(await f.readI32('model.d'))]).toEqual([-5, 7, 2147483647]);
    expect([...(await f.readI32('model.g'))]).toEqual([-1, 123456789]);
    expect([...(await f.readI32('model.e'))]).toEqual([0, 200, 255]);
    expect([...(await f.readI32('model.f'))]).toEqual([1, 0]);
    expect((await f.readF32('model.empty')).length).toBe(0);
    expect([...(await f.readF32('model.scalar'))]).toEqual([42]);
    // f16 bits: F16 as is, F32 and BF16 rounded (values hand-derived).
    expect([...(await f.readF16Bits('model.c'))]).toEqual([0x3c00, 0xc000, 0x7bff, 0x0001]);
    expect([...(await f.readF16Bits('model.a'))]).toEqual([0x3c00, 0xc000, 0x3800, 0x4280]);
    expect([...(await f.readF16Bits('model.b'))]).toEqual([0x3c00, 0xc100, 0x4248, 0x7bf8, 0x0000, 0x8000]);
    expect([...(await f.readBytes('model.e'))]).toEqual([0, 200, 255]);
  });

  it('converts bytes that are not aligned', () => {
    const raw = new Uint8Array(9);
    new DataView(raw.buffer).setFloat32(1, -7.5, true);
    new DataView(raw.buffer).setFloat32(5, 0.25, true);
    const info = { name: 'x', dtype: 'F32' as const, shape: [2], offset: 0, byteLength: 8 };
    expect([...toF32(raw.subarray(1), info, 'f')]).toEqual([-7.5, 0.25]);
  });

  it('refuses conversions it cannot do, naming file and tensor', async () => {
    const d = new Bytes().i64(2147483648n).i32(3);
    const bytes = build(
      {
        big: { dtype: 'I64', shape: [1], data_offsets: [0, 8] },
        int: { dtype: 'I32', shape: [1], data_offsets: [8, 12] },
      },
      d.done(),
    );
    const f = await openSafetensors(bytesSource(bytes, 'ints.safetensors'));
    await expect(f.readI32('big')).rejects.toThrow(/ints\.safetensors: tensor 'big'.*2147483648.*32-bit/);
    await expect(f.readF32('int')).rejects.toThrow(SafetensorsError);
    await expect(f.readF32('int')).rejects.toThrow(/tensor 'int'.*I32 to f32/);
    await expect(f.readF32('nope')).rejects.toThrow(/tensor 'nope': no such tensor/);
  });
});

describe('half conversions (hand-derived bits)', () => {
  it('bf16 -> f32 is exact', () => {
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0xc020)).toBe(-2.5);
    expect(bf16BitsToF32(0x4049)).toBe(3.140625);
    expect(bf16BitsToF32(0x477f)).toBe(65280);
    expect(bf16BitsToF32(0x0001)).toBe(TINY_BF16);
    expect(bf16BitsToF32(0x7f80)).toBe(Number.POSITIVE_INFINITY);
    expect(bf16BitsToF32(0x7fc0)).toBeNaN();
  });

  it('f32 -> bf16 rounds to nearest even', () => {
    expect(f32ToBf16Bits(1)).toBe(0x3f80);
    expect(f32ToBf16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie -> even
    expect(f32ToBf16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82); // tie -> even (up)
    expect(f32ToBf16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(f32ToBf16Bits(-2.5)).toBe(0xc020);
    expect(f32ToBf16Bits(TINY_BF16)).toBe(0x0001);
    expect(f32ToBf16Bits(Number.NaN) & 0x7fc0).toBe(0x7fc0);
  });

  it('f32 -> f16 rounds to nearest even, with subnormals and overflow', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (up)
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // tie with 65536 -> Inf
    expect(f32ToF16Bits(-1e6)).toBe(0xfc00);
    expect(f32ToF16Bits(2 ** -14)).toBe(0x0400); // smallest normal
    expect(f32ToF16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // subnormal tie rounds up to even 0x400
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie -> even (zero)
    expect(f32ToF16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // 1.5 units: tie -> even 2
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(1e-30)).toBe(0x0000);
    expect(f32ToF16Bits(Number.NEGATIVE_INFINITY)).toBe(0xfc00);
    const nan = f32ToF16Bits(Number.NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
  });

  it('f16 -> f32 decodes every class', () => {
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0xc100)).toBe(-2.5);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16BitsToF32(0xfc00)).toBe(Number.NEGATIVE_INFINITY);
    expect(f16BitsToF32(0x7e00)).toBeNaN();
  });
});

describe('writer', () => {
  it('round trips every dtype, with metadata, a padded header and aligned tensors', async () => {
    const f32 = Float32Array.from([1.5, -0, 3e-40, 1e30, -7]);
    const bytes = writeSafetensors(
      [
        { name: 'h', dtype: 'F16', shape: [3], data: [1, 1 + 2 ** -11, 65520] },
        { name: 'hbits', dtype: 'F16', shape: [1], data: Uint16Array.from([0x1234]) },
        { name: 'b', dtype: 'BF16', shape: [2, 2], data: [1, -2.5, 1 + 3 * 2 ** -8, TINY_BF16] },
        { name: 'f', dtype: 'F32', shape: [5], data: f32 },
        { name: 'i', dtype: 'I32', shape: [3], data: Int32Array.from([-2147483648, 0, 2147483647]) },
        { name: 'z', dtype: 'F32', shape: [0], data: [] },
      ],
      { format: 'pt', who: 'test' },
    );
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n % 8).toBe(0);
    const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
    expect(text).toMatch(/^\{.*\} *$/);
    const header = JSON.parse(text) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    expect(header.__metadata__).toEqual({ format: 'pt', who: 'test' });
    for (const [name, e] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      expect(e.data_offsets[0] % (e.dtype === 'F32' || e.dtype === 'I32' ? 4 : 2)).toBe(0);
    }
    const f = await openSafetensors(bytesSource(bytes, 'w.safetensors'));
    expect(f.metadata).toEqual({ format: 'pt', who: 'test' });
    expect([...(await f.readF16Bits('h'))]).toEqual([0x3c00, 0x3c00, 0x7c00]);
    expect([...(await f.readF16Bits('hbits'))]).toEqual([0x1234]);
    expect([...new Uint16Array((await f.readBytes('b')).slice().buffer)]).toEqual([
      0x3f80, 0xc020, 0x3f82, 0x0001,
    ]);
    expect([...(await f.readF32('b'))]).toEqual([1, -2.5, 1 + 2 ** -6, TINY_BF16]);
    expect([...(await f.readF32('f'))]).toEqual([...f32]);
    expect([...(await f.readI32('i'))]).toEqual([-2147483648, 0, 2147483647]);
    expect(f.get('z')?.shape).toEqual([0]);
    expect(f.tensors.map((t) => t.name).sort()).toEqual(['b', 'f', 'h', 'hbits', 'i', 'z']);
  });

  it('rejects bad input', () => {
    expect(() => writeSafetensors([{ name: 'a', dtype: 'F32', shape: [2, 2], data: [1, 2, 3] }])).toThrow(
      /\[2, 2\].*3/,
    );
    expect(() =>
      writeSafetensors([
        { name: 'a', dtype: 'F32', shape: [1], data: [1] },
        { name: 'a', dtype: 'F32', shape: [1], data: [1] },
      ]),
    ).toThrow(/repeated/);
    expect(() => writeSafetensors([{ name: 'a', dtype: 'I32', shape: [1], data: [1.5] }])).toThrow(
      /not an i32/,
    );
  });
});

// ---- Checkpoints on disk ----

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vgrpo-st-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function makeDir(
  name: string,
  files: Record<string, Uint8Array<ArrayBuffer> | string>,
): Promise<string> {
  const d = join(dir, name);
  await rm(d, { recursive: true, force: true });
  const { mkdir } = await import('node:fs/promises');
  await mkdir(d);
  for (const [f, content] of Object.entries(files)) await writeFile(join(d, f), content);
  return d;
}

const SHARD1 = 'model-00001-of-00002.safetensors';
const SHARD2 = 'model-00002-of-00002.safetensors';

function shardFiles(): Record<string, Uint8Array<ArrayBuffer> | string> {
  const s1 = build(
    {
      'model.language_model.embed_tokens.weight': { dtype: 'BF16', shape: [2, 2], data_offsets: [0, 8] },
      'model.visual.patch_embed.proj.weight': { dtype: 'F32', shape: [1, 2], data_offsets: [8, 16] },
    },
    new Bytes().u16(0x3f80, 0xc020, 0x4049, 0x477f).f32(0.25, -8).done(),
  );
  const s2 = build(
    {
      __metadata__: { format: 'pt' },
      'lm_head.weight': { dtype: 'F16', shape: [3], data_offsets: [0, 6] },
    },
    new Bytes().u16(0x3c00, 0x3800, 0xc400).done(),
  );
  const index = {
    metadata: { total_size: 22 },
    weight_map: {
      'model.language_model.embed_tokens.weight': SHARD1,
      'model.visual.patch_embed.proj.weight': SHARD1,
      'lm_head.weight': SHARD2,
    },
  };
  return { [SHARD1]: s1, [SHARD2]: s2, 'model.safetensors.index.json': JSON.stringify(index) };
}

async function summarise(c: Checkpoint) {
  return {
    files: c.files,
    metadata: c.metadata,
    tensors: c.tensors.map((t) => ({ ...t })),
    embed: [...(await c.readF32('model.embed_tokens.weight'))],
    patch: [...(await c.readF32('model.visual.patch_embed.proj.weight'))],
    head: [...(await c.readF32('lm_head.weight'))],
    headBits: [...(await c.readF16Bits('lm_head.weight'))],
  };
}

describe('checkpoints', () => {
  it('reads a sharded checkpoint through fileSource, and the same through Blobs', async () => {
    const files = shardFiles();
    const d = await makeDir('sharded', files);
    const fromDisk = await openCheckpoint(directoryOpener(d));
    const a = await summarise(fromDisk);
    await fromDisk.close();
    expect(a.files).toEqual([SHARD1, SHARD2]);
    expect(a.metadata).toEqual({ total_size: 22 });
    expect(a.tensors).toEqual([
      {
        name: 'model.language_model.embed_tokens.weight',
        canonical: 'model.embed_tokens.weight',
        dtype: 'BF16',
        shape: [2, 2],
        shard: SHARD1,
      },
      {
        name: 'model.visual.patch_embed.proj.weight',
        canonical: 'visual.patch_embed.proj.weight',
        dtype: 'F32',
        shape: [1, 2],
        shard: SHARD1,
      },
      { name: 'lm_head.weight', canonical: 'lm_head.weight', dtype: 'F16', shape: [3], shard: SHARD2 },
    ]);
    expect(a.embed).toEqual([1, -2.5, 3.140625, 65280]);
    expect(a.patch).toEqual([0.25, -8]);
    expect(a.head).toEqual([1, 0.5, -4]);
    expect(a.headBits).toEqual([0x3c00, 0x3800, 0xc400]);

    const dropped = Object.entries(files).map(([name, content]) => new File([content], name));
    const fromBlobs = await openCheckpoint(filesOpener(dropped));
    expect(await summarise(fromBlobs)).toEqual(a);
    // Stored names work too.
    expect([...(await fromBlobs.readF32('model.visual.patch_embed.proj.weight'))]).toEqual([0.25, -8]);
    expect(fromBlobs.get('visual.patch_embed.proj.weight')?.name).toBe(
      'model.visual.patch_embed.proj.weight',
    );
    await expect(fromBlobs.readF32('model.nope')).rejects.toThrow(/no tensor 'model.nope'/);
  });

  it('reads a single model.safetensors written by writeSafetensorsFile, and blobSource agrees', async () => {
    const d = await makeDir('single', {});
    const tensors = [
      { name: 'model.norm.weight', dtype: 'F32' as const, shape: [3], data: [1, 2, 3] },
      { name: 'visual.merger.ln_q.weight', dtype: 'BF16' as const, shape: [2], data: [0.5, -1] },
    ];
    await writeSafetensorsFile(join(d, 'model.safetensors'), tensors, { format: 'pt' });
    const c = await openCheckpoint(directoryOpener(d));
    expect(c.files).toEqual(['model.safetensors']);
    expect(c.metadata).toEqual({ format: 'pt' });
    expect([...(await c.readF32('model.language_model.norm.weight'))]).toEqual([1, 2, 3]);
    await c.close();
    const blob = new Blob([writeSafetensors(tensors, { format: 'pt' })]);
    const b = await openCheckpoint(async (f) =>
      f === 'model.safetensors' ? blobSource(blob, f) : undefined,
    );
    expect([...(await b.readF32('model.visual.merger.ln_q.weight'))]).toEqual([0.5, -1]);
  });

  it('fileSource reads at offsets and closes cleanly', async () => {
    const d = await makeDir('raw', { 'x.bin': Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) });
    const s = await fileSource(join(d, 'x.bin'));
    expect(s.name).toBe('x.bin');
    expect(s.size).toBe(10);
    expect([...(await s.read(3, 4))]).toEqual([3, 4, 5, 6]);
    await expect(s.read(8, 3)).rejects.toThrow(RangeError);
    await s.close();
    await s.close();
    await expect(s.read(0, 1)).rejects.toThrow(/after close/);
    expect(await directoryOpener(d)('absent.bin')).toBeUndefined();
  });

  it('reading one tensor of a large file requests only the header and that tensor', async () => {
    const n = 1 << 20;
    const d = await makeDir('large', {});
    await writeSafetensorsFile(join(d, 'model.safetensors'), [
      { name: 'a', dtype: 'F32', shape: [n], data: new Float32Array(n).fill(1) },
      { name: 'b', dtype: 'F32', shape: [n], data: new Float32Array(n).map((_, i) => i) },
      { name: 'c', dtype: 'F32', shape: [n], data: new Float32Array(n).fill(3) },
    ]);
    const reads: [number, number][] = [];
    const counting = (s: ByteSource): ByteSource => ({
      name: s.name,
      size: s.size,
      read: (o, l) => {
        reads.push([o, o + l]);
        return s.read(o, l);
      },
      close: () => s.close?.() ?? Promise.resolve(),
    });
    const opener = directoryOpener(d);
    const c = await openCheckpoint(async (f) => {
      const s = await opener(f);
      return s && counting(s);
    });
    const beforeRead = reads.reduce((sum, [a, b]) => sum + b - a, 0);
    expect(beforeRead).toBeLessThan(1024); // header only
    const b = await c.readF32('b');
    expect(b[12345]).toBe(12345);
    const total = reads.reduce((sum, [a, e]) => sum + e - a, 0);
    expect(total - beforeRead).toBe(4 * n);
    const size = 3 * 4 * n + 8;
    expect(reads.at(-1)![1] - reads.at(-1)![0]).toBe(4 * n);
    expect(total).toBeLessThan(size / 2);
    await c.close();
  });
});

describe('errors', () => {
  const problem = async (bytes: Uint8Array) => {
    try {
      await openSafetensors(bytesSource(bytes, 'bad.safetensors'));
    } catch (error) {
      expect(error).toBeInstanceOf(SafetensorsError);
      return error as SafetensorsError;
    }
    throw new Error('expected a SafetensorsError');
  };
  const good = { t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };

  it('a truncated file', async () => {
    const e = await problem(Uint8Array.from([1, 2, 3]));
    expect(e.problem).toBe('truncated');
    expect(e.message).toMatch(/^bad\.safetensors: .*3 bytes/);
    // Data cut short: the offsets run past the end.
    const cut = build(good, new Bytes().f32(1, 2).done()).subarray(0, -1);
    const e2 = await problem(cut);
    expect(e2.problem).toBe('offsets');
    expect(e2.tensor).toBe('t');
    expect(e2.message).toMatch(/bad\.safetensors: tensor 't'.*truncated/);
  });

  it('a header length past the end', async () => {
    const e = await problem(build(good, new Bytes().f32(1, 2).done(), 10_000));
    expect(e.problem).toBe('header-length');
    expect(e.message).toMatch(/10000 bytes.*past the end/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    expect((await problem(huge)).problem).toBe('header-length');
  });

  it('bad JSON', async () => {
    const bad = build(good, new Bytes().f32(1, 2).done());
    bad.set(new TextEncoder().encode('{"t": [1, '), 8);
    const e = await problem(bad);
    expect(e.problem).toBe('header-json');
    expect(e.message).toMatch(/not valid JSON/);
    expect((await problem(build({ t: 3 }, new Uint8Array()))).problem).toBe('header-json');
  });

  it('an unknown dtype', async () => {
    const e = await problem(
      build({ w: { dtype: 'F12', shape: [1], data_offsets: [0, 2] } }, new Uint8Array(2)),
    );
    expect(e.problem).toBe('dtype');
    expect(e.tensor).toBe('w');
    expect(e.message).toMatch(/tensor 'w': unknown dtype "F12"/);
  });

  it('out-of-range, malformed and overlapping offsets', async () => {
    const data = new Uint8Array(8);
    let e = await problem(build({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, data));
    expect([e.problem, e.tensor]).toEqual(['offsets', 'w']);
    e = await problem(build({ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, data));
    expect([e.problem, e.tensor]).toEqual(['offsets', 'w']);
    e = await problem(build({ w: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, data));
    expect(e.problem).toBe('offsets');
    e = await problem(
      build(
        {
          u: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
          w: { dtype: 'F32', shape: [1], data_offsets: [2, 6] },
        },
        data,
      ),
    );
    expect(e.problem).toBe('overlap');
    expect(e.message).toMatch(/'w'.*overlaps tensor 'u'/);
    e = await problem(build({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, data));
    expect([e.problem, e.tensor]).toEqual(['shape', 'w']);
  });

  it('a size that does not match shape x dtype', async () => {
    const e = await problem(
      build({ w: { dtype: 'BF16', shape: [2, 3], data_offsets: [0, 8] } }, new Uint8Array(8)),
    );
    expect([e.problem, e.tensor]).toEqual(['size', 'w']);
    expect(e.message).toMatch(/8 bytes but BF16 \[2, 3\] needs 12/);
  });

  it('a missing shard, a tensor the shard lacks, no weights at all', async () => {
    const files = shardFiles();
    delete files[SHARD2];
    const d = await makeDir('missing', files);
    const err = await openCheckpoint(directoryOpener(d)).catch((x: unknown) => x);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).file).toBe(SHARD2);
    expect((err as Error).message).toMatch(/model-00002-of-00002\.safetensors \(1 tensors\).*no such file/);

    const wrong = shardFiles();
    wrong['model.safetensors.index.json'] = JSON.stringify({
      weight_map: { 'lm_head.weight': SHARD1 },
    });
    const d2 = await makeDir('wrongmap', wrong);
    await expect(openCheckpoint(directoryOpener(d2))).rejects.toThrow(
      /'lm_head.weight' in model-00001.*no such tensor/,
    );

    const d3 = await makeDir('badindex', { 'model.safetensors.index.json': '{"weight_map": ' });
    await expect(openCheckpoint(directoryOpener(d3))).rejects.toThrow(CheckpointError);

    const d4 = await makeDir('empty', {});
    await expect(openCheckpoint(directoryOpener(d4))).rejects.toThrow(
      /no model\.safetensors or model\.safetensors\.index\.json/,
    );
  });

  it('missing, unexpected and mis-shaped tensors, all by name in one error', async () => {
    const c = await openCheckpoint(
      filesOpener(Object.entries(shardFiles()).map(([n, b]) => new File([b], n))),
    );
    // Expected names in either layout; the checkpoint uses the newer one.
    const ok = matchTensors(c, {
      'model.embed_tokens.weight': [2, 2],
      'model.visual.patch_embed.proj.weight': [1, 2],
      'lm_head.weight': [3],
    });
    expect(ok).toEqual({ missing: [], unexpected: [], misShaped: [] });
    let err: unknown;
    try {
      matchTensors(c, {
        'model.embed_tokens.weight': [2, 3],
        'model.norm.weight': [2],
        'visual.merger.ln_q.weight': [4],
        'lm_head.weight': [3],
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TensorMismatchError);
    const m = err as TensorMismatchError;
    expect(m.missing).toEqual(['model.norm.weight', 'visual.merger.ln_q.weight']);
    expect(m.unexpected).toEqual(['visual.patch_embed.proj.weight']);
    expect(m.misShaped).toEqual([{ name: 'model.embed_tokens.weight', expected: [2, 3], actual: [2, 2] }]);
    expect(m.message).toContain('Missing tensors (2):\n  model.norm.weight\n  visual.merger.ln_q.weight');
    expect(m.message).toContain('Unexpected tensors (1):\n  visual.patch_embed.proj.weight');
    expect(m.message).toContain('model.embed_tokens.weight: expected [2, 3], found [2, 2]');
    expect(() =>
      matchTensors(
        c,
        { 'model.embed_tokens.weight': [2, 2], 'lm_head.weight': [3] },
        { allowUnexpected: true },
      ),
    ).not.toThrow();
  });
});

describe('HF names', () => {
  it('maps both layouts to the older one', () => {
    expect(canonicalName('model.language_model.layers.3.self_attn.q_proj.weight')).toBe(
      'model.layers.3.self_attn.q_proj.weight',
    );
    expect(canonicalName('model.layers.3.self_attn.q_proj.weight')).toBe(
      'model.layers.3.self_attn.q_proj.weight',
    );
    expect(canonicalName('model.visual.blocks.0.attn.qkv.bias')).toBe('visual.blocks.0.attn.qkv.bias');
    expect(canonicalName('visual.blocks.0.attn.qkv.bias')).toBe('visual.blocks.0.attn.qkv.bias');
    expect(canonicalName('model.visual.merger.mlp.0.weight')).toBe('visual.merger.mlp.0.weight');
    expect(canonicalName('lm_head.weight')).toBe('lm_head.weight');
    expect(canonicalName('model.embed_tokens.weight')).toBe('model.embed_tokens.weight');
    expect(canonicalName('model.language_model.embed_tokens.weight')).toBe('model.embed_tokens.weight');
  });

  it('refuses a checkpoint holding one parameter under both layouts', async () => {
    const bytes = build(
      {
        'model.norm.weight': { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
        'model.language_model.norm.weight': { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
      },
      new Uint8Array(8),
    );
    await expect(
      openCheckpoint(async (f) => (f === 'model.safetensors' ? bytesSource(bytes, f) : undefined)),
    ).rejects.toThrow(/same parameter in two naming layouts/);
  });
});
