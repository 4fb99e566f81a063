// Row validation shared by every source: rows are gathered as PendingRow (raw fields plus where the
// image is), image sizes filled in from the images' headers (or full decodes when asked), the box
// format decided over the whole dataset, then every box converted, bounds-checked and clamped or
// rejected, each problem recorded with its reason.

import {
  type Box,
  type BoxFormat,
  type BoxSample,
  checkBox,
  detectBoxFormat,
  toPixelBox,
} from './box-format.ts';
import {
  type Dataset,
  type ImageDecoder,
  type ImageSource,
  type IndexedRow,
  requireDecoder,
} from './dataset.ts';
import { DatasetFormatError, ImageDecodeError } from './errors.ts';
import type { DroppedFile } from './files/files.ts';
import { readImageHeader, readImageSize } from './image/image-header.ts';
import {
  type FieldOverrides,
  layoutSuggestedBy,
  type RawRow,
  type RowLayout,
  readRow,
} from './sources/json-rows.ts';
import type { RowIssue, ValidationReport } from './validation-report.ts';

export interface PendingRow {
  row: number;
  /** 1-based line in a JSONL file. */
  line?: number;
  raw: RawRow;
  image?: ImageSource;
  /** The size the image itself has (from its header), when already known. */
  imageSize?: { width: number; height: number };
  issues: RowIssue[];
}

export function fileImageSource(file: DroppedFile): ImageSource {
  return {
    name: file.path,
    size: file.size,
    read: () => file.read(),
    readRange: (start, end) => file.readRange(start, end),
  };
}

function where(p: { line?: number | undefined }): { line?: number } {
  return p.line === undefined ? {} : { line: p.line };
}

export function skipRow(p: PendingRow, reason: RowIssue['reason'], detail: string): void {
  p.issues.push({ row: p.row, ...where(p), reason, action: 'skipped', detail });
}

function isSkipped(p: PendingRow): boolean {
  return p.issues.some((i) => i.action === 'skipped');
}

/** A row object read with `layout`: its question and box problems recorded; the image is the caller's. */
export function startRow(
  value: unknown,
  at: { row: number; line?: number | undefined },
  layout: RowLayout,
): PendingRow | RowIssue {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return {
      row: at.row,
      ...where(at),
      reason: 'not-an-object',
      action: 'skipped',
      detail: 'the row is not an object',
    };
  }
  const raw = readRow(value as Record<string, unknown>, layout);
  const p: PendingRow = { row: at.row, ...where(at), raw, issues: [] };
  if (raw.question === undefined)
    skipRow(p, 'missing-question', `no question (field ${layout.fields.question ?? 'none found'})`);
  if (raw.boxes.kind === 'none') skipRow(p, 'missing-box', `no box (field ${layout.fields.box})`);
  else if (raw.boxes.kind === 'non-numeric') skipRow(p, 'non-numeric-box', raw.boxes.detail);
  else if (raw.boxes.boxes.length > 1) {
    p.issues.push({
      row: p.row,
      ...where(p),
      reason: 'multiple-boxes',
      action: 'kept',
      detail: `${raw.boxes.boxes.length} boxes; the first is used`,
    });
  }
  return p;
}

/** The size in an image's header, reading only a prefix where the source allows. */
async function headerSize(src: ImageSource): Promise<{ width: number; height: number }> {
  if (src.readRange !== undefined && src.size !== undefined) {
    const readRange = src.readRange.bind(src);
    return readImageSize({ size: src.size, readRange }, src.name);
  }
  const header = readImageHeader(await src.read());
  if (header.kind === 'size') return header;
  throw new ImageDecodeError(
    src.name,
    header.kind === 'unknown' ? 'unsupported' : 'corrupt',
    header.kind === 'unknown'
      ? 'not a PNG, JPEG, WebP, GIF or BMP image (unrecognised signature)'
      : header.kind === 'corrupt'
        ? header.detail
        : 'the image header is cut short: the file is truncated',
  );
}

