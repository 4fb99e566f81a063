// What every dataset source yields once opened: the usable rows, indexed up front with their
// canonical boxes and image sizes but not their pixels, and the validation report. Images are read and
// decoded only when a row's image() is asked for.

import type { RgbImage } from '../model/image-processor.ts';
import type { Box } from './box-format.ts';
import { DatasetFormatError } from './errors.ts';
import type { GroundingRow } from './row.ts';
import type { ValidationReport } from './validation-report.ts';

/** Encoded image bytes → RGBA pixels (Node: image-decode-node.ts; browser: image-decode-browser.ts). */
export type ImageDecoder = (bytes: Uint8Array, name: string) => RgbImage | Promise<RgbImage>;

/** Where a row's encoded image is: a dropped file, an entry of a zip, bytes inside an Arrow / Parquet table. */
export interface ImageSource {
  /** Shown in messages: the file path, or `table#row` for embedded bytes. */
  readonly name: string;
  read(): Promise<Uint8Array>;
  /** Present when a prefix can be read without the rest (enough for the size in the header). */
  readRange?(start: number, end: number): Promise<Uint8Array>;
  readonly size?: number;
}

/** A usable row: canonical box in pixels of the original image, whose size is known. */
export interface IndexedRow {
  /** 0-based index of the row in the source (a JSON file, all shards of a table). */
  row: number;
  /** The image reference as the row wrote it (a path), or the image source's name. */
  imageRef: string;
  image: ImageSource;
  question: string;
  answer?: string;
  /** The first box when the row has several (reported as 'multiple-boxes'). */
  box: Box;
  width: number;
  height: number;
}

export interface Dataset {
  report: ValidationReport;
  rows: IndexedRow[];
  /** Reads and decodes a row's image; throws ImageDecodeError for a bad file. */
  loadImage(row: IndexedRow): Promise<RgbImage>;
}

/** The usable rows as the canonical GroundingRow (row.ts), id `SOURCE#ROW`. */
export function toGroundingRows(dataset: Dataset): GroundingRow[] {
  return dataset.rows.map((r) => {
    const g: GroundingRow = {
      id: `${dataset.report.source}#${r.row}`,
      width: r.width,
      height: r.height,
      question: r.question,
      box: r.box,
      image: () => dataset.loadImage(r),
    };
    if (r.answer !== undefined) g.answer = r.answer;
    return g;
  });
}

/** The decoder, or a DatasetFormatError saying none was given. */
export function requireDecoder(decode: ImageDecoder | undefined): ImageDecoder {
  if (decode === undefined) {
    throw new DatasetFormatError('images', 'no image decoder was given (options.decode)');
  }
  return decode;
}
