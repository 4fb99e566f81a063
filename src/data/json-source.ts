// JSON / JSONL grounding datasets with image files: rows indexed and validated up front into
// JsonRows (canonical pixel boxes) plus a ValidationReport; images decoded only on demand.
// Browser and Node alike: the decoder is passed in (json-source-node.ts passes the Node one).

import type { RgbImage } from '../model/image-processor.ts';
import {
  type Box,
  type BoxFormat,
  type BoxSample,
  checkBox,
  detectBoxFormat,
  toPixelBox,
} from './box-format.ts';
import { DatasetFormatError, ImageDecodeError } from './errors.ts';
import { type DroppedFile, type DroppedFiles, ImageResolver, normalisePath } from './files.ts';
import { detectRowLayout, type FieldOverrides, parseJsonRecords, type RawRow, readRow } from './json-rows.ts';
import type { GroundingRow } from './row.ts';
import type { RowIssue, ValidationReport } from './validation-report.ts';

export type ImageDecoder = (bytes: Uint8Array, name: string) => RgbImage | Promise<RgbImage>;

export interface JsonSourceOptions {
  /** Path (within the files) of the annotation file; default: the one .json / .jsonl file. */
  annotation?: string;
  fields?: FieldOverrides;
  /** The box format; required when the report says the detected one is ambiguous. */
  boxFormat?: BoxFormat;
  decode?: ImageDecoder;
  /** Decode every referenced image while loading, to report undecodable ones and check sizes. */
  checkImages?: boolean;
}

/** A usable row of a JSON / JSONL file: canonical box in pixels of the original image. */
export interface JsonRow {
  /** 0-based index of the row in the annotation file. */
  row: number;
  /** The image reference as written in the row. */
  image: string;
  file: DroppedFile;
  question: string;
  answer?: string;
  /** The first box when the row has several (reported as 'multiple-boxes'). */
  box: Box;
  width?: number;
  height?: number;
}

export interface JsonDataset {
  report: ValidationReport;
  rows: JsonRow[];
  /** Decodes a row's image (throws ImageDecodeError for a bad file; needs options.decode). */
  loadImage(row: JsonRow): Promise<RgbImage>;
}

const NON_ANNOTATION = new Set(['dataset_info.json', 'state.json', 'dataset_dict.json']);

/** The annotation file of a dropped set: the only .json / .jsonl besides HF metadata files. */
export function findAnnotationFile(files: DroppedFiles): DroppedFile {
  const found = files.filter((f) => {
    const name = f.path.slice(f.path.lastIndexOf('/') + 1).toLowerCase();
    return /\.jsonl?$/.test(name) && !NON_ANNOTATION.has(name);
  });
  if (found.length === 1) return found[0] as DroppedFile;
  if (found.length === 0) {
    throw new DatasetFormatError('the dropped files', 'no .json or .jsonl annotation file found');
  }
  throw new DatasetFormatError(
    'the dropped files',
    `several annotation files (${found
      .slice(0, 5)
      .map((f) => f.path)
      .join(', ')}); choose one (the CLI: pass its path)`,
  );
}

interface Pending {
  row: number;
  raw: RawRow;
  file?: DroppedFile;
  issues: RowIssue[];
  line?: number;
}

