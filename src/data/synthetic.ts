// The synthetic grounding generator: seeded scenes of coloured shapes and a sign with a word, drawn
// pixel by pixel on an RGBA buffer (no canvas, no Math.random, no trigonometry at run time), so a seed
// gives byte-identical images in the browser and in Node; questions with one unambiguous answer, exact
// ground-truth boxes and reference answers in the product's format.
//
// Boxes are [x1, y1, x2, y2] in absolute pixels with x2 and y2 EXCLUSIVE: the object's pixels are
// exactly the columns x1 .. x2-1 and rows y1 .. y2-1 of its tight box (width = x2 - x1).

import type { RgbImage } from '../model/image-processor.ts';
import { drawText, textInkBox, textSize } from './bitmap-font.ts';
import { DataOptionsError } from './errors.ts';
import { checkSeed, mixSeed, Rng } from './rng.ts';
import type { Box, GroundingRow } from './row.ts';

export type Rgb = readonly [number, number, number];
export type ShapeName = 'circle' | 'square' | 'triangle' | 'star';
export type ColourName = 'red' | 'green' | 'blue' | 'yellow' | 'purple' | 'orange' | 'white' | 'black';

export const SHAPES: readonly ShapeName[] = ['circle', 'square', 'triangle', 'star'];

/** The object colours; no background, sign plate or sign ink pixel ever takes one of these values. */
export const COLOURS: Readonly<Record<ColourName, Rgb>> = {
  red: [220, 30, 30],
  green: [30, 160, 60],
  blue: [30, 70, 220],
  yellow: [240, 210, 20],
  purple: [140, 50, 180],
  orange: [245, 130, 20],
  white: [255, 255, 255],
  black: [0, 0, 0],
};
export const COLOUR_NAMES = Object.keys(COLOURS) as ColourName[];

/** Words written on signs (the ones the nano tokenizer was trained on). */
export const SIGN_WORDS: readonly string[] = [
  'STOP',
  'EXIT',
  'OPEN',
  'SALE',
  'CAFE',
  'HOTEL',
  'BUS',
  'TAXI',
  'PARKING',
  'NO ENTRY',
];
export const SIGN_INK: Rgb = [24, 24, 36];
const SIGN_PLATES: readonly Rgb[] = [
  [252, 244, 214],
  [214, 232, 250],
  [250, 222, 222],
];
const BACKGROUNDS: readonly Rgb[] = [
  [120, 140, 160],
  [90, 110, 90],
  [170, 160, 140],
  [200, 200, 190],
  [60, 70, 90],
  [140, 120, 150],
  [180, 190, 200],
  [110, 100, 80],
];

/** Background pixels of at least this many pixels separate any two objects' boxes (and sign plates). */
export const OBJECT_GAP = 2;
const MAX_TEXT_SCALE = 3;

export interface SceneOptions {
  width?: number;
  height?: number;
  /** The number of shapes (a sign, when `text` is on, comes in addition). */
  objects?: number;
  /** Bounds, in pixels, on each shape's box width and height. */
  minSize?: number;
  maxSize?: number;
  /** Other shapes share the colour or the shape of one uniquely described shape (never both). */
  distractors?: boolean;
  /** Adds one sign with a word on it. */
  text?: boolean;
  /** The sign's integer font scale; by default drawn from 1 .. 3 as the image allows. */
  textScale?: number;
  /**
   * `varied` (default): a flat colour or a horizontal or vertical gradient between two random colours.
   * `position`: one fixed backdrop whose red rises from left to right and whose green rises from top to
   * bottom, so every patch's colour says where it is.
   */
  backdrop?: Backdrop;
  /** What a reference answer's reasoning says (`reasoning` below); it leaves the scene as it is. */
  reasoning?: ReasoningStyle;
}

export type Backdrop = 'varied' | 'position';

/**
 * `scene` (default): every object with its place, then the named one's place again.
 * `target`: only the named object and its place.
 */
export type ReasoningStyle = 'scene' | 'target';

/**
 * The grounding task the built-in nano checkpoint is trained on, which the CLI and the app use for the
 * synthetic set: two shapes of 16-32 px on an 84 x 84 image (3 x 3 merged image tokens), no sign, on
 * the `position` backdrop. Qwen-VL's vision tower and M-RoPE carry only relative positions; a model
 * trained from scratch at nano's size does not learn where a token sits from them within a budget of
 * minutes, and answers every image with the same box. A backdrop whose colour changes with x and y
 * gives each patch its place, so nano can learn to find the object the question describes.
 */
