// JSON array and JSONL annotation files: parsing (bad JSONL lines reported by line, Python's NaN /
// Infinity literals read as null), recognising the row format and its fields, and pulling the
// image, question, boxes and size out of one row.

import type { BoxLayout } from '../box-format.ts';
import { DatasetFormatError } from '../errors.ts';
import type { FieldMapping } from '../validation-report.ts';

export interface JsonRecord {
  row: number;
  value: unknown;
  /** 1-based line (JSONL only). */
  line?: number;
}

export interface ParsedRecords {
  kind: 'json' | 'jsonl';
  records: JsonRecord[];
  badLines: { row: number; line: number; detail: string }[];
}

/** Replaces bare NaN / Infinity / -Infinity tokens (outside strings) with null. */
function nullifyNonFinite(text: string): string {
  let out = '';
  let inString = false;
  let last = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === 'N' && text.startsWith('NaN', i)) {
      out += `${text.slice(last, i)}null`;
      i += 2;
      last = i + 1;
    } else if ((c === 'I' || c === '-') && text.startsWith(c === '-' ? '-Infinity' : 'Infinity', i)) {
      const n = c === '-' ? 9 : 8;
      out += `${text.slice(last, i)}null`;
      i += n - 1;
      last = i + 1;
    }
  }
  return out + text.slice(last);
}

function parseLenient(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    if (!/NaN|Infinity/.test(text)) throw e;
    return JSON.parse(nullifyNonFinite(text));
  }
}

/**
 * Parses a JSON array of rows or JSONL. JSONL is chosen by the `.jsonl` extension or when the text is
 * not one JSON value but starts with '{'. Throws DatasetFormatError when it is neither.
 */
export function parseJsonRecords(text: string, name: string): ParsedRecords {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  if (!name.toLowerCase().endsWith('.jsonl')) {
    let value: unknown;
    let parsed = false;
    try {
      value = parseLenient(body);
      parsed = true;
    } catch (e) {
      if (!body.trimStart().startsWith('{')) {
        throw new DatasetFormatError(
          name,
          `not valid JSON (${(e as Error).message}); give a JSON array of rows or JSONL (one object a line)`,
        );
      }
    }
    if (parsed) {
      if (Array.isArray(value)) {
        return { kind: 'json', records: value.map((v, row) => ({ row, value: v })), badLines: [] };
      }
      if (value !== null && typeof value === 'object') {
        return { kind: 'jsonl', records: [{ row: 0, value, line: 1 }], badLines: [] };
      }
      throw new DatasetFormatError(name, 'the JSON is not an array of rows; give a JSON array or JSONL');
    }
  }
  const records: JsonRecord[] = [];
  const badLines: ParsedRecords['badLines'] = [];
  const lines = body.split(/\r?\n/);
  let row = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === '') continue;
    try {
      records.push({ row, value: parseLenient(line), line: i + 1 });
    } catch (e) {
      badLines.push({ row, line: i + 1, detail: `not valid JSON: ${(e as Error).message}` });
    }
    row++;
  }
  return { kind: 'jsonl', records, badLines };
}

export type RowFormat = 'visual-cot' | 'vlm-r1-rec' | 'r1v' | 'coco-xywh' | 'custom';

/** Field names given by the person, replacing the detected ones. */
export interface FieldOverrides {
  image?: string;
  question?: string;
  box?: string;
  width?: string;
  height?: string;
}

export interface RowLayout {
  format: RowFormat;
  /** The row fields seen (sorted): what identifies a layout, so a choice made for it can be reused. */
  columns: string[];
  fields: FieldMapping;
  /** How the row format suggests the box field's four numbers are laid out (the values may overrule it). */
  layout: BoxLayout;
}