/** Reads, indexes and validates a JSON / JSONL dataset. Bad rows go in the report, never throw. */
export async function openJsonDataset(
  files: DroppedFiles,
  options: JsonSourceOptions = {},
): Promise<JsonDataset> {
  const annotation =
    options.annotation === undefined
      ? findAnnotationFile(files)
      : files.find((f) => normalisePath(f.path) === normalisePath(options.annotation as string));
  if (annotation === undefined) {
    throw new DatasetFormatError(options.annotation as string, 'annotation file not among the dropped files');
  }
  const text = new TextDecoder().decode(await annotation.read());
  const parsed = parseJsonRecords(text, annotation.path);
  const issues: RowIssue[] = parsed.badLines.map((b) => ({
    row: b.row,
    line: b.line,
    reason: 'bad-json',
    action: 'skipped',
    detail: b.detail,
  }));
  const layout = detectRowLayout(parsed.records, options.fields ?? {}, annotation.path);
  const resolver = new ImageResolver(files, annotation.path);

  const pending: Pending[] = [];
  for (const rec of parsed.records) {
    const where = rec.line === undefined ? {} : { line: rec.line };
    if (rec.value === null || typeof rec.value !== 'object' || Array.isArray(rec.value)) {
      issues.push({
        row: rec.row,
        ...where,
        reason: 'not-an-object',
        action: 'skipped',
        detail: 'the row is not a JSON object',
      });
      continue;
    }
    const raw = readRow(rec.value as Record<string, unknown>, layout);
    const p: Pending = { row: rec.row, raw, issues: [], ...where };
    const skip = (reason: RowIssue['reason'], detail: string) =>
      p.issues.push({ row: rec.row, ...where, reason, action: 'skipped', detail });
    if (raw.question === undefined)
      skip('missing-question', `no question (field ${layout.fields.question ?? 'none found'})`);
    if (raw.boxes.kind === 'none') skip('missing-box', `no box (field ${layout.fields.box})`);
    else if (raw.boxes.kind === 'non-numeric') skip('non-numeric-box', raw.boxes.detail);
    else if (raw.boxes.boxes.length > 1) {
      p.issues.push({
        row: rec.row,
        ...where,
        reason: 'multiple-boxes',
        action: 'kept',
        detail: `${raw.boxes.boxes.length} boxes; the first is used`,
      });
    }
    if (raw.image === undefined) skip('missing-image', `no image reference (field ${layout.fields.image})`);
    else {
      const found = resolver.resolve(raw.image);
      if (found) p.file = found.file;
      else
        skip('missing-image', `image ${raw.image} not found among the dropped files (by path or file name)`);
    }
    pending.push(p);
  }

  const isSkipped = (p: Pending) => p.issues.some((i) => i.action === 'skipped');
  if (options.checkImages) {
    const decode = requireDecoder(options.decode);
    for (const p of pending) {
      if (isSkipped(p) || p.file === undefined) continue;
      try {
        const img = await decode(await p.file.read(), p.file.path);
        const { width, height } = p.raw;
        if ((width !== undefined && width !== img.width) || (height !== undefined && height !== img.height)) {
          p.issues.push({
            row: p.row,
            ...(p.line === undefined ? {} : { line: p.line }),
            reason: 'image-size-mismatch',
            action: 'skipped',
            detail: `the row says ${width ?? '?'}x${height ?? '?'}, ${p.file.path} is ${img.width}x${img.height}`,
          });
        }
        p.raw.width = img.width;
        p.raw.height = img.height;
      } catch (e) {
        if (!(e instanceof ImageDecodeError)) throw e;
        p.issues.push({
          row: p.row,
          ...(p.line === undefined ? {} : { line: p.line }),
          reason: 'undecodable-image',
          action: 'skipped',
          detail: e.message,
        });
      }
    }
  }

  const samples: BoxSample[] = [];
  for (const p of pending) {
    if (p.raw.boxes.kind === 'boxes') {
      samples.push({ values: p.raw.boxes.boxes[0] as number[], width: p.raw.width, height: p.raw.height });
    }
  }
  const decision =
    options.boxFormat !== undefined
      ? { format: options.boxFormat, reason: 'given' }
      : detectBoxFormat(samples, layout.layout, layout.format === 'vlm-r1-rec' ? 'xyxy' : undefined);

  const rows: JsonRow[] = [];
  let repaired = 0;
  for (const p of pending) {
    const where = p.line === undefined ? {} : { line: p.line };
    if (decision.format !== null && p.raw.boxes.kind === 'boxes') {
      // Boxes are checked even in rows skipped for other reasons, so that every problem is listed.
      const skippedAlready = isSkipped(p);
      const { width, height } = p.raw;
      const pixel = toPixelBox(p.raw.boxes.boxes[0] as number[], decision.format, width, height);
      let box: Box | undefined;
      if (pixel === undefined) {
        p.issues.push({
          row: p.row,
          ...where,
          reason: 'unknown-image-size',
          action: 'skipped',
          detail: `normalised boxes need the image size: the row has none (check images to read it)`,
        });
      } else {
        const check = checkBox(pixel, width, height);
        const shown = `[${pixel.map((v) => +v.toFixed(2)).join(', ')}]`;
        const size = `${width}x${height}`;
        if (check.outcome === 'degenerate') {
          p.issues.push({
            row: p.row,
            ...where,
            reason: 'degenerate-box',
            action: 'skipped',
            detail: `box ${shown} has no area`,
          });
        } else if (check.outcome === 'outside') {
          p.issues.push({
            row: p.row,
            ...where,
            reason: 'box-outside-image',
            action: 'skipped',
            detail: `box ${shown} goes ${+check.overshoot.toFixed(2)} px outside the ${size} image`,
          });
        } else if (check.outcome === 'clamped') {
          p.issues.push({
            row: p.row,
            ...where,
            reason: 'box-clamped',
            action: 'repaired',
            detail: `box ${shown} goes ${+check.overshoot.toFixed(2)} px outside the ${size} image; clamped`,
          });
          box = check.box;
        } else box = check.box;
      }
      if (
        !skippedAlready &&
        box !== undefined &&
        p.file !== undefined &&
        p.raw.image !== undefined &&
        p.raw.question !== undefined
      ) {
        const g: JsonRow = {
          row: p.row,
          image: p.raw.image,
          file: p.file,
          question: p.raw.question,
          box,
        };
        if (p.raw.answer !== undefined) g.answer = p.raw.answer;
        if (width !== undefined) g.width = width;
        if (height !== undefined) g.height = height;
        if (p.issues.some((i) => i.action === 'repaired')) repaired++;
        rows.push(g);
      }
    }
    issues.push(...p.issues);
  }
  issues.sort((a, b) => a.row - b.row);

  const report: ValidationReport = {
    source: annotation.path,
    format: layout.format,
    rows: parsed.records.length + parsed.badLines.length,
    usable: rows.length,
    repaired,
    issues,
    fields: layout.fields,
    boxFormat: decision.format,
    boxFormatSource: options.boxFormat !== undefined ? 'override' : 'detected',
    boxFormatReason: decision.reason,
  };
  if (decision.format === null) {
    report.ambiguity = `${decision.reason}; give the box format (--box-format / boxFormat: xyxy, xywh, norm1 or norm1000)`;
  }
  const decoder = options.decode;
  return {
    report,
    rows,
    loadImage: async (row) => requireDecoder(decoder)(await row.file.read(), row.file.path),
  };
}

function requireDecoder(decode: ImageDecoder | undefined): ImageDecoder {
  if (decode === undefined) {
    throw new DatasetFormatError('images', 'no image decoder was given (options.decode)');
  }
  return decode;
}

/**
 * The usable rows as the canonical GroundingRow (row.ts): id `SOURCE#ROW`. Rows whose file gives no
 * width / height have their image decoded once here to learn it (needs options.decode).
 */
export async function toGroundingRows(dataset: JsonDataset): Promise<GroundingRow[]> {
  const out: GroundingRow[] = [];
  for (const r of dataset.rows) {
    let { width, height } = r;
    if (width === undefined || height === undefined) {
      const img = await dataset.loadImage(r);
      width = img.width;
      height = img.height;
    }
    const g: GroundingRow = {
      id: `${dataset.report.source}#${r.row}`,
      width,
      height,
      question: r.question,
      box: r.box,
      image: () => dataset.loadImage(r),
    };
    if (r.answer !== undefined) g.answer = r.answer;
    out.push(g);
  }
  return out;
}