export const NANO_TASK: Readonly<SceneOptions> = {
  objects: 2,
  minSize: 16,
  maxSize: 32,
  width: 84,
  height: 84,
  text: false,
  backdrop: 'position',
};

export interface ShapeObject {
  kind: 'shape';
  shape: ShapeName;
  colour: ColourName;
  rgb: Rgb;
  /** Tight box of the object's pixels, x2 / y2 exclusive. */
  box: Box;
}

export interface SignObject {
  kind: 'sign';
  text: string;
  scale: number;
  /** Top-left of the first glyph cell. */
  textOrigin: [number, number];
  /** Tight box of the ink pixels of the word, x2 / y2 exclusive (what "where does it say" points at). */
  box: Box;
  /** The sign's plate rectangle, x2 / y2 exclusive. */
  plate: Box;
  plateRgb: Rgb;
  inkRgb: Rgb;
}

export type SceneObject = ShapeObject | SignObject;

export interface Scene {
  image: RgbImage;
  objects: SceneObject[];
}

interface ResolvedOptions {
  width: number;
  height: number;
  objects: number;
  minSize: number;
  maxSize: number;
  distractors: boolean;
  text: boolean;
  textScale: number | undefined;
  backdrop: Backdrop;
}

function resolveOptions(opts: SceneOptions): ResolvedOptions {
  const o: ResolvedOptions = {
    width: opts.width ?? 128,
    height: opts.height ?? 128,
    objects: opts.objects ?? 3,
    minSize: opts.minSize ?? 12,
    maxSize: opts.maxSize ?? 40,
    distractors: opts.distractors ?? true,
    text: opts.text ?? true,
    textScale: opts.textScale,
    backdrop: opts.backdrop ?? 'varied',
  };
  if (o.backdrop !== 'varied' && o.backdrop !== 'position') {
    throw new DataOptionsError(
      `synthetic backdrop must be 'varied' or 'position', got ${String(o.backdrop)}`,
    );
  }
  if (opts.reasoning !== undefined && opts.reasoning !== 'scene' && opts.reasoning !== 'target') {
    throw new DataOptionsError(
      `synthetic reasoning must be 'scene' or 'target', got ${String(opts.reasoning)}`,
    );
  }
  const int = (v: number, name: string, min: number): void => {
    if (!Number.isInteger(v) || v < min) {
      throw new DataOptionsError(`synthetic ${name} must be an integer >= ${min}, got ${String(v)}`);
    }
  };
  int(o.width, 'width', 8);
  int(o.height, 'height', 8);
  int(o.objects, 'objects', 1);
  int(o.minSize, 'minSize', 3);
  int(o.maxSize, 'maxSize', 3);
  if (o.textScale !== undefined) int(o.textScale, 'textScale', 1);
  if (o.minSize > o.maxSize) {
    throw new DataOptionsError(`synthetic minSize (${o.minSize}) is larger than maxSize (${o.maxSize})`);
  }
  if (o.maxSize > Math.min(o.width, o.height)) {
    throw new DataOptionsError(
      `synthetic maxSize (${o.maxSize}) does not fit a ${o.width}x${o.height} image; lower it or enlarge the image`,
    );
  }
  return o;
}

// ---------------------------------------------------------------- shape masks

interface Mask {
  w: number;
  h: number;
  bits: Uint8Array;
}

// A five-pointed star's vertices on the unit circle (outer) and at radius 0.381966 (inner), starting at
// the top and going clockwise in image coordinates: cos / sin of multiples of 36 degrees written out,
// so no engine-dependent Math.sin is involved.
const STAR_INNER = 0.381966;
const STAR_UNIT: readonly [number, number][] = [
  [0, -1],
  [0.5877852523 * STAR_INNER, -0.8090169944 * STAR_INNER],
  [0.9510565163, -0.3090169944],
  [0.9510565163 * STAR_INNER, 0.3090169944 * STAR_INNER],
  [0.5877852523, 0.8090169944],
  [0, STAR_INNER],
  [-0.5877852523, 0.8090169944],
  [-0.9510565163 * STAR_INNER, 0.3090169944 * STAR_INNER],
  [-0.9510565163, -0.3090169944],
  [-0.5877852523 * STAR_INNER, -0.8090169944 * STAR_INNER],
];

