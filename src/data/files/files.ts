// The set of files a person dropped (a folder, loose files): paths relative to the drop, sizes and
// lazy reads; built from browser File objects here (Node builds it in files-node.ts). Also resolves
// the image paths written in annotation files against the set.

/** One dropped file: `path` is relative to the drop ('/'-separated); bytes are read on demand. */
export interface DroppedFile {
  readonly path: string;
  readonly size: number;
  read(): Promise<Uint8Array>;
  /** Bytes [start, end) only (clamped to the file), without reading the rest where the store allows. */
  readRange(start: number, end: number): Promise<Uint8Array>;
}

export type DroppedFiles = readonly DroppedFile[];

/** A DroppedFile over bytes already in memory (fixtures, decompressed entries). */
export function droppedFileFromBytes(path: string, data: Uint8Array): DroppedFile {
  // A plain view: subclasses such as Node's Buffer change what slice() means.
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return {
    path: normalisePath(path),
    size: bytes.length,
    read: async () => bytes,
    readRange: async (start, end) =>
      bytes.subarray(Math.max(0, start), Math.max(0, Math.min(end, bytes.length))),
  };
}

/** Browser: one File (or Blob) as the DroppedFile at `path`, read lazily by slices. */
export function droppedFileFromFile(file: Blob, path: string): DroppedFile {
  return {
    path: normalisePath(path),
    size: file.size,
    read: async () => new Uint8Array(await file.arrayBuffer()),
    readRange: async (start, end) => new Uint8Array(await file.slice(start, end).arrayBuffer()),
  };
}

/** Browser: files from an <input webkitdirectory> or a drop; folders keep their webkitRelativePath. */
export function droppedFilesFromFileList(files: Iterable<File>): DroppedFile[] {
  return [...files].map((file) => droppedFileFromFile(file, file.webkitRelativePath || file.name));
}

/** '/'-separated, no leading '../' or '/', no empty or '.' segments; '..' folded where possible. */
export function normalisePath(path: string): string {
  const parts: string[] = [];
  for (const seg of path.replace(/\\/g, '/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..' && parts.length > 0 && parts[parts.length - 1] !== '..') parts.pop();
    else parts.push(seg);
  }
  return parts.join('/');
}

/** The folder part of a '/'-separated path ('' at the top). */
export function dirname(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** The last segment of a '/'-separated path. */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** How an image reference was found: as written (relative to the annotation file or the drop root) or by its file name. */
export type Resolution = 'path' | 'name';

/**
 * Finds the files that annotation rows name. Order: the path as written, relative to the annotation
 * file's folder, then to the root of the drop; then the file name anywhere in the drop (the
 * tutorial's rows hold absolute paths of their author's machine), preferring the candidate whose
 * folders match the written path longest.
 */
export class ImageResolver {
  private readonly byPath = new Map<string, DroppedFile>();
  private readonly byName = new Map<string, DroppedFile[]>();
  private readonly baseDir: string;

  constructor(files: DroppedFiles, annotationPath: string) {
    this.baseDir = dirname(normalisePath(annotationPath));
    for (const f of files) {
      const p = normalisePath(f.path);
      this.byPath.set(p, f);
      const name = basename(p);
      const list = this.byName.get(name);
      if (list) list.push(f);
      else this.byName.set(name, [f]);
    }
  }

  resolve(written: string): { file: DroppedFile; how: Resolution } | undefined {
    const rel = normalisePath(written);
    if (!written.startsWith('/') && !/^[A-Za-z]:[\\/]/.test(written)) {
      const candidates = this.baseDir ? [`${this.baseDir}/${rel}`, rel] : [rel];
      for (const c of candidates) {
        const f = this.byPath.get(normalisePath(c));
        if (f) return { file: f, how: 'path' };
      }
    }
    const list = this.byName.get(basename(rel));
    if (!list || list.length === 0) return undefined;
    if (list.length === 1) return { file: list[0] as DroppedFile, how: 'name' };
    const want = rel.split('/').reverse();
    let best = list[0] as DroppedFile;
    let bestScore = -1;
    for (const f of list) {
      const have = normalisePath(f.path).split('/').reverse();
      let score = 0;
      while (score < want.length && score < have.length && want[score] === have[score]) score++;
      if (score > bestScore) {
        best = f;
        bestScore = score;
      }
    }
    return { file: best, how: 'name' };
  }
}
