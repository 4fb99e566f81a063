// Node: the dropped-file set (files.ts) built from a folder on disk, read lazily.

import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { DroppedFile } from './files.ts';

/** Every regular file under `dir` (recursively, hidden entries skipped), paths relative to `dir`. */
export async function droppedFilesFromDirectory(dir: string): Promise<DroppedFile[]> {
  const out: DroppedFile[] = [];
  const walk = async (at: string): Promise<void> => {
    const entries = await readdir(at, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const full = join(at, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push(await droppedFileAt(full, relative(dir, full).split(sep).join('/')));
    }
  };
  await walk(dir);
  return out;
}

/** Bytes [start, end) of a file on disk (clamped to its size). */
async function readFileRange(path: string, start: number, end: number): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const size = (await handle.stat()).size;
    const from = Math.max(0, Math.min(start, size));
    const length = Math.max(0, Math.min(end, size) - from);
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(out, done, length - done, from + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done === length ? out : out.subarray(0, done);
  } finally {
    await handle.close();
  }
}

/** The DroppedFile for one file on disk, named `path` within the drop. */
export async function droppedFileAt(full: string, path: string): Promise<DroppedFile> {
  const size = (await stat(full)).size;
  return {
    path,
    size,
    read: async () => new Uint8Array(await readFile(full)),
    readRange: (start, end) => readFileRange(full, start, end),
  };
}