function insidePolygon(px: number, py: number, poly: readonly [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!;
    const [xj, yj] = poly[j]!;
    if (yi > py !== yj > py && px < ((xj - xi) * (py - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The shape rasterised in an s x s cell (a pixel is lit when its centre is inside), cropped tight. */
function shapeMask(shape: ShapeName, s: number): Mask {
  const full = new Uint8Array(s * s);
  let star: [number, number][] = [];
  if (shape === 'star') {
    const xs = STAR_UNIT.map((p) => p[0]);
    const ys = STAR_UNIT.map((p) => p[1]);
    const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
    star = STAR_UNIT.map(([x, y]) => [((x - minX) / (maxX - minX)) * s, ((y - minY) / (maxY - minY)) * s]);
  }
  const half = s / 2;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      const cx = x + 0.5;
      const cy = y + 0.5;
      let on: boolean;
      if (shape === 'square') on = true;
      else if (shape === 'circle') on = (cx - half) ** 2 + (cy - half) ** 2 <= half * half;
      // Apex at the top centre, base the full bottom row: half-width grows by 1/2 a pixel per row.
      else if (shape === 'triangle') on = Math.abs(cx - half) <= (y + 1) / 2;
      else on = insidePolygon(cx, cy, star);
      if (on) full[y * s + x] = 1;
    }
  }
  let x1 = s;
  let y1 = s;
  let x2 = 0;
  let y2 = 0;
  for (let y = 0; y < s; y++) {
    for (let x = 0; x < s; x++) {
      if (!full[y * s + x]) continue;
      x1 = Math.min(x1, x);
      y1 = Math.min(y1, y);
      x2 = Math.max(x2, x + 1);
      y2 = Math.max(y2, y + 1);
    }
  }
  const w = Math.max(0, x2 - x1);
  const h = Math.max(0, y2 - y1);
  const bits = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) bits[y * w + x] = full[(y + y1) * s + x + x1]!;
  return { w, h, bits };
}

/**
 * A mask of the shape whose tight box has both sides in [minSize, maxSize]: drawn at size `s` or, when
 * its tight box comes out smaller (a star can lose its tip row), the nearest size that works.
 */
function sizedMask(shape: ShapeName, s: number, minSize: number, maxSize: number): Mask | undefined {
  const sizes: number[] = [];
  for (let n = s; n <= maxSize; n++) sizes.push(n);
  for (let n = s - 1; n >= minSize; n--) sizes.push(n);
  for (const n of sizes) {
    const m = shapeMask(shape, n);
    if (m.w >= minSize && m.h >= minSize && m.w <= maxSize && m.h <= maxSize) return m;
  }
  return undefined;
}

/** The shapes that can be drawn within the size knobs. */
const drawable = new Map<string, ShapeName[]>();
function drawableShapes(minSize: number, maxSize: number): ShapeName[] {
  const key = `${minSize}:${maxSize}`;
  let shapes = drawable.get(key);
  if (!shapes) {
    shapes = SHAPES.filter((shape) => sizedMask(shape, minSize, minSize, maxSize) !== undefined);
    drawable.set(key, shapes);
  }
  return shapes;
}

// ---------------------------------------------------------------- drawing

const RESERVED = new Set<number>(
  [...Object.values(COLOURS), ...SIGN_PLATES, SIGN_INK].map(([r, g, b]) => (r << 16) | (g << 8) | b),
);

function setPixel(image: RgbImage, x: number, y: number, rgb: Rgb): void {
  const o = (y * image.width + x) * 4;
  image.data[o] = rgb[0];
  image.data[o + 1] = rgb[1];
  image.data[o + 2] = rgb[2];
  image.data[o + 3] = 255;
}

/** A colour off the reserved list: red stepped up (mod 256) until it is free. */
function unreserved(c: number[]): Rgb {
  while (RESERVED.has((c[0]! << 16) | (c[1]! << 8) | c[2]!)) c[0] = (c[0]! + 1) & 255;
  return [c[0]!, c[1]!, c[2]!];
}

/** The `position` backdrop: red 60 -> 200 from the left edge to the right, green 60 -> 200 from top to bottom. */
function drawPositionBackdrop(image: RgbImage): void {
  const { width, height } = image;
  for (let y = 0; y < height; y++) {
    const g = 60 + Math.round((140 * y) / Math.max(1, height - 1));
    for (let x = 0; x < width; x++) {
      setPixel(image, x, y, unreserved([60 + Math.round((140 * x) / Math.max(1, width - 1)), g, 110]));
    }
  }
}

/** A flat colour or a linear gradient (horizontal or vertical) that never hits a reserved colour. */
function drawBackground(image: RgbImage, rng: Rng): void {
  const a = rng.pick(BACKGROUNDS);
  const b = rng.pick(BACKGROUNDS);
  const mode = rng.int(0, 2); // 0 flat, 1 horizontal, 2 vertical
  const { width, height } = image;
  const steps = mode === 1 ? width : height;
  const den = Math.max(1, steps - 1);
  // The colour at each step along the gradient (one entry when flat).
  const ramp: Rgb[] = [];
  for (let t = 0; t < (mode === 0 ? 1 : steps); t++) {
    ramp.push(unreserved([0, 1, 2].map((k) => a[k]! + Math.round(((b[k]! - a[k]!) * t) / den))));
  }
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) setPixel(image, x, y, ramp[mode === 1 ? x : mode === 2 ? y : 0]!);
  }
}

