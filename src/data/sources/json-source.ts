// JSON / JSONL grounding datasets with image files: the annotation file found among the dropped
// files, its rows read and validated (row-validation.ts), their images resolved by path or file name.
// Browser and Node alike: the decoder is passed in.

import type { Dataset } from '../dataset.ts';
import { DatasetFormatError } from '../errors.ts';
import { type DroppedFile, type DroppedFiles, ImageResolver, normalisePath } from '../files/files.ts';
import {
  completeDataset,
  fileImageSource,
  type PendingRow,
  type RowOptions,
  skipRow,
  startRow,
} from '../row-validation.ts';
import type { RowIssue } from '../validation-report.ts';
import { detectRowLayout, parseJsonRecords } from './json-rows.ts';

export interface JsonSourceOptions extends RowOptions {
  /** Path (within the files) of the annotation file; default: the one .json / .jsonl file. */
  annotation?: string;
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

/**
 * Reads, indexes and validates a JSON / JSONL dataset. Bad rows go in the report, never throw.
 * Image sizes the rows do not state are read from the image headers; pixels are decoded only with
 * options.checkImages, or later through loadImage.
 */
export async function openJsonDataset(
  files: DroppedFiles,
  options: JsonSourceOptions = {},
): Promise<Dataset> {
  const annotation =
    options.annotation === undefined
      ? findAnnotationFile(files)
      : files.find((f) => normalisePath(f.path) === normalisePath(options.annotation as string));
  if (annotation === undefined) {
    throw new DatasetFormatError(options.annotation as string, 'annotation file not among the dropped files');
  }
  const text = new TextDecoder().decode(await annotation.read());
  const parsed = parseJsonRecords(text, annotation.path);
  const early: RowIssue[] = parsed.badLines.map((b) => ({
    row: b.row,
    line: b.line,
    reason: 'bad-json',
    action: 'skipped',
    detail: b.detail,
  }));
  const layout = detectRowLayout(parsed.records, options.fields ?? {}, annotation.path);
  const resolver = new ImageResolver(files, annotation.path);

  const pending: PendingRow[] = [];
  for (const rec of parsed.records) {
    const p = startRow(rec.value, rec, layout);
    if (!('raw' in p)) {
      early.push(p);
      continue;
    }
    if (p.raw.image === undefined)
      skipRow(p, 'missing-image', `no image reference (field ${layout.fields.image})`);
    else {
      const found = resolver.resolve(p.raw.image);
      if (found) p.image = fileImageSource(found.file);
      else
        skipRow(
          p,
          'missing-image',
          `image ${p.raw.image} not found among the dropped files (by path or file name)`,
        );
    }
    pending.push(p);
  }
  return completeDataset({
    pending,
    early,
    layout,
    options,
    source: annotation.path,
    container: parsed.kind,
    rowsRead: parsed.records.length + parsed.badLines.length,
  });
}
