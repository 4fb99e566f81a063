// Safetensors writer: builds a complete file in memory (header padded with spaces to 8-byte
// alignment, data ordered by element size so every tensor stays aligned). Used by tests and by
// adapter export.

import { f32ArrayToBf16Bits, f32ArrayToF16Bits } from './half.ts';
import { DTYPE_BYTES, elementCount } from './safetensors.ts';

export type WritableDtype = 'F32' | 'F16' | 'BF16' | 'I32';

/**
 * One tensor to write. `data` holds values, converted to `dtype` (F16 / BF16 round to nearest even),
 * except that a Uint16Array for F16 or BF16 is taken as the raw bits.
 */
export interface TensorToWrite {
  name: string;
  dtype: WritableDtype;
  shape: number[];
  data: Float32Array | Uint16Array | Int32Array | ArrayLike<number>;
}

function encode(t: TensorToWrite): Uint8Array {
  switch (t.dtype) {
    case 'F32':
      return new Uint8Array(Float32Array.from(t.data).buffer);
    case 'I32': {
      const values = Int32Array.from(t.data);
      for (let i = 0; i < values.length; i++) {
        if (values[i] !== t.data[i]) {
          throw new RangeError(
            `writeSafetensors: tensor '${t.name}' element ${i} (${t.data[i]}) is not an i32`,
          );
        }
      }
      return new Uint8Array(values.buffer);
    }
    case 'F16':
    case 'BF16': {
      const bits =
        t.data instanceof Uint16Array
          ? t.data
          : t.dtype === 'F16'
            ? f32ArrayToF16Bits(t.data)
            : f32ArrayToBf16Bits(t.data);
      return new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength);
    }
  }
}

export function writeSafetensors(
  tensors: readonly TensorToWrite[],
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  const names = new Set<string>();
  for (const t of tensors) {
    if (t.name === '__metadata__' || names.has(t.name)) {
      throw new Error(`writeSafetensors: tensor name '${t.name}' is reserved or repeated`);
    }
    names.add(t.name);
    if (!(t.dtype in DTYPE_BYTES) || !['F32', 'F16', 'BF16', 'I32'].includes(t.dtype)) {
      throw new Error(`writeSafetensors: tensor '${t.name}' has unsupported dtype ${t.dtype}`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || elementCount(t.shape) !== t.data.length) {
      throw new RangeError(
        `writeSafetensors: tensor '${t.name}' has shape [${t.shape.join(', ')}] but ${t.data.length} values`,
      );
    }
  }
  // Wider elements first (stable), so every tensor starts at a multiple of its element size.
  const order = [...tensors].sort((a, b) => DTYPE_BYTES[b.dtype] - DTYPE_BYTES[a.dtype]);
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of order) {
    const bytes = encode(t);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let at = 8 + json.byteLength;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