function separated(a: Box, b: Box): boolean {
  return (
    a[2] + OBJECT_GAP <= b[0] ||
    b[2] + OBJECT_GAP <= a[0] ||
    a[3] + OBJECT_GAP <= b[1] ||
    b[3] + OBJECT_GAP <= a[1]
  );
}

/** A random free position for a w x h box, or undefined after a bounded number of tries. */
function place(rng: Rng, w: number, h: number, o: ResolvedOptions, taken: readonly Box[]): Box | undefined {
  if (w > o.width || h > o.height) return undefined;
  for (let t = 0; t < 300; t++) {
    const x = rng.int(0, o.width - w);
    const y = rng.int(0, o.height - h);
    const box: Box = [x, y, x + w, y + h];
    if (taken.every((b) => separated(box, b))) return box;
  }
  return undefined;
}

interface ShapeSpec {
  shape: ShapeName;
  colour: ColourName;
}

/** One shape (the anchor) plus others that share its colour or shape but not both (distractors), or neither. */
function shapeSpecs(rng: Rng, o: ResolvedOptions): ShapeSpec[] {
  const shapes = drawableShapes(o.minSize, o.maxSize);
  const anchor: ShapeSpec = { shape: rng.pick(shapes), colour: rng.pick(COLOUR_NAMES) };
  // Only a square fits knobs this tight: then other shapes can only share the anchor's shape.
  const otherShapes = shapes.length > 1 ? shapes.filter((s) => s !== anchor.shape) : shapes;
  const otherColours = COLOUR_NAMES.filter((c) => c !== anchor.colour);
  const specs = [anchor];
  for (let i = 1; i < o.objects; i++) {
    if (!o.distractors || otherShapes[0] === anchor.shape)
      specs.push({ shape: rng.pick(otherShapes), colour: rng.pick(otherColours) });
    else if (rng.int(0, 1) === 0) specs.push({ shape: anchor.shape, colour: rng.pick(otherColours) });
    else specs.push({ shape: rng.pick(otherShapes), colour: anchor.colour });
  }
  return rng.shuffle(specs);
}

function placeSign(rng: Rng, image: RgbImage, o: ResolvedOptions, taken: Box[]): SignObject {
  const pad = (scale: number): number => 2 * scale;
  const plateSize = (word: string, scale: number) => {
    const t = textSize(word, scale);
    return { w: t.width + 2 * pad(scale), h: t.height + 2 * pad(scale) };
  };
  const fits = (word: string, scale: number): boolean => {
    const p = plateSize(word, scale);
    return p.w <= o.width && p.h <= o.height;
  };
  const words = SIGN_WORDS.filter((w) => fits(w, o.textScale ?? 1));
  if (words.length === 0) {
    throw new DataOptionsError(
      `no sign word fits a ${o.width}x${o.height} image at font scale ${o.textScale ?? 1}; enlarge the image, lower textScale or turn text off`,
    );
  }
  const text = rng.pick(words);
  let scale = o.textScale;
  if (scale === undefined) {
    // The largest scale whose plate takes at most 3/4 of the image width, at least 1.
    let max = 1;
    for (let s = 2; s <= MAX_TEXT_SCALE; s++) {
      const p = plateSize(text, s);
      if (p.w * 4 <= o.width * 3 && p.h * 3 <= o.height) max = s;
    }
    scale = rng.int(1, max);
  }
  const p = plateSize(text, scale);
  const plate = place(rng, p.w, p.h, o, taken);
  if (!plate) throw new DataOptionsError(`could not place a sign in a ${o.width}x${o.height} image`);
  taken.push(plate);
  const plateRgb = rng.pick(SIGN_PLATES);
  for (let y = plate[1]; y < plate[3]; y++)
    for (let x = plate[0]; x < plate[2]; x++) setPixel(image, x, y, plateRgb);
  const origin: [number, number] = [plate[0] + pad(scale), plate[1] + pad(scale)];
  drawText(image, text, origin[0], origin[1], scale, SIGN_INK);
  return {
    kind: 'sign',
    text,
    scale,
    textOrigin: origin,
    box: textInkBox(text, origin[0], origin[1], scale)!,
    plate,
    plateRgb,
    inkRgb: SIGN_INK,
  };
}