const SIZE_READS_IN_FLIGHT = 16;

/**
 * Gives every row that is still usable its image size: a size the row states is checked against
 * the image's own when that is known (embedded headers; every image with `decode`), a missing one
 * read from the header. Unreadable images and size mismatches skip the row.
 */
async function fillImageSizes(
  pending: readonly PendingRow[],
  decode: ImageDecoder | undefined,
  onProgress: ((indexed: number, total: number) => void) | undefined,
): Promise<void> {
  const work = pending.filter((p) => !isSkipped(p) && p.image !== undefined);
  onProgress?.(0, work.length);
  const one = async (p: PendingRow) => {
    const src = p.image as ImageSource;
    let actual = p.imageSize;
    try {
      if (decode !== undefined) {
        const img = await decode(await src.read(), src.name);
        actual = { width: img.width, height: img.height };
      } else if (actual === undefined && (p.raw.width === undefined || p.raw.height === undefined)) {
        actual = await headerSize(src);
      }
    } catch (e) {
      // A zip entry or table cell that cannot be read spoils that row only.
      if (!(e instanceof ImageDecodeError || e instanceof DatasetFormatError)) throw e;
      skipRow(p, 'undecodable-image', e.message);
      return;
    }
    if (actual === undefined) return;
    const { width, height } = p.raw;
    if (
      (width !== undefined && width !== actual.width) ||
      (height !== undefined && height !== actual.height)
    ) {
      skipRow(
        p,
        'image-size-mismatch',
        `the row says ${width ?? '?'}x${height ?? '?'}, ${src.name} is ${actual.width}x${actual.height}`,
      );
      return;
    }
    p.raw.width = actual.width;
    p.raw.height = actual.height;
  };
  for (let i = 0; i < work.length; i += SIZE_READS_IN_FLIGHT) {
    await Promise.all(work.slice(i, i + SIZE_READS_IN_FLIGHT).map(one));
    onProgress?.(Math.min(work.length, i + SIZE_READS_IN_FLIGHT), work.length);
  }
}

interface FinishedRows {
  rows: IndexedRow[];
  /** Every issue of the pending rows, sorted by row. */
  issues: RowIssue[];
  repaired: number;
  boxFormat: BoxFormat | null;
  boxFormatSource: 'override' | 'detected';
  boxFormatReason: string;
}

/**
 * Decides the box format over all rows (unless given), converts and checks every box, and returns
 * the usable rows. Boxes of rows skipped for other reasons are checked too, so every problem is listed.
 */
function finishRows(pending: readonly PendingRow[], layout: RowLayout, boxFormat?: BoxFormat): FinishedRows {
  const samples: BoxSample[] = [];
  for (const p of pending) {
    if (p.raw.boxes.kind === 'boxes') {
      samples.push({ values: p.raw.boxes.boxes[0] as number[], width: p.raw.width, height: p.raw.height });
    }
  }
  const decision =
    boxFormat !== undefined
      ? { format: boxFormat, reason: 'given' }
      : detectBoxFormat(
          samples,
          layout.layout,
          layout.format === 'vlm-r1-rec' || layout.format === 'r1v' ? 'xyxy' : undefined,
          layoutSuggestedBy(layout),
        );

  const rows: IndexedRow[] = [];
  const issues: RowIssue[] = [];
  let repaired = 0;
  for (const p of pending) {
    if (decision.format !== null && p.raw.boxes.kind === 'boxes') {
      const box = checkedBox(p, p.raw.boxes.boxes[0] as number[], decision.format);
      const { width, height, image: ref, question } = p.raw;
      if (
        !isSkipped(p) &&
        box !== undefined &&
        p.image !== undefined &&
        question !== undefined &&
        width !== undefined &&
        height !== undefined
      ) {
        const r: IndexedRow = {
          row: p.row,
          imageRef: ref ?? p.image.name,
          image: p.image,
          question,
          box,
          width,
          height,
        };
        if (p.raw.answer !== undefined) r.answer = p.raw.answer;
        if (p.issues.some((i) => i.action === 'repaired')) repaired++;
        rows.push(r);
      }
    }
    issues.push(...p.issues);
  }
  issues.sort((a, b) => a.row - b.row);
  return {
    rows,
    issues,
    repaired,
    boxFormat: decision.format,
    boxFormatSource: boxFormat !== undefined ? 'override' : 'detected',
    boxFormatReason: decision.reason,
  };
}

