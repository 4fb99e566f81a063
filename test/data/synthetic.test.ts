// Tests of the synthetic grounding generator, checked against the pixels it draws: determinism, each
// box equal to the tight box of its object's pixels (x2 / y2 exclusive), questions that match exactly
// one object, glyphs equal to hand-written 5x7 patterns, answers that parse back to the box, knobs.
import { describe, expect, it } from 'vitest';
import { drawText, FONT_5X7 } from '../../src/data/bitmap-font.ts';
import { DataOptionsError } from '../../src/data/errors.ts';
import {
  COLOURS,
  describePosition,
  generateScene,
  groundingTask,
  NANO_TASK,
  type SceneObject,
  type ShapeObject,
  type SignObject,
  syntheticDataset,
  syntheticRowSeed,
} from '../../src/data/synthetic.ts';
import type { RgbImage } from '../../src/model/image-processor.ts';

type Box = [number, number, number, number];
type Rgb = readonly [number, number, number];

const rgbAt = (img: RgbImage, x: number, y: number): [number, number, number] => {
  const o = (y * img.width + x) * 4;
  return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!];
};
const same = (a: Rgb, b: Rgb): boolean => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];

/** Tight exclusive box of the pixels of colour `rgb` inside `region` (clipped to the image). */
function tightBox(img: RgbImage, rgb: Rgb, region: Box = [0, 0, img.width, img.height]): Box | undefined {
  let [x1, y1, x2, y2] = [Infinity, Infinity, -Infinity, -Infinity];
  for (let y = Math.max(0, region[1]); y < Math.min(img.height, region[3]); y++) {
    for (let x = Math.max(0, region[0]); x < Math.min(img.width, region[2]); x++) {
      if (!same(rgbAt(img, x, y), rgb)) continue;
      x1 = Math.min(x1, x);
      y1 = Math.min(y1, y);
      x2 = Math.max(x2, x + 1);
      y2 = Math.max(y2, y + 1);
    }
  }
  return x1 === Infinity ? undefined : [x1, y1, x2, y2];
}

const grow = (b: Box, d: number): Box => [b[0] - d, b[1] - d, b[2] + d, b[3] + d];
const inside = (x: number, y: number, b: Box): boolean => x >= b[0] && x < b[2] && y >= b[1] && y < b[3];
const shapes = (objs: SceneObject[]): ShapeObject[] =>
  objs.filter((o): o is ShapeObject => o.kind === 'shape');
const signs = (objs: SceneObject[]): SignObject[] => objs.filter((o): o is SignObject => o.kind === 'sign');

/** The test's own parser of the product's answer format. */
function parseAnswer(answer: string): { thought: string; box: Box } {
  const m = /^<think>([^<]+)<\/think><answer>\[(-?\d+), (-?\d+), (-?\d+), (-?\d+)\]<\/answer>$/.exec(answer);
  if (!m) throw new Error(`not in the answer format: ${answer}`);
  return { thought: m[1]!, box: [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])] };
}

const SEEDS = Array.from({ length: 60 }, (_, i) => i * 7919 + 1);

