// A completion's box answer: the parser behind the rewards (every answer form Qwen-VL models and the
// tutorial use), the mapping of boxes between the spaces a model may answer in and the original
// image's pixels, IoU, and the writer of an answer in each form (for SFT reference answers).
import type { Box } from '../../data/box-format.ts';

/**
 * pixels: absolute pixels of the original image; input-pixels: absolute pixels of the resized model
 * input (smart_resize output, Qwen2.5-VL's convention); norm1000: 0-1000 normalised (Qwen2-VL's native
 * `<|box_start|>(x1,y1),(x2,y2)<|box_end|>`); norm1: 0-1 normalised.
 */
export type BoxSpace = 'pixels' | 'input-pixels' | 'norm1000' | 'norm1';
export const BOX_SPACES: readonly BoxSpace[] = ['pixels', 'input-pixels', 'norm1000', 'norm1'];

/** `[x1, y1, x2, y2]`, `{"bbox": [...]}`, `{"bbox_2d": [...]}`, `<|box_start|>(x1,y1),(x2,y2)<|box_end|>`. */
export type AnswerForm = 'list' | 'bbox' | 'bbox_2d' | 'qwen2vl';
export const ANSWER_FORMS: readonly AnswerForm[] = ['list', 'bbox', 'bbox_2d', 'qwen2vl'];

export interface ParsedAnswer {
  box: [number, number, number, number] | null;
  /** The form found; set also when its contents are malformed. */
  form: AnswerForm | null;
  /** why box is null */
  error?: string;
}

/** The original image's size and the model input's size (smart_resize output). */
export interface ImageFrame {
  width: number;
  height: number;
  inputWidth: number;
  inputHeight: number;
}

