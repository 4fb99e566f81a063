// Splits a row-major [rows, cols] tensor into row ranges that each fit one storage binding (the
// embedding table, its gradient, [tokens, vocab] logits), block by block for a row-blocked tensor. Each
// range is bound at an offset of its block's buffer aligned to minStorageBufferOffsetAlignment; `elem` is
// the element index of its first row inside the binding.
import type { Gpu } from '../context.ts';
import { ShapeError } from '../errors.ts';
import { DTYPE_BYTES, type Tensor } from '../tensor.ts';

export interface RowChunk {
  /** The tensor to bind: the tensor itself, or the block holding these rows. */
  tensor: Tensor;
  /** First row and number of rows. */
  row: number;
  rows: number;
  /** Byte range to bind. */
  offset: number;
  size: number;
  /** Element index of row `row` within the bound range. */
  elem: number;
}

export function rowChunks(gpu: Gpu, t: Tensor, rows: number, cols: number, op: string): RowChunk[] {
  if (t.blocks) {
    const per = t.blocks.rows;
    return t.blocks.parts.flatMap((part, b) =>
      rowChunks(gpu, part, part.shape[0]!, cols, op).map((c) => ({ ...c, row: c.row + b * per })),
    );
  }
  if (t.bindSize <= gpu.maxBindingSize)
    return [{ tensor: t, row: 0, rows, offset: 0, size: t.bindSize, elem: 0 }];
  const bytes = DTYPE_BYTES[t.dtype];
  const align = gpu.device.limits.minStorageBufferOffsetAlignment;
  const perChunk = Math.floor((gpu.maxBindingSize - align) / (cols * bytes));
  if (perChunk < 1)
    throw new ShapeError(`${op}: one row (${cols} elements) exceeds the storage binding limit`);
  const out: RowChunk[] = [];
  for (let row = 0; row < rows; row += perChunk) {
    const n = Math.min(perChunk, rows - row);
    const start = row * cols * bytes;
    const offset = Math.floor(start / align) * align;
    const size = Math.min(t.bindSize - offset, Math.ceil((start - offset + n * cols * bytes) / 4) * 4);
    out.push({ tensor: t, row, rows: n, offset, size, elem: (start - offset) / bytes });
  }
  return out;
}