/**
 * A scene: background, `objects` shapes (and a sign when `text` is on), no two boxes closer than
 * OBJECT_GAP pixels, every shape pixel exactly its colour (no anti-aliasing). Throws DataOptionsError
 * when the knobs cannot be satisfied (say, too many large objects for the image).
 */
export function generateScene(seed: number, opts: SceneOptions = {}): Scene {
  checkSeed(seed);
  const o = resolveOptions(opts);
  const rng = new Rng(mixSeed(seed, 0x5ce7e));
  const image: RgbImage = { width: o.width, height: o.height, data: new Uint8Array(o.width * o.height * 4) };
  if (o.backdrop === 'position') drawPositionBackdrop(image);
  else drawBackground(image, rng);
  const taken: Box[] = [];
  const objects: SceneObject[] = [];
  if (o.text) objects.push(placeSign(rng, image, o, taken));
  for (const spec of shapeSpecs(rng, o)) {
    let placed: { mask: Mask; box: Box } | undefined;
    // Try the drawn size first, then smaller ones, before giving up on the knobs.
    for (let s = rng.int(o.minSize, o.maxSize); s >= o.minSize && !placed; s--) {
      const mask = sizedMask(spec.shape, s, o.minSize, o.maxSize)!;
      const box = place(rng, mask.w, mask.h, o, taken);
      if (box) placed = { mask, box };
    }
    if (!placed) {
      throw new DataOptionsError(
        `could not fit ${o.objects} objects of ${o.minSize}-${o.maxSize} px${o.text ? ' and a sign' : ''} into a ` +
          `${o.width}x${o.height} image; lower objects or minSize, or enlarge the image`,
      );
    }
    const { mask, box } = placed;
    taken.push(box);
    const rgb = COLOURS[spec.colour];
    for (let y = 0; y < mask.h; y++) {
      for (let x = 0; x < mask.w; x++)
        if (mask.bits[y * mask.w + x]) setPixel(image, box[0] + x, box[1] + y, rgb);
    }
    objects.push({ kind: 'shape', shape: spec.shape, colour: spec.colour, rgb, box: [...box] });
  }
  return { image, objects };
}

// ---------------------------------------------------------------- grounding tasks

export interface GroundingTask {
  image: RgbImage;
  question: string;
  /** The target's box, absolute pixels, x2 / y2 exclusive. */
  box: Box;
  /** A reference answer in the product's format: `<think>...</think><answer>[x1, y1, x2, y2]</answer>`. */
  answer: string;
  /** Every object in the scene, and the index of the target among them. */
  objects: SceneObject[];
  target: number;
}

/** Where a box's centre lies, in the words the nano tokenizer was trained on. */
export function describePosition(box: Box, width: number, height: number): string {
  const cx = (box[0] + box[2]) / 2;
  const cy = (box[1] + box[3]) / 2;
  const col = cx * 3 < width ? 0 : cx * 3 < 2 * width ? 1 : 2;
  const row = cy * 3 < height ? 0 : cy * 3 < 2 * height ? 1 : 2;
  const names = [
    ['top left', 'top', 'top right'],
    ['left side', 'center', 'right side'],
    ['bottom left', 'bottom', 'bottom right'],
  ];
  return names[row]![col]!;
}

const objectName = (obj: SceneObject): string =>
  obj.kind === 'sign' ? `the text "${obj.text}"` : `${obj.colour} ${obj.shape}`;

/**
 * The reasoning of a reference answer. `scene`: every object in reading order (by box centre, top to
 * bottom, then left to right) with its place, then the target's place again; saying what is where
 * first turns "which object does the question mean" into finding the target's name in the text just
 * written, which nano learns by SFT alone. `target`: the target and its place only, so SFT teaches the
 * format and how to box an object, and leaves which object the question means to the reward.
 */