// ASCII digits only (unicode digits are malformed); exponents parse so that 1e400 can be reported.
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const QWEN2VL = /<\|box_start\|>(.*?)<\|box_end\|>/s;
const QWEN2VL_POINTS = /^\s*\(([^()]*)\)\s*,\s*\(([^()]*)\)\s*$/;
const KEYED = /["'](bbox_2d|bbox)["']\s*:\s*\[([^[\]]*)\]/;
const LIST = /\[([^[\]]*)\]/;

const fail = (form: AnswerForm | null, error: string): ParsedAnswer => ({ box: null, form, error });
const show = (text: string): string => JSON.stringify(text.length > 24 ? `${text.slice(0, 24)}...` : text);

function readNumbers(items: readonly string[], form: AnswerForm): ParsedAnswer {
  if (items.length !== 4) return fail(form, `expected 4 numbers, found ${items.length}`);
  const values: number[] = [];
  for (const item of items) {
    const text = item.trim();
    if (!NUMBER.test(text)) return fail(form, `${show(text)} is not a number`);
    const value = Number(text);
    if (!Number.isFinite(value)) return fail(form, `${show(text)} is out of range`);
    values.push(value);
  }
  const [x1, y1, x2, y2] = values as [number, number, number, number];
  return { box: [x1, y1, x2, y2], form };
}

const splitList = (inner: string): string[] => (inner.trim() === '' ? [] : inner.split(','));

function readQwen2vl(inner: string): ParsedAnswer {
  const m = QWEN2VL_POINTS.exec(inner);
  const points = m ? [splitList(m[1]!), splitList(m[2]!)] : [];
  if (points.length !== 2 || points.some((p) => p.length !== 2)) {
    return fail('qwen2vl', `expected (x1,y1),(x2,y2) inside <|box_start|>...<|box_end|>, got ${show(inner)}`);
  }
  return readNumbers(points.flat(), 'qwen2vl');
}

/** The text inside the first `<answer>...</answer>`, or the whole completion when there is none. */
function answerText(completion: string): { text: string; block: boolean } {
  const open = completion.indexOf('<answer>');
  const close = open < 0 ? -1 : completion.indexOf('</answer>', open + '<answer>'.length);
  if (close < 0) return { text: completion, block: false };
  return { text: completion.slice(open + '<answer>'.length, close), block: true };
}

/** The box of a completion's answer: the earliest box of any form in the answer text wins. */
export function parseAnswer(completion: string): ParsedAnswer {
  const { text, block } = answerText(completion);
  if (text.trim() === '') return fail(null, block ? 'empty answer' : 'empty completion');
  const found: { index: number; read: () => ParsedAnswer }[] = [];
  const qwen = QWEN2VL.exec(text);
  if (qwen) found.push({ index: qwen.index, read: () => readQwen2vl(qwen[1]!) });
  const keyed = KEYED.exec(text);
  if (keyed) {
    const form = keyed[1] === 'bbox' ? 'bbox' : 'bbox_2d';
    found.push({ index: keyed.index, read: () => readNumbers(splitList(keyed[2]!), form) });
  }
  const list = LIST.exec(text);
  if (list) found.push({ index: list.index, read: () => readNumbers(splitList(list[1]!), 'list') });
  if (found.length === 0) {
    return fail(
      null,
      `no box in ${block ? 'the answer' : 'the completion (no <answer>...</answer>)'}: expected ` +
        '[x1, y1, x2, y2], {"bbox_2d": [...]} or <|box_start|>(x1,y1),(x2,y2)<|box_end|>',
    );
  }
  found.sort((a, b) => a.index - b.index);
  return found[0]!.read();
}

/** Per axis, [numerator, denominator] of the map from `space` to original pixels. */
function ratios(space: BoxSpace, frame: ImageFrame): { x: [number, number]; y: [number, number] } {
  switch (space) {
    case 'pixels':
      return { x: [1, 1], y: [1, 1] };
    case 'input-pixels':
      return { x: [frame.width, frame.inputWidth], y: [frame.height, frame.inputHeight] };
    case 'norm1000':
      return { x: [frame.width, 1000], y: [frame.height, 1000] };
    case 'norm1':
      return { x: [frame.width, 1], y: [frame.height, 1] };
  }
}

function fourOf(box: readonly number[]): readonly [number, number, number, number] {
  if (box.length !== 4) throw new RangeError(`a box has 4 values [x1, y1, x2, y2], got ${box.length}`);
  return box as readonly [number, number, number, number];
}

/** A box in `space` to absolute pixels of the original image. Nothing is clamped. */
export function toOriginalPixels(box: readonly number[], space: BoxSpace, frame: ImageFrame): Box {
  const [x1, y1, x2, y2] = fourOf(box);
  const { x, y } = ratios(space, frame);
  return [(x1 * x[0]) / x[1], (y1 * y[0]) / y[1], (x2 * x[0]) / x[1], (y2 * y[0]) / y[1]];
}

/**
 * The inverse of toOriginalPixels, for writing reference answers in the model's space: rounded to
 * integers, except norm1 (3 decimals).
 */
export function fromOriginalPixels(box: Box, space: BoxSpace, frame: ImageFrame): number[] {
  const [x1, y1, x2, y2] = box;
  const { x, y } = ratios(space, frame);
  const round =
    space === 'norm1' ? (v: number) => Math.round(v * 1000) / 1000 + 0 : (v: number) => Math.round(v) + 0;
  return [(x1 * x[1]) / x[0], (y1 * y[1]) / y[0], (x2 * x[1]) / x[0], (y2 * y[1]) / y[0]].map(round);
}

/**
 * Intersection over union of two boxes read as continuous rectangles [x1, x2) x [y1, y2). An inverted
 * or degenerate box has area 0; a non-finite coordinate or an empty union gives 0.
 */
export function iou(a: Box, b: Box): number {
  if (!a.every(Number.isFinite) || !b.every(Number.isFinite)) return 0;
  const area = (r: Box) => Math.max(0, r[2] - r[0]) * Math.max(0, r[3] - r[1]);
  const w = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
  const h = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
  const inter = w * h;
  const union = area(a) + area(b) - inter;
  return union > 0 ? Math.min(1, inter / union) : 0;
}

/** `<think>thought</think><answer>...</answer>` with the box written in `form`. */
export function formatBoxAnswer(thought: string, box: readonly number[], form: AnswerForm): string {
  const [x1, y1, x2, y2] = fourOf(box);
  const list = `[${x1}, ${y1}, ${x2}, ${y2}]`;
  const answer = {
    list,
    bbox: `{"bbox": ${list}}`,
    bbox_2d: `{"bbox_2d": ${list}}`,
    qwen2vl: `<|box_start|>(${x1},${y1}),(${x2},${y2})<|box_end|>`,
  }[form];
  return `<think>${thought}</think><answer>${answer}</answer>`;
}
