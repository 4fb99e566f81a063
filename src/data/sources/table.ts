// The contract between the columnar readers (HF save_to_disk Arrow folders, Parquet files) and the
// row validation that turns their records into grounding rows: records as plain JS values, with image
// cells that point at their bytes instead of holding them, so a large set is indexed in one pass
// without keeping its images in memory.

/** Encoded image bytes stored inside a table (the `bytes` of an HF Image struct), read on demand. */
export interface EmbeddedImage {
  /** Byte length of the encoded image. */
  readonly length: number;
  /**
   * The first min(length, HEAD_BYTES) bytes, enough for the size in a PNG / JPEG / WebP header. It
   * is only valid while the record is being processed: consumers must not keep it.
   */
  readonly head: Uint8Array;
  /** The whole encoded image. Must not hold the table's batch or row group in memory between calls. */
  read(): Promise<Uint8Array>;
}

/** An image column's cell: HF's Image feature {bytes, path}, or a plain path string in a table. */
export interface ImageCell {
  readonly kind: 'image';
  /** The stored path or file name; with embedded bytes it is only a name. */
  readonly path?: string;
  readonly bytes?: EmbeddedImage;
}

/** How many leading bytes of an embedded image a reader hands over with each record. */
export const HEAD_BYTES = 64 * 1024;

/**
 * A value of a record: null, booleans, numbers (64-bit integers as numbers), strings, arrays of
 * values (lists, fixed-size lists; never typed arrays), objects (structs), and ImageCell for the
 * image columns. Other binary columns become null.
 */
export type TableValue = null | boolean | number | string | TableValue[] | ImageCell | TableObject;
export interface TableObject {
  [key: string]: TableValue;
}

export interface TableRecord {
  /** 0-based index of the row in the whole table (all files / shards, in order). */
  row: number;
  value: TableObject;
}

export interface TabularTable {
  /** What was opened: the folder or file path within the drop. */
  readonly source: string;
  readonly container: 'hf-arrow' | 'parquet';
  readonly numRows: number;
  /** Column names, in schema order. */
  readonly columns: readonly string[];
  /**
   * The columns whose values are ImageCell: HF Image features (from dataset_info.json or the
   * schema's 'huggingface' metadata) and struct<bytes: binary, path: string> columns.
   */
  readonly imageColumns: readonly string[];
  /** For an HF DatasetDict folder: every split, and the one opened. */
  readonly splits?: readonly string[];
  readonly split?: string;
  /** Every record, in row order, reading one batch / row group at a time. */
  records(): AsyncIterable<TableRecord>;
}

export function isImageCell(v: unknown): v is ImageCell {
  return v !== null && typeof v === 'object' && (v as { kind?: unknown }).kind === 'image';
}
