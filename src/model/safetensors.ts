// Safetensors reader: parses and validates a file's header, then reads one tensor's bytes on demand
// through a ByteSource and converts them (F32 / F16 / BF16 -> f32 or f16 bits; integers -> i32).
import type { ByteSource } from './byte-source.ts';
import { SafetensorsError } from './errors.ts';
import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToF16Bits, f32ToF16Bits } from './half.ts';

/** Bytes per element of every dtype the safetensors format defines. */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

/** The format's own limit on the header (100 MB); anything larger is corruption. */
const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offset of the tensor's data in the file. */
  offset: number;
  byteLength: number;
}

/** One opened safetensors file: its header, and tensors read on demand. */
export interface SafetensorsFile {
  readonly name: string;
  readonly source: ByteSource;
  readonly metadata: Record<string, string>;
  /** In the header's order. */
  readonly tensors: readonly TensorInfo[];
  get(name: string): TensorInfo | undefined;
  readBytes(name: string): Promise<Uint8Array>;
  readF32(name: string): Promise<Float32Array>;
  /** Rows [row, row + rows) along the first dimension, as f32: a large tensor read a slab at a time. */
  readF32Rows(name: string, row: number, rows: number): Promise<Float32Array>;
  readF16Bits(name: string): Promise<Uint16Array>;
  readI32(name: string): Promise<Int32Array>;
}

export function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_BYTES, value);
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a header (the JSON text's bytes) against the file's size and returns the tensors and
 * metadata. `headerLength` is the u64 read from the first 8 bytes.
 */
export function parseSafetensorsHeader(
  file: string,
  fileSize: number,
  headerLength: number,
  headerBytes: Uint8Array,
): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  const fail = (tensor: string | undefined, problem: SafetensorsError['problem'], detail: string) =>
    new SafetensorsError(file, tensor, problem, detail);
  let text: string;
  let json: unknown;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
    json = JSON.parse(text);
  } catch (error) {
    throw fail(
      undefined,
      'header-json',
      `the header is not valid JSON (${(error as Error).message}); the file is corrupt or not safetensors`,
    );
  }
  if (!isPlainObject(json)) {
    throw fail(
      undefined,
      'header-json',
      'the header is not a JSON object; the file is corrupt or not safetensors',
    );
  }
  const dataStart = 8 + headerLength;
  const dataSize = fileSize - dataStart;
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(json)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw fail(undefined, 'header-json', '__metadata__ is not a JSON object');
      for (const [key, value] of Object.entries(entry)) {
        if (typeof value === 'string') metadata[key] = value;
      }
      continue;
    }
    if (!isPlainObject(entry)) throw fail(name, 'header-json', 'its header entry is not a JSON object');
    const { dtype, shape, data_offsets: offsets } = entry;
    if (!isDtype(dtype)) {
      throw fail(
        name,
        'dtype',
        `unknown dtype ${JSON.stringify(dtype)} (safetensors defines ${Object.keys(DTYPE_BYTES).join(', ')})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw fail(name, 'shape', `shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) ||
      offsets[0] > offsets[1]
    ) {
      throw fail(
        name,
        'offsets',
        `data_offsets ${JSON.stringify(offsets)} is not [begin, end] with begin <= end`,
      );
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataSize) {
      throw fail(
        name,
        'offsets',
        `data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes); the file is truncated or corrupt`,
      );
    }
    const expectedBytes = elementCount(shape) * DTYPE_BYTES[dtype];
    if (end - begin !== expectedBytes) {
      throw fail(
        name,
        'size',
        `data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${dtype} [${shape.join(', ')}] needs ${expectedBytes}`,
      );
    }
    tensors.push({ name, dtype, shape: [...shape], offset: dataStart + begin, byteLength: end - begin });
  }
  const byStart = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const cur = byStart[i]!;
    if (cur.offset < prev.offset + prev.byteLength) {
      throw fail(cur.name, 'overlap', `its data overlaps tensor '${prev.name}'; the file is corrupt`);
    }
  }
  return { tensors, metadata };
}

/** Reads and validates the header of `source`; tensor data is read later, one tensor at a time. */
export async function openSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  const file = source.name;
  if (source.size < 8) {
    throw new SafetensorsError(
      file,
      undefined,
      'truncated',
      `the file is ${source.size} bytes, too short for a safetensors header; it is truncated or not safetensors`,
    );
  }
  const prefix = await source.read(0, 8);
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (length > BigInt(source.size - 8)) {
    throw new SafetensorsError(
      file,
      undefined,
      'header-length',
      `the header length (${length} bytes) runs past the end of the file (${source.size} bytes); ` +
        'the file is truncated or not safetensors',
    );
  }
  const headerLength = Number(length);
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      file,
      undefined,
      'header-length',
      `the header length (${headerLength} bytes) exceeds the format's limit of ${MAX_HEADER_BYTES}; the file is corrupt`,
    );
  }
  const headerBytes = await source.read(8, headerLength);
  const { tensors, metadata } = parseSafetensorsHeader(file, source.size, headerLength, headerBytes);
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const info = (name: string): TensorInfo => {
    const t = byName.get(name);
    if (!t) throw new SafetensorsError(file, name, 'no-tensor', 'no such tensor in this file');
    return t;
  };
  const readBytes = async (name: string) => {
    const t = info(name);
    return source.read(t.offset, t.byteLength);
  };
  const readF32Rows = async (name: string, row: number, rows: number) => {
    const t = info(name);
    const first = t.shape[0] ?? 1;
    if (!Number.isInteger(row) || !Number.isInteger(rows) || row < 0 || rows < 0 || row + rows > first)
      throw new RangeError(`${name}: rows [${row}, ${row + rows}) are outside its ${first} rows`);
    const rowBytes = (elementCount(t.shape) / Math.max(1, first)) * DTYPE_BYTES[t.dtype];
    const byteLength = rows * rowBytes;
    const bytes = await source.read(t.offset + row * rowBytes, byteLength);
    return toF32(bytes, { ...t, shape: [rows, ...t.shape.slice(1)], byteLength }, file);
  };
  return {
    name: file,
    source,
    metadata,
    tensors,
    get: (name) => byName.get(name),
    readBytes,
    readF32: async (name) => toF32(await readBytes(name), info(name), file),
    readF32Rows,
    readF16Bits: async (name) => toF16Bits(await readBytes(name), info(name), file),
    readI32: async (name) => toI32(await readBytes(name), info(name), file),
  };
}

