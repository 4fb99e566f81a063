// Node-only byte sources: a file on disk read at offsets through a FileHandle, and an opener over a
// directory (for checkpoints on disk).
import { type FileHandle, open } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ByteSource, SourceOpener } from './byte-source.ts';

/** Node's fs reads at most 2 GiB - 1 per call; large tensors are read in chunks. */
const MAX_CHUNK = 1 << 30;

export interface FileByteSource extends ByteSource {
  close(): Promise<void>;
}

/** Opens `path` for random-access reads; call `close()` when done. */
export async function fileSource(path: string): Promise<FileByteSource> {
  const handle: FileHandle = await open(path, 'r');
  let size: number;
  try {
    size = (await handle.stat()).size;
  } catch (error) {
    await handle.close();
    throw error;
  }
  const name = basename(path);
  let closed = false;
  return {
    name,
    size,
    async read(offset, length) {
      if (closed) throw new Error(`${name}: read after close`);
      if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
        throw new RangeError(`${name}: invalid read of ${length} bytes at offset ${offset}`);
      }
      if (offset + length > size) {
        throw new RangeError(
          `${name}: read of ${length} bytes at offset ${offset} runs past the end (${size} bytes)`,
        );
      }
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const chunk = Math.min(MAX_CHUNK, length - done);
        const { bytesRead } = await handle.read(out, done, chunk, offset + done);
        if (bytesRead === 0)
          throw new RangeError(`${name}: file ended at ${offset + done} bytes (was it truncated?)`);
        done += bytesRead;
      }
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
    },
  };
}

/** An opener over a directory: a missing file gives undefined, other errors are thrown. */
export function directoryOpener(dir: string): SourceOpener {
  return async (file) => {
    try {
      return await fileSource(join(dir, file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  };
}
