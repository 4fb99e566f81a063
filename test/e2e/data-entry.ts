// Browser entry for test/e2e/data.test.js: the dataset code (src/data) driven from a page or a module
// Worker, bundled by that test with Vite. Results are plain data (pixels as base64) so they cross
// postMessage and Playwright's evaluate unchanged; errors come back as {error: {name, message}}.

import { droppedFilesFromFileList } from '../../src/data/files/files.ts';
import { decodeImageBrowser } from '../../src/data/image/image-decode-browser.ts';
import { openDataset } from '../../src/data/open-dataset.ts';
import type { SceneOptions } from '../../src/data/synthetic.ts';
import { syntheticDataset } from '../../src/data/synthetic.ts';
import type { ValidationReport } from '../../src/data/validation-report.ts';

export interface PlainImage {
  width: number;
  height: number;
  /** The RGBA bytes, base64. */
  data: string;
}

export interface PlainRow {
  row: number;
  imageRef: string;
  question: string;
  answer?: string;
  box: number[];
  width: number;
  height: number;
  image?: PlainImage;
}

export type Failure = { error: { name: string; message: string } };

export interface OpenResult {
  /** The paths the dropped File objects stood for (webkitRelativePath || name). */
  paths: string[];
  report: ValidationReport;
  rows: PlainRow[];
}

export interface SyntheticResult {
  rows: { id: string; width: number; height: number; question: string; box: number[]; answer?: string }[];
  images: PlainImage[];
}

function base64(bytes: Uint8Array | Uint8ClampedArray): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function failure(e: unknown): Failure {
  const err = e instanceof Error ? e : new Error(String(e));
  return { error: { name: err.name, message: err.message } };
}

/** Opens `files` as a folder drop would hand them over; decodes every usable row's image. */
export async function openFiles(
  files: File[],
  options: { checkImages?: boolean } = {},
): Promise<OpenResult | Failure> {
  try {
    const dropped = droppedFilesFromFileList(files);
    const ds = await openDataset(dropped, { ...options, decode: decodeImageBrowser });
    const rows: PlainRow[] = [];
    for (const r of ds.rows) {
      const img = await ds.loadImage(r);
      rows.push({
        row: r.row,
        imageRef: r.imageRef,
        question: r.question,
        ...(r.answer === undefined ? {} : { answer: r.answer }),
        box: [...r.box],
        width: r.width,
        height: r.height,
        image: { width: img.width, height: img.height, data: base64(img.data) },
      });
    }
    return { paths: dropped.map((f) => f.path), report: ds.report, rows };
  } catch (e) {
    return failure(e);
  }
}

/** `syntheticDataset(seed, count, opts)`: every row and every image's RGBA bytes. */
export async function synthetic(
  seed: number,
  count: number,
  opts: SceneOptions,
): Promise<SyntheticResult | Failure> {
  try {
    const rows = syntheticDataset(seed, count, opts);
    const images: PlainImage[] = [];
    for (const r of rows) {
      const img = await r.image();
      images.push({ width: img.width, height: img.height, data: base64(img.data) });
    }
    return {
      rows: rows.map((r) => ({
        id: r.id,
        width: r.width,
        height: r.height,
        question: r.question,
        box: [...r.box],
        ...(r.answer === undefined ? {} : { answer: r.answer }),
      })),
      images,
    };
  } catch (e) {
    return failure(e);
  }
}
