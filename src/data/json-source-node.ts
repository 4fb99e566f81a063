// Node entry for JSON / JSONL datasets: a path (the annotation file, or a folder holding one plus its
// images) opened with the files on disk and the Node image decoder.

import { stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { DatasetFormatError } from './errors.ts';
import { droppedFilesFromDirectory } from './files-node.ts';
import { decodeImage } from './image-decode-node.ts';
import { type JsonDataset, type JsonSourceOptions, openJsonDataset } from './json-source.ts';

/**
 * Opens `path`: a .json / .jsonl file (its folder, recursively, is the set images are looked up in)
 * or a folder holding exactly one such file. Throws DatasetFormatError when the path does not exist.
 */
export async function openJsonDatasetAt(
  path: string,
  options: Omit<JsonSourceOptions, 'decode' | 'annotation'> = {},
): Promise<JsonDataset> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) {
    throw new DatasetFormatError(
      path,
      'no such file or folder; give a JSON / JSONL file or a folder holding one',
    );
  }
  if (info.isDirectory()) {
    return openJsonDataset(await droppedFilesFromDirectory(path), { ...options, decode: decodeImage });
  }
  const files = await droppedFilesFromDirectory(dirname(path));
  return openJsonDataset(files, { ...options, decode: decodeImage, annotation: basename(path) });
}
