// Browser: the files of a drag-and-drop, folders walked recursively (File and Directory Entries API),
// each with its path relative to the drop, as the app hands them to its worker.

/** A dropped file and its path within the drop ('/'-separated). */
export interface DroppedEntry {
  path: string;
  file: File;
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Every entry of a folder: readEntries returns them in batches until an empty one. */
async function childrenOf(dir: FileSystemDirectoryEntry): Promise<FileSystemEntry[]> {
  const reader = dir.createReader();
  const all: FileSystemEntry[] = [];
  for (;;) {
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject),
    );
    if (batch.length === 0) return all;
    all.push(...batch);
  }
}

async function walk(entry: FileSystemEntry, prefix: string, out: DroppedEntry[]): Promise<void> {
  if (entry.name.startsWith('.')) return;
  const path = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
  if (entry.isFile) out.push({ path, file: await fileOf(entry as FileSystemFileEntry) });
  else if (entry.isDirectory) {
    const children = await childrenOf(entry as FileSystemDirectoryEntry);
    children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const child of children) await walk(child, path, out);
  }
}

/**
 * The files of a drop: dropped folders are walked (paths keep the folder's name); browsers without
 * entries (or synthetic drops) give the plain file list. Must be called during the drop event, as
 * the DataTransfer is emptied afterwards; the walk itself may finish later.
 */
export function droppedEntries(transfer: DataTransfer): Promise<DroppedEntry[]> {
  const entries: FileSystemEntry[] = [];
  for (const item of Array.from(transfer.items)) {
    if (item.kind !== 'file') continue;
    const entry = typeof item.webkitGetAsEntry === 'function' ? item.webkitGetAsEntry() : null;
    if (entry !== null) entries.push(entry);
  }
  if (entries.length === 0) {
    return Promise.resolve(Array.from(transfer.files).map((file) => ({ path: file.name, file })));
  }
  return (async () => {
    const out: DroppedEntry[] = [];
    for (const entry of entries) await walk(entry, '', out);
    return out;
  })();
}

/** The files of an <input type=file> (with webkitdirectory, paths keep their folders). */
export function inputEntries(files: FileList): DroppedEntry[] {
  return Array.from(files).map((file) => ({ path: file.webkitRelativePath || file.name, file }));
}
