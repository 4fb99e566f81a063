// Node: the dropped-file set (files.ts) built from a folder on disk, read lazily.

import { readdir, readFile, stat } from 'node:fs/promises';
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
      else if (e.isFile()) {
        const size = (await stat(full)).size;
        out.push({
          path: relative(dir, full).split(sep).join('/'),
          size,
          read: async () => new Uint8Array(await readFile(full)),
        });
      }
    }
  };
  await walk(dir);
  return out;
}
