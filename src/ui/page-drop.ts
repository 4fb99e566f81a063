// Drops anywhere on the page: a drop never navigates away (the browser's default for a dropped file),
// and what was dropped goes to the model or the dataset, told apart by its files: a Hugging Face
// checkpoint folder (config.json with safetensors weights) is a model, anything else a dataset.

import { useEffect, useState } from 'react';
import { type DroppedEntry, droppedEntries } from '../data/files/drop-browser.ts';

const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** Whether dropped files are a model checkpoint folder rather than a dataset. */
export function isModelFolder(entries: readonly { path: string }[]): boolean {
  const names = new Set(entries.map((e) => baseName(e.path)));
  const weights = entries.some((e) => /\.safetensors$/i.test(e.path));
  const annotations = entries.some((e) => /\.(jsonl|parquet|arrow|zip)$/i.test(e.path));
  return names.has('config.json') && weights && !annotations;
}

export interface PageDrop {
  /** A drag with files is over the page. */
  dragging: boolean;
}

/** Listens for drops on the whole window and hands each one's files to `onDrop`. */
export function usePageDrop(onDrop: (entries: DroppedEntry[]) => void): PageDrop {
  const [dragging, setDragging] = useState(false);
  useEffect(() => {
    let depth = 0;
    const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes('Files') ?? false;
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setDragging(true);
    };
    const over = (e: DragEvent) => {
      // Without this the drop is not delivered and the browser opens the file instead.
      e.preventDefault();
      if (e.dataTransfer !== null) e.dataTransfer.dropEffect = hasFiles(e) ? 'copy' : 'none';
    };
    const leave = () => {
      depth = Math.max(0, depth - 1);
      if (depth === 0) setDragging(false);
    };
    const drop = (e: DragEvent) => {
      e.preventDefault();
      depth = 0;
      setDragging(false);
      if (e.dataTransfer === null || !hasFiles(e)) return;
      droppedEntries(e.dataTransfer).then((entries) => {
        if (entries.length > 0) onDrop(entries);
      });
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, [onDrop]);
  return { dragging };
}