const IMAGE_FIELDS = ['image', 'image_path', 'img', 'file_name', 'filename', 'path'];
const QUESTION_FIELDS = ['question', 'problem', 'query', 'prompt', 'instruction'];
const BOX_FIELDS = ['bboxs', 'bbox_2d', 'bboxes', 'boxes', 'box', 'bbox'];

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Recognises the row format from the first rows; overrides replace the detected field names. */
export function detectRowLayout(
  records: readonly JsonRecord[],
  overrides: FieldOverrides,
  name: string,
): RowLayout {
  const sample = records
    .slice(0, 200)
    .map((r) => r.value)
    .filter(isObject);
  const keys = new Set(sample.flatMap((r) => Object.keys(r)));
  const pick = (given: string | undefined, list: string[]) => given ?? list.find((k) => keys.has(k));
  const columns = [...keys].sort();
  const isRec = keys.has('conversations') && overrides.box === undefined;
  if (isRec) {
    return {
      format: 'vlm-r1-rec',
      columns,
      fields: {
        image: pick(overrides.image, IMAGE_FIELDS) ?? 'image',
        question: overrides.question ?? 'conversations',
        box: 'conversations',
        ...sizeFields(keys, overrides),
      },
      layout: 'xyxy',
    };
  }
  const image = pick(overrides.image, IMAGE_FIELDS);
  const question = pick(overrides.question, QUESTION_FIELDS);
  // R1-V / VLM-R1 rows {image, problem, solution}: the solution is a box or an answer holding one.
  const isR1v = overrides.box === undefined && keys.has('solution') && !BOX_FIELDS.some((k) => keys.has(k));
  const box = isR1v ? 'solution' : pick(overrides.box, BOX_FIELDS);
  if (image === undefined || box === undefined) {
    const seen = [...keys].slice(0, 20).join(', ') || 'none';
    throw new DatasetFormatError(
      name,
      `cannot tell which field holds the ${image === undefined ? 'image' : 'box'} (row keys: ${seen}); ` +
        'name the fields that hold the image, the question and the box',
      { needs: 'fields', columns },
    );
  }
  const fields: FieldMapping = { image, box, ...sizeFields(keys, overrides) };
  if (question !== undefined) fields.question = question;
  const format: RowFormat = isR1v
    ? 'r1v'
    : box === 'bbox'
      ? 'coco-xywh'
      : box === 'bboxs' && question === 'question'
        ? 'visual-cot'
        : 'custom';
  return { format, columns, fields, layout: box === 'bbox' ? 'xywh' : 'xyxy' };
}

/** What suggests the box layout, for the box format's reason. */
export function layoutSuggestedBy(layout: RowLayout): string {
  if (layout.format === 'vlm-r1-rec') return 'the VLM-R1 REC answer format';
  if (layout.format === 'r1v') return "the R1-V / VLM-R1 'solution' field";
  const box = layout.fields.box ?? 'none';
  return BOX_FIELDS.includes(box) ? `the field name '${box}'` : `the default for a field named '${box}'`;
}

function sizeFields(keys: Set<string>, overrides: FieldOverrides): { width?: string; height?: string } {
  const out: { width?: string; height?: string } = {};
  const width =
    overrides.width ?? (keys.has('width') ? 'width' : keys.has('image_width') ? 'image_width' : undefined);
  const height =
    overrides.height ??
    (keys.has('height') ? 'height' : keys.has('image_height') ? 'image_height' : undefined);
  if (width !== undefined) out.width = width;
  if (height !== undefined) out.height = height;
  return out;
}

export type BoxesFound =
  | { kind: 'none' }
  | { kind: 'boxes'; boxes: number[][] }
  | { kind: 'non-numeric'; detail: string };

/** One row's raw content; undefined fields were absent or unusable. */
export interface RawRow {
  image?: string;
  question?: string;
  answer?: string;
  boxes: BoxesFound;
  width?: number;
  height?: number;
}

function asSize(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

function asText(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v : undefined;
}

function isBoxArray(v: unknown): v is unknown[] {
  return Array.isArray(v) && v.length === 4 && v.every((x) => !Array.isArray(x) && !isObject(x));
}

function numericBox(v: unknown[]): number[] | undefined {
  return v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as number[]) : undefined;
}

