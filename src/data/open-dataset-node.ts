// Node entry for datasets: a path on disk (a folder, an annotation file, a Parquet / Arrow file or a
// zip) opened as the dropped files it stands for, with the Node image decoder.

import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Dataset } from './dataset.ts';
import { DatasetFormatError } from './errors.ts';
import { type DroppedFile, normalisePath } from './files/files.ts';
import { droppedFileAt, droppedFilesFromDirectory } from './files/files-node.ts';
import { decodeImage } from './image/image-decode-node.ts';
import { type OpenDatasetOptions, openDataset } from './open-dataset.ts';

const TABLE_FILE = /\.(parquet|arrow)$/i;
const SHARD_LISTS = new Set(['state.json', 'dataset_dict.json']);

/**
 * Opens `path`: a folder (its files, recursively), a zip, a .json / .jsonl file (its folder is where
 * images are looked up), or one .parquet / .arrow file (its folder's other table files left out).
 */
export async function openDatasetAt(
  path: string,
  options: Omit<OpenDatasetOptions, 'decode' | 'annotation'> = {},
): Promise<Dataset> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) {
    throw new DatasetFormatError(
      path,
      'no such file or folder; give a dataset folder, a zip, a Parquet file or a JSON / JSONL file',
    );
  }
  const withDecoder = { ...options, decode: decodeImage };
  if (info.isDirectory()) {
    return onDisk(await openDataset(await droppedFilesFromDirectory(path), withDecoder), path);
  }
  const name = basename(path);
  if (/\.zip$/i.test(name)) {
    return onDisk(await openDataset([await droppedFileAt(path, name)], withDecoder), dirname(path));
  }
  const siblings = await droppedFilesFromDirectory(dirname(path));
  if (TABLE_FILE.test(name)) {
    // One shard on its own: its folder's other shards left out, and with them the state.json /
    // dataset_dict.json that would ask for those (dataset_info.json still names the Image columns).
    const files: DroppedFile[] = siblings.filter(
      (f) => (!TABLE_FILE.test(f.path) && !SHARD_LISTS.has(basename(f.path))) || f.path === name,
    );
    const kind = /\.parquet$/i.test(name) ? 'parquet' : 'hf-arrow';
    return onDisk(await openDataset(files, { ...withDecoder, kind }), dirname(path));
  }
  return onDisk(
    await openDataset(siblings, { ...withDecoder, annotation: normalisePath(name) }),
    dirname(path),
  );
}

/** Names the report's source (or zip) by its place on disk rather than within the folder opened. */
function onDisk(dataset: Dataset, folder: string): Dataset {
  const r = dataset.report;
  if (r.zip !== undefined) r.zip = join(folder, r.zip);
  else r.source = join(folder, r.source);
  return dataset;
}