describe('generateScene', () => {
  it('is deterministic: the same seed gives byte-identical pixels and the same objects', () => {
    for (const seed of [0, 1, 123456789, -5]) {
      const a = generateScene(seed);
      const b = generateScene(seed);
      expect(Buffer.from(a.image.data).equals(Buffer.from(b.image.data))).toBe(true);
      expect(b.objects).toEqual(a.objects);
    }
    const c = generateScene(1);
    const d = generateScene(2);
    expect(Buffer.from(c.image.data).equals(Buffer.from(d.image.data))).toBe(false);
  });

  it('gives RGBA images of the requested size, fully opaque', () => {
    const { image } = generateScene(3, { width: 96, height: 64, maxSize: 30 });
    expect([image.width, image.height, image.data.length]).toEqual([96, 64, 96 * 64 * 4]);
    for (let i = 3; i < image.data.length; i += 4) expect(image.data[i]).toBe(255);
  });

  it("boxes each shape's pixels exactly: the tight box of its colour around it is the box", () => {
    for (const seed of SEEDS) {
      const { image, objects } = generateScene(seed);
      for (const obj of shapes(objects)) {
        // Scan one pixel beyond the box on every side: nothing of this colour there, and the pixels
        // inside touch all four edges.
        expect(tightBox(image, obj.rgb, grow(obj.box, 1))).toEqual(obj.box);
        expect(same(obj.rgb, COLOURS[obj.colour])).toBe(true);
      }
      // No pixel of an object colour lies outside the boxes of the objects of that colour.
      for (let y = 0; y < image.height; y++) {
        for (let x = 0; x < image.width; x++) {
          const c = rgbAt(image, x, y);
          const colour = Object.entries(COLOURS).find(([, rgb]) => same(rgb, c))?.[0];
          if (!colour) continue;
          const owners = shapes(objects).filter((o) => o.colour === colour && inside(x, y, o.box));
          expect(owners.length).toBe(1);
        }
      }
    }
  });

  it('draws shapes that fill their box as the shape should (area fractions derived by hand)', () => {
    // square 1, circle pi/4, isosceles triangle 1/2, five-pointed star (inner radius 0.382 R) of area
    // 5 R r sin 36 deg over a 1.902 R x 1.809 R box: 0.326.
    const want = { square: 1, circle: Math.PI / 4, triangle: 0.5, star: 0.326 };
    const seen = new Set<string>();
    for (const seed of SEEDS) {
      const { image, objects } = generateScene(seed, { minSize: 24, maxSize: 40, objects: 3 });
      for (const obj of shapes(objects)) {
        let lit = 0;
        for (let y = obj.box[1]; y < obj.box[3]; y++) {
          for (let x = obj.box[0]; x < obj.box[2]; x++) if (same(rgbAt(image, x, y), obj.rgb)) lit++;
        }
        const area = (obj.box[2] - obj.box[0]) * (obj.box[3] - obj.box[1]);
        expect(Math.abs(lit / area - want[obj.shape])).toBeLessThan(0.06);
        seen.add(obj.shape);
      }
    }
    expect([...seen].sort()).toEqual(['circle', 'square', 'star', 'triangle']);
  });

  it("boxes the sign's word: the tight box of the ink pixels, which sit on the plate", () => {
    for (const seed of SEEDS) {
      const { image, objects } = generateScene(seed);
      const [sign] = signs(objects);
      expect(signs(objects).length).toBe(1);
      expect(tightBox(image, sign!.inkRgb)).toEqual(sign!.box);
      expect(tightBox(image, sign!.plateRgb)).toEqual(sign!.plate);
      for (let y = sign!.plate[1]; y < sign!.plate[3]; y++) {
        for (let x = sign!.plate[0]; x < sign!.plate[2]; x++) {
          const c = rgbAt(image, x, y);
          expect(same(c, sign!.plateRgb) || same(c, sign!.inkRgb)).toBe(true);
        }
      }
    }
  });

  it('renders sign words legibly: each letter at scale 1 is its 5x7 pattern, scale 2 doubles it', () => {
    for (const scale of [1, 2]) {
      for (const seed of SEEDS.slice(0, 20)) {
        const { image, objects } = generateScene(seed, { textScale: scale });
        const sign = signs(objects)[0]!;
        expect(sign.scale).toBe(scale);
        [...sign.text].forEach((ch, i) => {
          const rows = FONT_5X7[ch]!;
          for (let r = 0; r < 7 * scale; r++) {
            for (let c = 0; c < 5 * scale; c++) {
              const x = sign.textOrigin[0] + i * 6 * scale + c;
              const y = sign.textOrigin[1] + r;
              const lit = rows[Math.floor(r / scale)]![Math.floor(c / scale)] === '#';
              expect(same(rgbAt(image, x, y), lit ? sign.inkRgb : sign.plateRgb)).toBe(true);
            }
          }
        });
      }
    }
  });
});