/** Boxes in a field's value: [x1,y1,x2,y2], a list of them, {bbox_2d}, a list of those, or text. */
export function findBoxes(value: unknown): BoxesFound {
  if (value === undefined || value === null) return { kind: 'none' };
  if (typeof value === 'string') return boxesInText(value);
  let candidates: unknown[];
  if (isBoxArray(value)) candidates = [value];
  else if (isObject(value)) candidates = [value.bbox_2d ?? value.bbox];
  else if (Array.isArray(value)) candidates = value.map((v) => (isObject(v) ? (v.bbox_2d ?? v.bbox) : v));
  else return { kind: 'non-numeric', detail: `the box is ${JSON.stringify(value)}` };
  if (candidates.length === 0) return { kind: 'none' };
  const boxes: number[][] = [];
  for (const c of candidates) {
    const box = isBoxArray(c) ? numericBox(c) : undefined;
    if (box === undefined) {
      return {
        kind: 'non-numeric',
        detail: `box ${JSON.stringify(c) ?? 'undefined'} is not four finite numbers`,
      };
    }
    boxes.push(box);
  }
  return { kind: 'boxes', boxes };
}

/** Boxes written in an answer: every [a, b, c, d] group (bare or as "bbox_2d": [...]). */
function boxesInText(text: string): BoxesFound {
  const boxes: number[][] = [];
  for (const m of text.matchAll(/\[([^[\]{}]*)\]/g)) {
    const parts = (m[1] as string).split(',').map((s) => s.trim());
    if (parts.length !== 4) continue;
    const nums = parts.map((p) =>
      /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(p) ? Number(p) : Number.NaN,
    );
    if (!nums.every(Number.isFinite)) {
      return { kind: 'non-numeric', detail: `box [${m[1]}] in the answer is not four numbers` };
    }
    boxes.push(nums);
  }
  return boxes.length > 0 ? { kind: 'boxes', boxes } : { kind: 'none' };
}

function imagePath(v: unknown): string | undefined {
  if (isObject(v)) return asText(v.path);
  return asText(v);
}

/** Pulls the image, question, answer, boxes and size out of one row. */
export function readRow(value: Record<string, unknown>, layout: RowLayout): RawRow {
  const f = layout.fields;
  const row: RawRow = { boxes: { kind: 'none' } };
  const image = f.image === undefined ? undefined : imagePath(value[f.image]);
  if (image !== undefined) row.image = image;
  const width = f.width === undefined ? undefined : asSize(value[f.width]);
  const height = f.height === undefined ? undefined : asSize(value[f.height]);
  if (width !== undefined) row.width = width;
  if (height !== undefined) row.height = height;
  if (layout.format === 'vlm-r1-rec') {
    const turns = Array.isArray(value.conversations) ? value.conversations.filter(isObject) : [];
    const human = turns.find((t) => t.from === 'human' || t.from === 'user');
    const gpt = turns.find((t) => t.from === 'gpt' || t.from === 'assistant');
    const q =
      f.question !== 'conversations' && f.question !== undefined
        ? asText(value[f.question])
        : asText(typeof human?.value === 'string' ? human.value.replace(/<image>/g, '').trim() : undefined);
    if (q !== undefined) row.question = q;
    const answer = asText(gpt?.value);
    if (answer !== undefined) {
      row.answer = answer;
      row.boxes = boxesInText(answer);
    }
    return row;
  }
  const q = f.question === undefined ? undefined : asText(value[f.question]);
  if (q !== undefined) row.question = q;
  const answer = asText(layout.format === 'r1v' ? value.solution : value.answer);
  if (answer !== undefined) row.answer = answer;
  row.boxes = f.box === undefined ? { kind: 'none' } : findBoxes(value[f.box]);
  return row;
}