function checkedBox(p: PendingRow, values: number[], format: BoxFormat): Box | undefined {
  const { width, height } = p.raw;
  const pixel = toPixelBox(values, format, width, height);
  if (pixel === undefined) {
    if (!isSkipped(p)) {
      skipRow(p, 'unknown-image-size', 'normalised boxes need the image size, and it could not be read');
    }
    return undefined;
  }
  if (width === undefined || height === undefined) {
    if (!isSkipped(p)) skipRow(p, 'unknown-image-size', 'the image size could not be read');
  }
  const check = checkBox(pixel, width, height);
  const shown = `[${pixel.map((v) => +v.toFixed(2)).join(', ')}]`;
  const size = `${width}x${height}`;
  switch (check.outcome) {
    case 'degenerate':
      skipRow(p, 'degenerate-box', `box ${shown} has no area`);
      return undefined;
    case 'outside':
      skipRow(
        p,
        'box-outside-image',
        `box ${shown} goes ${+check.overshoot.toFixed(2)} px outside the ${size} image`,
      );
      return undefined;
    case 'clamped':
      p.issues.push({
        row: p.row,
        ...where(p),
        reason: 'box-clamped',
        action: 'repaired',
        detail: `box ${shown} goes ${+check.overshoot.toFixed(2)} px outside the ${size} image; clamped`,
      });
      return check.box;
    case 'ok':
      return check.box;
  }
}

/** What every source takes for its rows. */
export interface RowOptions {
  /** Field names replacing the detected ones. */
  fields?: FieldOverrides;
  /** The box format; required when the report says the detected one is ambiguous. */
  boxFormat?: BoxFormat;
  decode?: ImageDecoder;
  /** Decode every image while loading, to report undecodable ones and check sizes. */
  checkImages?: boolean;
  /** Hears how many rows have had their image checked (indexed) of those that need it, as it goes. */
  onProgress?: (indexed: number, total: number) => void;
}

/**
 * Finishes a source's pending rows into its Dataset: image sizes filled in, boxes decided and
 * checked, the report built with `early` (rows rejected before becoming pending) among the issues.
 */
export async function completeDataset(args: {
  pending: readonly PendingRow[];
  early: readonly RowIssue[];
  layout: RowLayout;
  options: RowOptions;
  source: string;
  container: ValidationReport['container'];
  rowsRead: number;
  extra?: Partial<ValidationReport>;
}): Promise<Dataset> {
  const { pending, layout, options } = args;
  if (options.checkImages) requireDecoder(options.decode);
  await fillImageSizes(pending, options.checkImages ? options.decode : undefined, options.onProgress);
  const f = finishRows(pending, layout, options.boxFormat);
  const report: ValidationReport = {
    source: args.source,
    container: args.container,
    format: layout.format,
    columns: layout.columns,
    rows: args.rowsRead,
    usable: f.rows.length,
    repaired: f.repaired,
    issues: [...args.early, ...f.issues].sort((a, b) => a.row - b.row),
    fields: layout.fields,
    boxFormat: f.boxFormat,
    boxFormatSource: f.boxFormatSource,
    boxFormatReason: f.boxFormatReason,
    ...args.extra,
  };
  if (f.boxFormat === null) {
    report.ambiguity = `${f.boxFormatReason}; the box format must be given (xyxy, xywh, norm1 or norm1000)`;
  }
  const decode = options.decode;
  return {
    report,
    rows: f.rows,
    loadImage: async (row) => requireDecoder(decode)(await row.image.read(), row.image.name),
  };
}
