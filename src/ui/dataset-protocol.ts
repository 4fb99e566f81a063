// Messages between the app and its dataset worker: open dropped files (or the built-in synthetic set)
// and get the validation report; ask for one usable row's image and box for the preview.

import type { BoxFormat } from '../data/box-format.ts';
import type { DroppedEntry } from '../data/drop-browser.ts';
import type { FieldOverrides } from '../data/json-rows.ts';
import type { Box } from '../data/row.ts';
import type { ValidationReport } from '../data/validation-report.ts';

export interface OpenOptions {
  split?: string;
  boxFormat?: BoxFormat;
  fields?: FieldOverrides;
}

export type DatasetRequest =
  | { type: 'open'; id: number; entries: DroppedEntry[]; options: OpenOptions }
  | { type: 'synthetic'; id: number; seed: number; count: number }
  | { type: 'preview'; id: number; index: number };

export interface PreviewRow {
  index: number;
  rowId: string;
  question: string;
  answer?: string;
  box: Box;
  width: number;
  height: number;
  /** RGBA pixels, width x height. */
  pixels: Uint8ClampedArray<ArrayBuffer>;
}

export type DatasetResponse =
  | { type: 'opened'; id: number; report: ValidationReport }
  | { type: 'synthetic'; id: number; count: number; seed: number }
  | { type: 'preview'; id: number; row: PreviewRow }
  | { type: 'error'; id: number; error: { name: string; message: string } };