describe('the bitmap font', () => {
  // Written out here by hand, independently of the font table.
  const HAND: Record<string, string[]> = {
    S: ['.####', '#....', '#....', '.###.', '....#', '....#', '####.'],
    T: ['#####', '..#..', '..#..', '..#..', '..#..', '..#..', '..#..'],
    O: ['.###.', '#...#', '#...#', '#...#', '#...#', '#...#', '.###.'],
    P: ['####.', '#...#', '#...#', '####.', '#....', '#....', '#....'],
    E: ['#####', '#....', '#....', '####.', '#....', '#....', '#####'],
    X: ['#...#', '#...#', '.#.#.', '..#..', '.#.#.', '#...#', '#...#'],
    '1': ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.'],
  };
  const render = (text: string): RgbImage => {
    const img: RgbImage = {
      width: text.length * 6,
      height: 7,
      data: new Uint8Array(text.length * 6 * 7 * 4),
    };
    drawText(img, text, 0, 0, 1, [255, 255, 255]);
    return img;
  };
  const pattern = (img: RgbImage, i: number): string[] =>
    Array.from({ length: 7 }, (_, y) =>
      Array.from({ length: 5 }, (_, x) => (img.data[(y * img.width + i * 6 + x) * 4] ? '#' : '.')).join(''),
    );

  it('draws the hand-written patterns and leaves the spacing column blank', () => {
    const text = Object.keys(HAND).join('');
    const img = render(text);
    [...text].forEach((ch, i) => {
      expect(pattern(img, i)).toEqual(HAND[ch]);
    });
    for (let i = 0; i < text.length; i++) {
      for (let y = 0; y < 7; y++) expect(img.data[(y * img.width + i * 6 + 5) * 4]).toBe(0);
    }
  });

  it('has a distinct, well-formed glyph for A-Z and 0-9, each drawn as its table entry', () => {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    const img = render(chars);
    const seen = new Set<string>();
    [...chars].forEach((ch, i) => {
      const g = FONT_5X7[ch]!;
      expect(g.length).toBe(7);
      for (const row of g) expect(row).toMatch(/^[#.]{5}$/);
      expect(pattern(img, i)).toEqual(g);
      seen.add(g.join('/'));
    });
    expect(seen.size).toBe(chars.length);
  });
});

describe('groundingTask', () => {
  const SHAPE_Q = [
    /^Where is the (\w+) (\w+)\?$/,
    /^Find the (\w+) (\w+) in the image\.$/,
    /^What is the bounding box of the (\w+) that is (\w+)\?$/,
  ];
  const SIGN_Q = [
    /^Where does it say ([A-Z ]+)\?$/,
    /^Find the word ([A-Z ]+)\.$/,
    /^Where is ([A-Z ]+) written\?$/,
  ];

  /** The objects a question describes, by the test's own reading of it. */
  function matches(question: string, objects: SceneObject[]): SceneObject[] {
    for (const [k, re] of SHAPE_Q.entries()) {
      const m = re.exec(question);
      if (!m) continue;
      const [colour, shape] = k === 2 ? [m[2], m[1]] : [m[1], m[2]];
      return shapes(objects).filter((o) => o.colour === colour && o.shape === shape);
    }
    for (const re of SIGN_Q) {
      const m = re.exec(question);
      if (m) return signs(objects).filter((o) => o.text === m[1]);
    }
    throw new Error(`unrecognised question: ${question}`);
  }

  it('asks about exactly one object, whose box is the answer; both kinds of question occur', () => {
    const kinds = new Set<string>();
    for (const seed of SEEDS) {
      for (const opts of [{}, { objects: 6, minSize: 8, maxSize: 20 }, { text: false }]) {
        const task = groundingTask(seed, opts);
        const hits = matches(task.question, task.objects);
        expect(hits.length).toBe(1);
        expect(task.box).toEqual(hits[0]!.box);
        kinds.add(hits[0]!.kind);
      }
    }
    expect([...kinds].sort()).toEqual(['shape', 'sign']);
  });

  it('answers in the product format; the answer parses back to the box and names the place', () => {
    for (const seed of SEEDS) {
      const task = groundingTask(seed);
      const { thought: all, box } = parseAnswer(task.answer);
      expect(box).toEqual(task.box);
      const target = task.objects[task.target]!;
      // The reasoning ends on the target and its place.
      const last = / ((?:The text "[A-Z ]+")|(?:The [a-z]+ [a-z]+)) is at the ([a-z ]+)\.$/.exec(all);
      expect(last, all).not.toBeNull();
      expect(last![1]).toBe(
        target.kind === 'sign' ? `The text "${target.text}"` : `The ${target.colour} ${target.shape}`,
      );
      const thought = ` ${last![2]}`;
      const cx = (box[0] + box[2]) / 2;
      const cy = (box[1] + box[3]) / 2;
      const { width: w, height: h } = task.image;
      if (/ (top|bottom) left\b| left side\b/.test(thought)) expect(cx).toBeLessThan(w / 3);
      else if (/ (top|bottom) right\b| right side\b/.test(thought))
        expect(cx).toBeGreaterThanOrEqual((2 * w) / 3);
      else expect(cx >= w / 3 && cx < (2 * w) / 3).toBe(true);
      if (/ top\b/.test(thought)) expect(cy).toBeLessThan(h / 3);
      else if (/ bottom\b/.test(thought)) expect(cy).toBeGreaterThanOrEqual((2 * h) / 3);
      else expect(cy >= h / 3 && cy < (2 * h) / 3).toBe(true);
    }
  });

  it('reasons over every object in reading order, each with its place, before the answer', () => {
    const opts = { text: true, objects: 4 };
    for (const seed of SEEDS) {
      const task = groundingTask(seed, opts);
      const { thought } = parseAnswer(task.answer);
      const listed = /^I see (.+)\. The /.exec(thought)![1]!.split(/, | and /);
      const { width: w, height: h } = task.image;
      const centre = (b: Box) => [b[0] + b[2], b[1] + b[3]] as const;
      const order = [...task.objects].sort((a, b) => {
        const [ax, ay] = centre(a.box);
        const [bx, by] = centre(b.box);
        return ay - by || ax - bx;
      });
      expect(listed).toEqual(
        order.map((o) =>
          o.kind === 'sign'
            ? `the text "${o.text}" at the ${describePosition(o.box, w, h)}`
            : `${o.colour === 'orange' ? 'an' : 'a'} ${o.colour} ${o.shape} at the ${describePosition(o.box, w, h)}`,
        ),
      );
    }
  });

  it("with reasoning 'target', names the target and its place only; the scene and question stay", () => {
    const opts = { text: true, objects: 3 };
    for (const seed of SEEDS.slice(0, 12)) {
      const scene = groundingTask(seed, opts);
      const task = groundingTask(seed, { ...opts, reasoning: 'target' });
      expect(task.question).toBe(scene.question);
      expect(task.box).toEqual(scene.box);
      expect(task.image.data).toEqual(scene.image.data);
      const t = task.objects[task.target]!;
      const where = describePosition(t.box, task.image.width, task.image.height);
      expect(parseAnswer(task.answer).thought).toBe(
        t.kind === 'sign'
          ? `I can see the text "${t.text}" written on a sign at the ${where}. The box covers the word.`
          : `The ${t.colour} ${t.shape} is at the ${where} of the image, so the box is around it.`,
      );
    }
    expect(() => groundingTask(1, { reasoning: 'all' as never })).toThrow(DataOptionsError);
  });

  it('with distractors, every other shape shares the colour or the shape of an anchor, never both', () => {
    for (const seed of SEEDS) {
      const objs = shapes(generateScene(seed, { objects: 5, minSize: 10, maxSize: 24 }).objects);
      const anchor = objs.find((a) =>
        objs.every((o) => o === a || (o.colour === a.colour) !== (o.shape === a.shape)),
      );
      expect(anchor).toBeDefined();
    }
    for (const seed of SEEDS) {
      const objs = shapes(
        generateScene(seed, { objects: 5, minSize: 10, maxSize: 24, distractors: false }).objects,
      );
      const loner = objs.find((a) =>
        objs.every((o) => o === a || (o.colour !== a.colour && o.shape !== a.shape)),
      );
      expect(loner).toBeDefined();
    }
  });
});

describe('knobs', () => {
  it('respects image size, object count and the size range; boxes stay apart and inside the image', () => {
    const settings = [
      { width: 128, height: 128, objects: 3, minSize: 12, maxSize: 40, text: true },
      { width: 96, height: 64, objects: 5, minSize: 6, maxSize: 14, text: true },
      { width: 200, height: 120, objects: 1, minSize: 30, maxSize: 30, text: false },
      { width: 64, height: 64, objects: 4, minSize: 5, maxSize: 5, text: false },
    ];
    for (const opts of settings) {
      for (const seed of SEEDS.slice(0, 25)) {
        const { image, objects } = generateScene(seed, opts);
        expect([image.width, image.height]).toEqual([opts.width, opts.height]);
        expect(shapes(objects).length).toBe(opts.objects);
        expect(signs(objects).length).toBe(opts.text ? 1 : 0);
        for (const o of shapes(objects)) {
          for (const side of [o.box[2] - o.box[0], o.box[3] - o.box[1]]) {
            expect(side).toBeGreaterThanOrEqual(opts.minSize);
            expect(side).toBeLessThanOrEqual(opts.maxSize);
          }
        }
        const rects = objects.map((o) => (o.kind === 'sign' ? o.plate : o.box));
        for (const [i, a] of rects.entries()) {
          expect(a[0] >= 0 && a[1] >= 0 && a[2] <= opts.width && a[3] <= opts.height).toBe(true);
          for (const b of rects.slice(i + 1)) {
            const apart = a[2] < b[0] || b[2] < a[0] || a[3] < b[1] || b[3] < a[1];
            expect(apart).toBe(true);
          }
        }
      }
    }
  });

  it('throws DataOptionsError for knobs that cannot be met', () => {
    expect(() => generateScene(1, { objects: 40, minSize: 30, maxSize: 40 })).toThrow(DataOptionsError);
    expect(() => generateScene(1, { minSize: 20, maxSize: 10 })).toThrow(DataOptionsError);
    expect(() => generateScene(1, { width: 32, height: 32, maxSize: 40 })).toThrow(DataOptionsError);
    expect(() => generateScene(1.5)).toThrow(DataOptionsError);
  });
});

describe('syntheticDataset', () => {
  it('gives canonical rows whose lazy images are the scenes the boxes describe', async () => {
    const rows = syntheticDataset(42, 12, { width: 96, height: 80, maxSize: 30 });
    expect(rows.length).toBe(12);
    expect(new Set(rows.map((r) => r.id)).size).toBe(12);
    for (const [i, row] of rows.entries()) {
      expect([row.width, row.height]).toEqual([96, 80]);
      expect(parseAnswer(row.answer!).box).toEqual(row.box);
      const task = groundingTask(syntheticRowSeed(42, i), { width: 96, height: 80, maxSize: 30 });
      expect(row.question).toBe(task.question);
      const image = await row.image();
      expect(Buffer.from(image.data).equals(Buffer.from(task.image.data))).toBe(true);
      // The target's own colour fills its box's edges (it really is drawn there).
      const target = task.objects[task.target]!;
      const rgb = target.kind === 'sign' ? target.inkRgb : target.rgb;
      expect(tightBox(image, rgb, grow(row.box, 1))).toEqual(row.box);
    }
    // Row i does not depend on the count; another seed gives other rows.
    expect(syntheticDataset(42, 5, { width: 96, height: 80, maxSize: 30 }).map((r) => r.question)).toEqual(
      rows.slice(0, 5).map((r) => r.question),
    );
    expect(syntheticDataset(43, 12).map((r) => r.box)).not.toEqual(
      syntheticDataset(42, 12).map((r) => r.box),
    );
  });
});

describe('the nano task', () => {
  it('two shapes of 16-32 px on 84 x 84, no sign questions', () => {
    const rows = syntheticDataset(11, 200, NANO_TASK);
    for (const r of rows) {
      expect([r.width, r.height]).toEqual([84, 84]);
      expect(r.question).not.toMatch(/say|word|written/);
      const [w, h] = [r.box[2] - r.box[0], r.box[3] - r.box[1]];
      expect(Math.max(w, h)).toBeLessThanOrEqual(32);
      expect(Math.max(w, h)).toBeGreaterThanOrEqual(8);
    }
    const scene = groundingTask(syntheticRowSeed(11, 0), NANO_TASK);
    expect(scene.objects).toHaveLength(2);
  });

  it('draws the position backdrop: red follows x, green follows y, never an object colour', () => {
    const scene = groundingTask(syntheticRowSeed(11, 3), NANO_TASK);
    const { width, height, data } = scene.image;
    const inside = (x: number, y: number) =>
      scene.objects.some((o) => x >= o.box[0] && x < o.box[2] && y >= o.box[1] && y < o.box[3]);
    const px = (x: number, y: number) => {
      const o = (y * width + x) * (data.length / (width * height));
      return [data[o]!, data[o + 1]!, data[o + 2]!];
    };
    const objectColours = new Set(Object.values(COLOURS).map((c) => c.join()));
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        if (inside(x, y)) continue;
        const [r, g] = px(x, y);
        // The red step off a reserved colour moves red by at most a few levels.
        expect(Math.abs(r! - (60 + Math.round((140 * x) / (width - 1))))).toBeLessThanOrEqual(3);
        expect(g).toBe(60 + Math.round((140 * y) / (height - 1)));
        expect(objectColours.has(px(x, y).join())).toBe(false);
      }
    expect(() => syntheticDataset(1, 1, { backdrop: 'plaid' as never })).toThrow(/backdrop/);
  });
});