/** A typed view of `bytes`, copied first when they are not aligned for the element type. */
function view<T>(
  bytes: Uint8Array,
  size: number,
  make: (buffer: ArrayBuffer, offset: number, n: number) => T,
): T {
  let b = bytes;
  if (b.byteOffset % size !== 0 || !(b.buffer instanceof ArrayBuffer)) b = new Uint8Array(b);
  return make(b.buffer as ArrayBuffer, b.byteOffset, b.byteLength / size);
}

const u16 = (b: Uint8Array) => view(b, 2, (buf, o, n) => new Uint16Array(buf, o, n));

function unsupported(info: TensorInfo, file: string, target: string, supported: string): SafetensorsError {
  return new SafetensorsError(
    file,
    info.name,
    'conversion',
    `cannot convert dtype ${info.dtype} to ${target} (supported: ${supported}); convert the checkpoint first`,
  );
}

/**
 * The converters may return a view of `bytes` (when no conversion is needed), so pass bytes that
 * nothing else holds. F32, F16, BF16 and F64 bytes -> f32 values (bf16 and f16 exactly; f64 rounded). */
export function toF32(bytes: Uint8Array, info: TensorInfo, file: string): Float32Array {
  switch (info.dtype) {
    case 'F32':
      return view(bytes, 4, (buf, o, n) => new Float32Array(buf, o, n));
    case 'F16':
      return f16ArrayToF32(u16(bytes));
    case 'BF16':
      return bf16ArrayToF32(u16(bytes));
    case 'F64':
      return Float32Array.from(view(bytes, 8, (buf, o, n) => new Float64Array(buf, o, n)));
    default:
      throw unsupported(info, file, 'f32', 'F32, F16, BF16, F64');
  }
}

/** F16 (as is), F32 and BF16 (round to nearest even) bytes -> f16 bits. */
export function toF16Bits(bytes: Uint8Array, info: TensorInfo, file: string): Uint16Array {
  switch (info.dtype) {
    case 'F16':
      return u16(bytes);
    case 'F32':
      return f32ArrayToF16Bits(view(bytes, 4, (buf, o, n) => new Float32Array(buf, o, n)));
    case 'BF16': {
      // bf16 -> f32 is exact, so this rounds once.
      const bits = u16(bytes);
      const out = new Uint16Array(bits.length);
      const f = new Float32Array(1);
      const u = new Uint32Array(f.buffer);
      for (let i = 0; i < bits.length; i++) {
        u[0] = bits[i]! << 16;
        out[i] = f32ToF16Bits(f[0]!);
      }
      return out;
    }
    default:
      throw unsupported(info, file, 'f16', 'F16, F32, BF16');
  }
}

/** Integer and boolean bytes -> i32; 64-bit and U32 values outside the i32 range are an error. */
export function toI32(bytes: Uint8Array, info: TensorInfo, file: string): Int32Array {
  const wide = (values: ArrayLike<bigint> | ArrayLike<number>): Int32Array => {
    const out = new Int32Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const v = Number(values[i]!);
      if (v < -2147483648 || v > 2147483647) {
        throw new SafetensorsError(
          file,
          info.name,
          'conversion',
          `element ${i} (${values[i]}) does not fit in a 32-bit integer`,
        );
      }
      out[i] = v;
    }
    return out;
  };
  switch (info.dtype) {
    case 'I32':
      return view(bytes, 4, (buf, o, n) => new Int32Array(buf, o, n));
    case 'U32':
      return wide(view(bytes, 4, (buf, o, n) => new Uint32Array(buf, o, n)));
    case 'I64':
      return wide(view(bytes, 8, (buf, o, n) => new BigInt64Array(buf, o, n)));
    case 'U64':
      return wide(view(bytes, 8, (buf, o, n) => new BigUint64Array(buf, o, n)));
    case 'I16':
      return Int32Array.from(view(bytes, 2, (buf, o, n) => new Int16Array(buf, o, n)));
    case 'U16':
      return Int32Array.from(u16(bytes));
    case 'I8':
      return Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    case 'U8':
    case 'BOOL':
      return Int32Array.from(bytes);
    default:
      throw unsupported(info, file, 'i32', 'I32, I64, U32, U64, I16, U16, I8, U8, BOOL');
  }
}
