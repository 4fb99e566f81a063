// Grounding rows from a columnar table (an HF save_to_disk Arrow folder or Parquet files): records
// read in one pass, each validated like a JSON row; embedded images give their size from the header
// bytes handed over with the record, and path-only images are looked up among the dropped files.

import type { Dataset, ImageSource } from '../dataset.ts';
import { type DroppedFiles, ImageResolver } from '../files/files.ts';
import { type HeaderResult, readImageHeader } from '../image/image-header.ts';
import {
  completeDataset,
  fileImageSource,
  type PendingRow,
  type RowOptions,
  skipRow,
  startRow,
} from '../row-validation.ts';
import type { RowIssue, ValidationReport } from '../validation-report.ts';
import { detectRowLayout, type FieldOverrides, type JsonRecord } from './json-rows.ts';
import {
  type EmbeddedImage,
  type ImageCell,
  isImageCell,
  type TableRecord,
  type TabularTable,
} from './table.ts';

export type TableSourceOptions = RowOptions;

/** Rows looked at to recognise the row format and its fields. */
const LAYOUT_SAMPLE = 200;

function embeddedSource(name: string, bytes: EmbeddedImage): ImageSource {
  return { name, read: () => bytes.read() };
}

/** Indexes and validates every record of `table`; `files` are the dropped files path-only images are found in. */
export async function openTableDataset(
  table: TabularTable,
  files: DroppedFiles,
  options: TableSourceOptions = {},
): Promise<Dataset> {
  const iterator = table.records()[Symbol.asyncIterator]();
  // A cell's head bytes are valid only while its record is current: read every header on arrival.
  const headers = new WeakMap<ImageCell, HeaderResult>();
  const pull = async (): Promise<TableRecord | undefined> => {
    const next = await iterator.next();
    if (next.done) return undefined;
    for (const column of table.imageColumns) {
      const cell = next.value.value[column];
      if (isImageCell(cell) && cell.bytes !== undefined) headers.set(cell, readImageHeader(cell.bytes.head));
    }
    return next.value;
  };
  const head: TableRecord[] = [];
  while (head.length < LAYOUT_SAMPLE) {
    const rec = await pull();
    if (rec === undefined) break;
    head.push(rec);
  }
  const overrides: FieldOverrides = { ...options.fields };
  if (overrides.image === undefined && table.imageColumns.length > 0) {
    overrides.image = table.imageColumns[0] as string;
  }
  const layout = detectRowLayout(head as JsonRecord[], overrides, table.source);
  const isFile = files.some((f) => f.path === table.source);
  const resolver = new ImageResolver(files, isFile ? table.source : `${table.source}/_`);

  const early: RowIssue[] = [];
  const pending: PendingRow[] = [];
  let rowsRead = 0;
  const take = (rec: TableRecord) => {
    rowsRead++;
    const p = startRow(rec.value, rec, layout);
    if (!('raw' in p)) {
      early.push(p);
      return;
    }
    pending.push(p);
    const cell = layout.fields.image === undefined ? undefined : rec.value[layout.fields.image];
    const name = p.raw.image ?? `${table.source}#${rec.row}`;
    if (isImageCell(cell) && cell.bytes !== undefined) {
      p.image = embeddedSource(name, cell.bytes);
      const header = headers.get(cell) ?? readImageHeader(cell.bytes.head);
      if (header.kind === 'size') p.imageSize = { width: header.width, height: header.height };
      else if (header.kind === 'unknown') {
        skipRow(p, 'undecodable-image', `${name}: not a PNG, JPEG, WebP, GIF or BMP image`);
      } else if (header.kind === 'corrupt') skipRow(p, 'undecodable-image', `${name}: ${header.detail}`);
      return;
    }
    if (p.raw.image === undefined) {
      skipRow(p, 'missing-image', `no image (column ${layout.fields.image ?? 'none found'} is empty)`);
      return;
    }
    const found = resolver.resolve(p.raw.image);
    if (found) p.image = fileImageSource(found.file);
    else {
      skipRow(
        p,
        'missing-image',
        `image ${p.raw.image} is not embedded in the table and not found among the dropped files`,
      );
    }
  };
  for (const rec of head) take(rec);
  for (let rec = await pull(); rec !== undefined; rec = await pull()) take(rec);

  const extra: Partial<ValidationReport> = {};
  if (table.split !== undefined) extra.split = table.split;
  if (table.splits !== undefined) extra.splits = [...table.splits];
  return completeDataset({
    pending,
    early,
    layout,
    options,
    source: table.source,
    container: table.container,
    rowsRead,
    extra,
  });
}
