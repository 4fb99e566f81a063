// Random-access byte sources, so checkpoints stream tensor by tensor instead of being held whole in
// memory: a browser File / Blob, an in-memory buffer, and (in byte-source-node.ts) a file on disk.

/** Random-access read-only bytes. `read` returns exactly `length` bytes or throws. */
export interface ByteSource {
  readonly name: string;
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Releases what the source holds open (a file handle); sources that hold nothing omit it. */
  close?(): Promise<void>;
}

/** Gives the source for a file name inside a checkpoint folder, or undefined when there is none. */
export type SourceOpener = (file: string) => Promise<ByteSource | undefined>;

function checkRange(name: string, size: number, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`${name}: invalid read of ${length} bytes at offset ${offset}`);
  }
  if (offset + length > size) {
    throw new RangeError(
      `${name}: read of ${length} bytes at offset ${offset} runs past the end (${size} bytes)`,
    );
  }
}

/** A browser File or Blob (also Node's Blob); reads slices on demand. */
export function blobSource(blob: Blob, name?: string): ByteSource {
  const sourceName = name ?? (typeof File !== 'undefined' && blob instanceof File ? blob.name : 'blob');
  return {
    name: sourceName,
    size: blob.size,
    async read(offset, length) {
      checkRange(sourceName, blob.size, offset, length);
      return new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer());
    },
  };
}

/** Bytes already in memory (a generated file, one read whole). `read` returns copies. */
export function bytesSource(bytes: Uint8Array, name = 'bytes'): ByteSource {
  return {
    name,
    size: bytes.byteLength,
    async read(offset, length) {
      checkRange(name, bytes.byteLength, offset, length);
      return bytes.slice(offset, offset + length);
    },
  };
}

/**
 * An opener over dropped files (a folder drop or a multi-file input): matches by base name, so
 * `webkitRelativePath` folders do not matter.
 */
export function filesOpener(files: Iterable<File>): SourceOpener {
  const byName = new Map<string, File>();
  for (const file of files) byName.set(file.name.split('/').pop()!, file);
  return async (name) => {
    const file = byName.get(name);
    return file ? blobSource(file, name) : undefined;
  };
}
