// Opens whatever a person dropped as a grounding dataset: a zip (read lazily, then looked into), an
// HF save_to_disk folder, Parquet files, or a JSON / JSONL annotation file with its images; the
// source is recognised from the files, not from a setting.

import type { Dataset } from './dataset.ts';
import { DatasetFormatError } from './errors.ts';
import type { DroppedFiles } from './files/files.ts';
import { isZipFile, looksLikeZip, openZip } from './files/zip.ts';
import type { RowOptions } from './row-validation.ts';
import { looksLikeHfArrow, openHfArrowDataset } from './sources/arrow-source.ts';
import { openJsonDataset } from './sources/json-source.ts';
import { looksLikeParquet, openParquetDataset } from './sources/parquet-source.ts';
import { openTableDataset } from './sources/table-source.ts';

export interface OpenDatasetOptions extends RowOptions {
  /** The split of an HF DatasetDict folder or a hub Parquet layout (default: train, or the only one). */
  split?: string;
  /** The annotation file of a JSON / JSONL dataset, when the drop holds several. */
  annotation?: string;
  /** The reader to use, instead of recognising it from the files. */
  kind?: SourceKind;
}

export type SourceKind = 'zip' | 'hf-arrow' | 'parquet' | 'json';

/** Which reader a set of dropped files goes to. */
export function detectSourceKind(files: DroppedFiles): SourceKind {
  if (looksLikeHfArrow(files)) return 'hf-arrow';
  if (looksLikeParquet(files)) return 'parquet';
  if (files.some((f) => /\.jsonl?$/i.test(f.path))) return 'json';
  const zips = files.filter(isZipFile);
  if (zips.length === 1) return 'zip';
  if (zips.length > 1) {
    throw new DatasetFormatError(
      'the dropped files',
      `${zips.length} zip files (${zips
        .slice(0, 3)
        .map((z) => z.path)
        .join(', ')}); drop one zip at a time`,
    );
  }
  throw new DatasetFormatError(
    'the dropped files',
    'no dataset found: drop an HF save_to_disk folder (state.json + .arrow files), Parquet files, ' +
      'a JSON / JSONL annotation file with its images, or a zip of one of these',
  );
}

/** detectSourceKind, plus a single file whose bytes, not its name, say it is a zip. */
async function sourceKindOf(files: DroppedFiles): Promise<SourceKind> {
  try {
    return detectSourceKind(files);
  } catch (e) {
    if (files.length === 1 && (await looksLikeZip(files[0] as DroppedFiles[number]))) return 'zip';
    throw e;
  }
}

/** Opens the dropped files as a dataset; see OpenDatasetOptions. Row problems go in the report. */
export async function openDataset(files: DroppedFiles, options: OpenDatasetOptions = {}): Promise<Dataset> {
  const kind = options.kind ?? (options.annotation === undefined ? await sourceKindOf(files) : 'json');
  const split = options.split === undefined ? {} : { split: options.split };
  switch (kind) {
    case 'zip': {
      const zip = files.find(isZipFile) ?? files[0];
      if (zip === undefined) throw new DatasetFormatError('the dropped files', 'nothing was dropped');
      const entries = await openZip(zip);
      if (entries.some(isZipFile) && !entries.some((e) => !isZipFile(e))) {
        throw new DatasetFormatError(
          zip.path,
          'the zip holds only other zips; unpack it and drop the inner zip',
        );
      }
      const { kind: _zip, ...inner } = options;
      const dataset = await openDataset(entries, inner);
      dataset.report.zip = zip.path;
      return dataset;
    }
    case 'hf-arrow':
      return openTableDataset(await openHfArrowDataset(files, split), files, options);
    case 'parquet':
      return openTableDataset(await openParquetDataset(files, split), files, options);
    case 'json':
      return openJsonDataset(files, options);
  }
}