export function reasoning(
  objects: readonly SceneObject[],
  target: number,
  width: number,
  height: number,
  style: ReasoningStyle = 'scene',
): string {
  const place = (obj: SceneObject) => describePosition(obj.box, width, height);
  const chosen = objects[target]!;
  if (style === 'target')
    return chosen.kind === 'sign'
      ? `I can see the text "${chosen.text}" written on a sign at the ${place(chosen)}. The box covers the word.`
      : `The ${objectName(chosen)} is at the ${place(chosen)} of the image, so the box is around it.`;
  const order = [...objects].sort(
    (a, b) => a.box[1] + a.box[3] - (b.box[1] + b.box[3]) || a.box[0] + a.box[2] - (b.box[0] + b.box[2]),
  );
  const seen = order.map((obj) => {
    const name = objectName(obj);
    const article = obj.kind === 'sign' ? '' : /^[aeiou]/.test(name) ? 'an ' : 'a ';
    return `${article}${name} at the ${place(obj)}`;
  });
  const list = seen.length > 1 ? `${seen.slice(0, -1).join(', ')} and ${seen.at(-1)}` : seen[0]!;
  const name = chosen.kind === 'sign' ? `The text "${chosen.text}"` : `The ${objectName(chosen)}`;
  return `I see ${list}. ${name} is at the ${place(chosen)}.`;
}

export function formatAnswer(thought: string, box: Box): string {
  return `<think>${thought}</think><answer>[${box.join(', ')}]</answer>`;
}

const sameShape = (a: SceneObject, b: SceneObject): boolean =>
  a.kind === 'shape' && b.kind === 'shape' && a.shape === b.shape && a.colour === b.colour;

/**
 * A scene and a question about one object that its description picks out alone: a shape whose colour
 * and shape no other shape has, or the sign's word.
 */
export function groundingTask(seed: number, opts: SceneOptions = {}): GroundingTask {
  const scene = generateScene(seed, opts);
  const { objects, image } = scene;
  const rng = new Rng(mixSeed(seed, 0x7a5c));
  const unique = objects
    .map((obj, i) => ({ obj, i }))
    .filter(
      ({ obj }) => obj.kind === 'sign' || objects.filter((other) => sameShape(obj, other)).length === 1,
    );
  const signs = unique.filter(({ obj }) => obj.kind === 'sign');
  const shapes = unique.filter(({ obj }) => obj.kind === 'shape');
  const chosen =
    signs.length > 0 && (shapes.length === 0 || rng.int(0, 2) === 0) ? rng.pick(signs) : rng.pick(shapes);
  const target = chosen.obj;
  const form = rng.int(0, 2);
  let question: string;
  if (target.kind === 'sign') {
    question = [
      `Where does it say ${target.text}?`,
      `Find the word ${target.text}.`,
      `Where is ${target.text} written?`,
    ][form]!;
  } else {
    const { colour, shape } = target;
    question = [
      `Where is the ${colour} ${shape}?`,
      `Find the ${colour} ${shape} in the image.`,
      `What is the bounding box of the ${shape} that is ${colour}?`,
    ][form]!;
  }
  const thought = reasoning(objects, chosen.i, image.width, image.height, opts.reasoning);
  const box: Box = [...target.box];
  return { image, question, box, answer: formatAnswer(thought, box), objects, target: chosen.i };
}

/**
 * `count` grounding rows; row i is `groundingTask` of a seed derived from (seed, i), so a row does
 * not depend on `count`. Questions, boxes and answers are computed up front; each image is generated
 * again on demand, so no pixels are held.
 */
export function syntheticDataset(seed: number, count: number, opts: SceneOptions = {}): GroundingRow[] {
  checkSeed(seed);
  if (!Number.isInteger(count) || count < 0) {
    throw new DataOptionsError(`synthetic dataset count must be a whole number >= 0, got ${String(count)}`);
  }
  const rows: GroundingRow[] = [];
  for (let i = 0; i < count; i++) {
    const rowSeed = syntheticRowSeed(seed, i);
    const task = groundingTask(rowSeed, opts);
    rows.push({
      id: `synthetic-${seed}-${i}`,
      width: task.image.width,
      height: task.image.height,
      question: task.question,
      box: task.box,
      answer: task.answer,
      image: async () => generateScene(rowSeed, opts).image,
    });
  }
  return rows;
}

/** The scene seed of row `index` of `syntheticDataset(seed, ...)`. */
export function syntheticRowSeed(seed: number, index: number): number {
  return mixSeed(seed, index, 0xda7a);
}
