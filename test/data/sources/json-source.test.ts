// JSON / JSONL sources: the tutorial's real annotation file (../shared/fixtures) with placeholder
// PNGs written here at the listed sizes for a subset of rows, its out-of-image boxes counted
// independently from the raw JSON; then small hand-written datasets for each row format, box format,
// broken row and file-resolution rule, with expected boxes worked out by hand.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toGroundingRows } from '../../../src/data/dataset.ts';
import { DatasetFormatError } from '../../../src/data/errors.ts';
import {
  type DroppedFile,
  droppedFileFromBytes,
  droppedFilesFromFileList,
  ImageResolver,
} from '../../../src/data/files/files.ts';
import { decodeImage } from '../../../src/data/image/image-decode-node.ts';
import { openDatasetAt } from '../../../src/data/open-dataset-node.ts';
import { type JsonSourceOptions, openJsonDataset } from '../../../src/data/sources/json-source.ts';

const FIXTURE = new URL('../../../../shared/fixtures/textvqa_cot_train_1_bbox_0.json', import.meta.url)
  .pathname;

function png(width: number, height: number): Uint8Array {
  const p = new PNG({ width, height });
  p.data.fill(128);
  return new Uint8Array(PNG.sync.write(p));
}

function mem(path: string, content: string | Uint8Array): DroppedFile {
  const bytes = typeof content === 'string' ? new TextEncoder().encode(content) : content;
  return droppedFileFromBytes(path, bytes);
}

function open(files: DroppedFile[], options: JsonSourceOptions = {}) {
  return openJsonDataset(files, { decode: decodeImage, ...options });
}

const issuesOf = (issues: { row: number; reason: string; action: string }[]) =>
  issues.map((i) => [i.row, i.reason, i.action]);

interface TutorialRow {
  question: string;
  image: string;
  width: number;
  height: number;
  bboxs: number[][];
}

describe('the tutorial annotation file', () => {
  let raw: TutorialRow[];
  let dir: string;
  const overshoot = new Map<number, number>();
  const withImages = new Set<number>();

  beforeAll(() => {
    if (!existsSync(FIXTURE)) {
      throw new Error(
        `missing ${FIXTURE}: the tutorial's annotation file must be at ../shared/fixtures/ (relative to the repo)`,
      );
    }
    raw = JSON.parse(readFileSync(FIXTURE, 'utf8'));
    raw.forEach((r, i) => {
      const [x1, y1, x2, y2] = r.bboxs[0] as number[];
      const o = Math.max(0, -x1!, -y1!, x2! - r.width, y2! - r.height);
      if (o > 0) overshoot.set(i, o);
    });
    // Placeholder images at the listed sizes: the first 30 rows and every out-of-image row.
    dir = mkdtempSync(join(tmpdir(), 'vgrpo-tutorial-'));
    writeFileSync(join(dir, 'textvqa_cot_train_1_bbox_0.json'), readFileSync(FIXTURE));
    mkdirSync(join(dir, 'train_images'));
    for (let i = 0; i < raw.length; i++) {
      if (i >= 30 && !overshoot.has(i)) continue;
      const r = raw[i] as TutorialRow;
      const name = r.image.slice(r.image.lastIndexOf('/') + 1);
      writeFileSync(join(dir, 'train_images', name), png(r.width, r.height));
    }
    const names = new Set(raw.filter((_, i) => i < 30 || overshoot.has(i)).map((r) => r.image));
    raw.forEach((r, i) => {
      if (names.has(r.image)) withImages.add(i);
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has 20 out-of-image boxes by its own width / height', () => {
    expect(raw.length).toBe(11495);
    expect(overshoot.size).toBe(20);
  });

  it('without images: every row read, every image missing by name, every out-of-image box reported', async () => {
    const ds = await open([mem('textvqa_cot_train_1_bbox_0.json', readFileSync(FIXTURE))]);
    const r = ds.report;
    expect(r.rows).toBe(11495);
    expect(r.usable).toBe(0);
    expect(r.format).toBe('visual-cot');
    expect(r.boxFormat).toBe('xyxy');
    expect(r.fields).toMatchObject({
      image: 'image',
      question: 'question',
      box: 'bboxs',
      width: 'width',
      height: 'height',
    });
    const missing = r.issues.filter((i) => i.reason === 'missing-image');
    expect(missing.length).toBe(11495);
    expect(missing[0]?.detail).toContain('0054c91397f2fe05.jpg');
    const boxIssues = r.issues.filter((i) => i.reason === 'box-outside-image' || i.reason === 'box-clamped');
    expect(boxIssues.map((i) => i.row).sort((a, b) => a - b)).toEqual([...overshoot.keys()]);
  });

  it('reports the box layout with its evidence: every box read both ways, counted from the raw JSON', async () => {
    let asXyxy = 0;
    let asXywh = 0;
    for (const r of raw) {
      const [a, b, c, d] = r.bboxs[0] as [number, number, number, number];
      const fits = (x1: number, y1: number, x2: number, y2: number) =>
        x2 > x1 && y2 > y1 && Math.max(-x1, -y1, x2 - r.width, y2 - r.height) <= 2;
      if (fits(a, b, c, d)) asXyxy++;
      if (fits(a, b, a + c, b + d)) asXywh++;
    }
    const n = (v: number) => v.toLocaleString('en-US');
    const ds = await open([mem('textvqa_cot_train_1_bbox_0.json', readFileSync(FIXTURE))]);
    const reason = ds.report.boxFormatReason;
    expect(reason).toContain("the values agree with the field name 'bboxs' ([x1, y1, x2, y2])");
    expect(reason).toContain(
      `read as [x1, y1, x2, y2], ${n(asXyxy)} of 11,495 boxes fit their image (${11495 - asXyxy} outside)`,
    );
    expect(reason).toContain(`read as [x, y, w, h], ${n(asXywh)} fit their image`);
  });

  it('with placeholder images found by file name: clamped <= 2 px, skipped beyond', async () => {
    const ds = await openDatasetAt(dir);
    const r = ds.report;
    expect(r.rows).toBe(11495);
    const clampRows = [...overshoot].filter(([, o]) => o <= 2).map(([i]) => i);
    const skipRows = [...overshoot].filter(([, o]) => o > 2).map(([i]) => i);
    expect(clampRows.length).toBeGreaterThan(0);
    expect(skipRows.length).toBeGreaterThan(0);
    const rowsWith = (reason: string, action: string) =>
      r.issues.filter((i) => i.reason === reason && i.action === action).map((i) => i.row);
    expect(rowsWith('box-clamped', 'repaired')).toEqual(clampRows);
    expect(rowsWith('box-outside-image', 'skipped')).toEqual(skipRows);
    expect(r.repaired).toBe(clampRows.length);
    const usable = [...withImages].filter((i) => !skipRows.includes(i)).sort((a, b) => a - b);
    expect(ds.rows.map((g) => g.row)).toEqual(usable);
    expect(r.usable).toBe(usable.length);
    expect(rowsWith('missing-image', 'skipped').length).toBe(11495 - withImages.size);
    for (const g of ds.rows) {
      const src = raw[g.row] as TutorialRow;
      const [x1, y1, x2, y2] = src.bboxs[0] as number[];
      expect(g.box).toEqual([
        Math.max(0, x1!),
        Math.max(0, y1!),
        Math.min(src.width, x2!),
        Math.min(src.height, y2!),
      ]);
      expect(g.question).toBe(src.question);
    }
    const first = ds.rows[0]!;
    const img = await ds.loadImage(first);
    expect([img.width, img.height]).toEqual([512, 365]);
  });

  it('with --decode-style image checks the placeholder sizes all match', async () => {
    const ds = await openDatasetAt(dir, { checkImages: true });
    expect(
      ds.report.issues.filter((i) => i.reason === 'image-size-mismatch' || i.reason === 'undecodable-image'),
    ).toEqual([]);
  });
});

describe('row formats', () => {
  it('JSONL with a corrupt line: reported with its line number, the rest load', async () => {
    const rows = [
      '{"image": "a.png", "question": "q0", "bbox": [1, 2, 3, 4], "width": 10, "height": 10}',
      '',
      '{"image": "a.png", "question": "q1", "bbox": [1, 2, 3',
      '{"image": "a.png", "question": "q2", "bbox": [2, 2, 4, 4], "width": 10, "height": 10}',
    ];
    const ds = await open([mem('ann.jsonl', rows.join('\n')), mem('a.png', png(10, 10))]);
    expect(ds.report.rows).toBe(3);
    expect(ds.report.issues).toHaveLength(1);
    expect(ds.report.issues[0]).toMatchObject({ row: 1, line: 3, reason: 'bad-json', action: 'skipped' });
    expect(ds.rows.map((r) => [r.row, r.question, r.box])).toEqual([
      [0, 'q0', [1, 2, 4, 6]],
      [2, 'q2', [2, 2, 6, 6]],
    ]);
  });

  it('VLM-R1 REC rows: box as bare [x1,y1,x2,y2] and as {"bbox_2d": [...]} in the answer', async () => {
    const rec = (q: string, a: string) =>
      JSON.stringify({
        image: 'imgs/x.png',
        conversations: [
          { from: 'human', value: `<image>${q}` },
          { from: 'gpt', value: a },
        ],
      });
    const text = [
      rec('Find the dog.', '<answer>[12, 30, 80, 95]</answer>'),
      rec('Find the cat.', '```json\n[{"bbox_2d": [5, 6, 50, 60], "label": "cat"}]\n```'),
      rec('Find nothing.', 'there is none'),
    ].join('\n');
    const ds = await open([mem('rec.jsonl', text), mem('imgs/x.png', png(100, 100))]);
    expect(ds.report.format).toBe('vlm-r1-rec');
    expect(ds.report.boxFormat).toBe('xyxy');
    expect(ds.rows.map((r) => [r.question, r.box])).toEqual([
      ['Find the dog.', [12, 30, 80, 95]],
      ['Find the cat.', [5, 6, 50, 60]],
    ]);
    expect(issuesOf(ds.report.issues)).toEqual([[2, 'missing-box', 'skipped']]);
    // REC rows carry no size: the canonical rows learn it from the image.
    const canonical = toGroundingRows(ds);
    expect(canonical.map((g) => [g.id, g.width, g.height, g.box])).toEqual([
      ['rec.jsonl#0', 100, 100, [12, 30, 80, 95]],
      ['rec.jsonl#1', 100, 100, [5, 6, 50, 60]],
    ]);
    expect((await canonical[1]!.image()).height).toBe(100);
  });

  it('R1-V / VLM-R1 rows {image, problem, solution}: the solution a box or an <answer> string', async () => {
    const rows = [
      { image: 'r.png', problem: 'Where is the red cube?', solution: '<answer>[10, 12, 40, 44]</answer>' },
      { image: 'r.png', problem: 'Where is the ball?', solution: [50, 20, 90, 70] },
      { image: 'r.png', problem: 'How many?', solution: '<answer> 3 </answer>' },
    ];
    const ds = await open([mem('r1v.json', JSON.stringify(rows)), mem('r.png', png(100, 80))]);
    expect(ds.report.format).toBe('r1v');
    expect(ds.report.boxFormat).toBe('xyxy');
    expect(ds.rows.map((r) => [r.question, r.box])).toEqual([
      ['Where is the red cube?', [10, 12, 40, 44]],
      ['Where is the ball?', [50, 20, 90, 70]],
    ]);
    expect(issuesOf(ds.report.issues)).toEqual([[2, 'missing-box', 'skipped']]);
  });

  it('reports its progress: rows whose image was checked, of those that need it, up to all of them', async () => {
    const rows = Array.from({ length: 40 }, (_, i) => ({
      image: 'p.png',
      question: `q${i}`,
      box: [1, 1, 5, 5],
    }));
    rows.push({ image: 'p.png', question: '', box: [1, 1, 5, 5] });
    const seen: [number, number][] = [];
    const ds = await open([mem('rows.json', JSON.stringify(rows)), mem('p.png', png(8, 8))], {
      onProgress: (indexed, total) => seen.push([indexed, total]),
    });
    expect(ds.rows).toHaveLength(40);
    expect(seen[0]).toEqual([0, 40]);
    expect(seen[seen.length - 1]).toEqual([40, 40]);
    expect(seen.every(([a, t], i) => t === 40 && a >= (seen[i - 1]?.[0] ?? 0))).toBe(true);
  });

  it('COCO-style [x, y, w, h] boxes in a JSON array', async () => {
    const rows = [
      { file_name: 'c.png', question: 'the sign', bbox: [10, 20, 30, 40], width: 100, height: 80 },
    ];
    const ds = await open([mem('coco.json', JSON.stringify(rows)), mem('c.png', png(100, 80))]);
    expect(ds.report.format).toBe('coco-xywh');
    expect(ds.report.boxFormat).toBe('xywh');
    expect(ds.rows[0]?.box).toEqual([10, 20, 40, 60]);
  });

  it('a `bbox` field holding [x1, y1, x2, y2] pixels is read as such, the evidence in the report', async () => {
    // As [x, y, w, h] only the first and sixth boxes would fit the 64 x 48 image.
    const boxes = [
      [2, 3, 20, 25],
      [30, 10, 60, 40],
      [40, 20, 62, 46],
      [10, 30, 50, 47],
      [35, 5, 55, 15],
      [5, 5, 15, 15],
      [44, 28, 63, 44],
      [20, 20, 40, 40],
    ];
    const rows = boxes.map((bbox, i) => ({ image: 'p.png', question: `q${i}`, bbox, width: 64, height: 48 }));
    const ds = await open([mem('p.json', JSON.stringify(rows)), mem('p.png', png(64, 48))]);
    expect(ds.report.format).toBe('coco-xywh');
    expect(ds.report.boxFormat).toBe('xyxy');
    expect(ds.report.boxFormatSource).toBe('detected');
    expect(ds.report.boxFormatReason).toContain("the values overrule the field name 'bbox' ([x, y, w, h])");
    expect(ds.report.boxFormatReason).toContain('read as [x1, y1, x2, y2], 8 of 8 boxes fit their image');
    expect(ds.report.boxFormatReason).toContain('read as [x, y, w, h], 2 fit their image (6 outside)');
    expect(ds.report.issues).toEqual([]);
    expect(ds.rows.map((r) => r.box)).toEqual(boxes);
  });

  it('a split box layout asks for the box format, with the counts; the override settles it', async () => {
    // 64 x 48 images: 4 boxes fit only as [x1, y1, x2, y2], 4 only as [x, y, w, h], 1 both ways.
    const boxes = [
      ...Array.from({ length: 4 }, () => [30, 10, 60, 40]),
      ...Array.from({ length: 4 }, () => [40, 20, 10, 10]),
      [2, 3, 20, 25],
    ];
    const rows = boxes.map((bbox, i) => ({ image: 's.png', question: `q${i}`, bbox, width: 64, height: 48 }));
    const files = [mem('s.json', JSON.stringify(rows)), mem('s.png', png(64, 48))];
    const ds = await open(files);
    expect(ds.report.boxFormat).toBeNull();
    expect(ds.report.boxFormatReason).toMatch(
      /^the box layout is split: neither layout fits a clear majority/,
    );
    expect(ds.report.boxFormatReason).toContain(
      'read as [x, y, w, h], 5 of 9 boxes fit their image (4 outside)',
    );
    expect(ds.report.boxFormatReason).toContain(
      'read as [x1, y1, x2, y2], 5 fit their image (4 without area)',
    );
    // The data code names no CLI flag or page control: each front end says how to give the format.
    expect(ds.report.ambiguity).toContain('the box format must be given');
    expect(ds.report.ambiguity).not.toContain('--');
    expect(ds.rows).toEqual([]);
    const asXyxy = await open(files, { boxFormat: 'xyxy' });
    expect(asXyxy.rows.map((r) => r.row)).toEqual([0, 1, 2, 3, 8]);
    expect(issuesOf(asXyxy.report.issues).filter(([, reason]) => reason === 'degenerate-box')).toHaveLength(
      4,
    );
  });

  it('normalised boxes under the `bbox` name: the layout judged within 0-1 and 0-1000', async () => {
    const unit = [
      [0.1, 0.2, 0.3, 0.4],
      [0.6, 0.5, 0.9, 0.95],
      [0.55, 0.1, 0.75, 0.3],
    ];
    const rows1 = unit.map((bbox, i) => ({
      image: 'u.png',
      question: `q${i}`,
      bbox,
      width: 200,
      height: 100,
    }));
    const ds1 = await open([mem('u.json', JSON.stringify(rows1)), mem('u.png', png(200, 100))]);
    expect(ds1.report.boxFormat).toBe('norm1');
    expect(ds1.report.boxFormatReason).toContain('3 of 3 boxes fit within 0-1');
    expect(ds1.rows.map((r) => r.box.map((v) => +v.toFixed(6)))).toEqual([
      [20, 20, 60, 40],
      [120, 50, 180, 95],
      [110, 10, 150, 30],
    ]);
    const perMille = [
      [100, 200, 500, 800],
      [600, 500, 900, 950],
      [550, 100, 750, 300],
    ];
    const rows2 = perMille.map((bbox, i) => ({
      image: 'm.png',
      question: `q${i}`,
      bbox,
      width: 320,
      height: 240,
    }));
    const ds2 = await open([mem('m.json', JSON.stringify(rows2)), mem('m.png', png(320, 240))]);
    expect(ds2.report.boxFormat).toBe('norm1000');
    expect(ds2.report.boxFormatReason).toContain('3 of 3 boxes fit within 0-1000');
    expect(ds2.rows.map((r) => r.box.map((v) => +v.toFixed(6)))).toEqual([
      [32, 48, 160, 192],
      [192, 120, 288, 228],
      [176, 24, 240, 72],
    ]);
  });

  it('0-1 normalised boxes are detected and scaled by the image size', async () => {
    const rows = [
      { image: 'n.png', question: 'a', bboxs: [[0.1, 0.2, 0.5, 0.6]], width: 200, height: 100 },
      { image: 'n.png', question: 'b', bboxs: [[0, 0, 1, 1]], width: 200, height: 100 },
    ];
    const ds = await open([mem('n.json', JSON.stringify(rows)), mem('n.png', png(200, 100))]);
    expect(ds.report.boxFormat).toBe('norm1');
    expect(ds.rows.map((r) => r.box.map((v) => +v.toFixed(6)))).toEqual([
      [20, 20, 100, 60],
      [0, 0, 200, 100],
    ]);
  });

  it('0-1000 normalised boxes: detected when they do not fit the images as pixels', async () => {
    const rows = [
      { image: 'm.png', question: 'a', bboxs: [[100, 200, 500, 800]], width: 320, height: 240 },
      { image: 'm.png', question: 'b', bboxs: [[600, 500, 900, 950]], width: 320, height: 240 },
    ];
    const ds = await open([mem('m.json', JSON.stringify(rows)), mem('m.png', png(320, 240))]);
    expect(ds.report.boxFormat).toBe('norm1000');
    expect(ds.rows.map((r) => r.box.map((v) => +v.toFixed(6)))).toEqual([
      [32, 48, 160, 192],
      [192, 120, 288, 228],
    ]);
  });

  it('ambiguous boxes (<= 1000 in images over 1000 px) require the override', async () => {
    const rows = [
      { image: 'big.png', question: 'a', bboxs: [[100, 200, 500, 800]], width: 2000, height: 1500 },
      { image: 'big.png', question: 'b', bboxs: [[10, 20, 300, 400]], width: 2000, height: 1500 },
    ];
    const files = [mem('big.json', JSON.stringify(rows)), mem('big.png', png(4, 4))];
    const ds = await open(files);
    expect(ds.report.boxFormat).toBeNull();
    expect(ds.report.ambiguity).toMatch(/norm1000/);
    expect(ds.report.usable).toBe(0);
    expect(ds.rows).toEqual([]);
    const asPixels = await open(files, { boxFormat: 'xyxy' });
    expect(asPixels.report.boxFormatSource).toBe('override');
    expect(asPixels.rows.map((r) => r.box)).toEqual([
      [100, 200, 500, 800],
      [10, 20, 300, 400],
    ]);
    const asNorm = await open(files, { boxFormat: 'norm1000' });
    expect(asNorm.rows[0]?.box).toEqual([200, 300, 1000, 1200]);
  });

  it('boxes all 0 / 1 are ambiguous too', async () => {
    const rows = [{ image: 'a.png', question: 'a', bboxs: [[0, 0, 1, 1]], width: 50, height: 50 }];
    const ds = await open([mem('a.json', JSON.stringify(rows)), mem('a.png', png(50, 50))]);
    expect(ds.report.boxFormat).toBeNull();
    expect(ds.report.ambiguity).toBeDefined();
  });

  it('unknown fields: a typed error naming the field; the override maps them', async () => {
    const rows = [{ img_file: 'a.png', ask: 'where?', region: [1, 1, 5, 5] }];
    const files = [mem('a.json', JSON.stringify(rows)), mem('a.png', png(8, 8))];
    const error = await open(files).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatasetFormatError);
    expect(error).toMatchObject({ needs: 'fields', columns: ['ask', 'img_file', 'region'] });
    expect((error as Error).message).toMatch(/cannot tell which field holds the image/);
    expect((error as Error).message).not.toContain('--');
    const ds = await open(files, {
      fields: { image: 'img_file', question: 'ask', box: 'region' },
      boxFormat: 'xyxy',
    });
    expect(ds.report.format).toBe('custom');
    expect(ds.rows.map((r) => [r.question, r.box])).toEqual([['where?', [1, 1, 5, 5]]]);
  });

  it('a file that is not JSON is a typed error', async () => {
    await expect(open([mem('x.json', 'hello')])).rejects.toThrow(DatasetFormatError);
  });
});

describe('broken rows', () => {
  it('each broken variant is reported at its row; nothing throws; good rows stay usable', async () => {
    const ok = (q: string, box: string) =>
      `{"image": "ok.png", "question": ${q}, "bboxs": ${box}, "width": 40, "height": 30}`;
    // Python's json.dump writes NaN as a bare literal: it must not break the whole file.
    const text = `[
      ${ok('"good"', '[[1, 2, 10, 12]]')},
      ${ok('""', '[[1, 2, 10, 12]]')},
      ${ok('"nan"', '[[1, NaN, 10, 12]]')},
      ${ok('"text"', '[["1", 2, 10, 12]]')},
      ${ok('"flat"', '[[5, 5, 5, 9]]')},
      ${ok('"inverted"', '[[9, 5, 4, 9]]')},
      {"image": "gone.png", "question": "missing", "bboxs": [[1, 2, 10, 12]], "width": 40, "height": 30},
      ${ok('"none"', '[]')},
      ${ok('"two"', '[[1, 2, 10, 12], [3, 3, 6, 6]]')},
      {"question": "no image field", "bboxs": [[1, 2, 10, 12]], "width": 40, "height": 30},
      ${ok('"far"', '[[1, 2, 43, 12]]')},
      ${ok('"near"', '[[1, 2, 42, 12]]')},
      7
    ]`;
    const ds = await open([mem('b.json', text), mem('ok.png', png(40, 30))]);
    expect(ds.report.rows).toBe(13);
    expect(issuesOf(ds.report.issues)).toEqual([
      [1, 'missing-question', 'skipped'],
      [2, 'non-numeric-box', 'skipped'],
      [3, 'non-numeric-box', 'skipped'],
      [4, 'degenerate-box', 'skipped'],
      [5, 'degenerate-box', 'skipped'],
      [6, 'missing-image', 'skipped'],
      [7, 'missing-box', 'skipped'],
      [8, 'multiple-boxes', 'kept'],
      [9, 'missing-image', 'skipped'],
      [10, 'box-outside-image', 'skipped'],
      [11, 'box-clamped', 'repaired'],
      [12, 'not-an-object', 'skipped'],
    ]);
    expect(ds.report.issues.find((i) => i.row === 6)?.detail).toContain('gone.png');
    expect(ds.rows.map((r) => [r.row, r.box])).toEqual([
      [0, [1, 2, 10, 12]],
      [8, [1, 2, 10, 12]],
      [11, [1, 2, 40, 12]],
    ]);
    expect(ds.report.usable).toBe(3);
    expect(ds.report.repaired).toBe(1);
  });

  it('image checks: undecodable files and sizes that disagree with the row', async () => {
    const rows = [
      { image: 'good.png', question: 'a', bboxs: [[1, 1, 5, 5]], width: 20, height: 10 },
      { image: 'bad.png', question: 'b', bboxs: [[1, 1, 5, 5]], width: 20, height: 10 },
      { image: 'other.png', question: 'c', bboxs: [[1, 1, 5, 5]], width: 20, height: 10 },
      { image: 'nosize.png', question: 'd', bboxs: [[0.5, 0.5, 1, 1]], width: 'x' },
    ];
    const files = [
      mem('d.json', JSON.stringify(rows)),
      mem('good.png', png(20, 10)),
      mem('bad.png', 'not an image'),
      mem('other.png', png(10, 20)),
      mem('nosize.png', png(8, 6)),
    ];
    const unchecked = await open(files, { boxFormat: 'xyxy' });
    expect(unchecked.rows.map((r) => r.row)).toEqual([0, 1, 2, 3]);
    const checked = await open(files, { boxFormat: 'xyxy', checkImages: true });
    expect(issuesOf(checked.report.issues)).toEqual([
      [1, 'undecodable-image', 'skipped'],
      [2, 'image-size-mismatch', 'skipped'],
    ]);
    // Without decoding, a row without a size gets it from the image header: the normalised box is
    // placed, and a file that is no image is reported without decoding anything.
    const norm = await open(
      [files[4]!, mem('bad.png', 'not an image')].concat([
        mem('d.json', JSON.stringify([rows[3], { ...rows[1], width: undefined, height: undefined }])),
      ]),
      { boxFormat: 'norm1' },
    );
    expect(norm.rows.map((r) => [r.row, r.width, r.height, r.box])).toEqual([[0, 8, 6, [4, 3, 8, 6]]]);
    expect(issuesOf(norm.report.issues)).toEqual([[1, 'undecodable-image', 'skipped']]);
    const normChecked = await open([files[0]!, files[1]!, files[2]!, files[4]!], {
      boxFormat: 'norm1',
      checkImages: true,
    });
    expect(normChecked.rows.find((r) => r.row === 3)?.box).toEqual([4, 3, 8, 6]);
  });
});

describe('image resolution', () => {
  it('as written relative to the annotation file, then by name (longest matching folders)', () => {
    const f = (p: string) => mem(p, new Uint8Array(1));
    const files = [f('data/ann.json'), f('data/img/a.png'), f('x/cats/b.png'), f('y/dogs/b.png'), f('c.png')];
    const r = new ImageResolver(files, 'data/ann.json');
    expect(r.resolve('img/a.png')).toMatchObject({ how: 'path', file: { path: 'data/img/a.png' } });
    expect(r.resolve('./img/../img/a.png')).toMatchObject({ how: 'path' });
    expect(r.resolve('c.png')).toMatchObject({ how: 'path', file: { path: 'c.png' } });
    expect(r.resolve('/home/someone/dogs/b.png')).toMatchObject({
      how: 'name',
      file: { path: 'y/dogs/b.png' },
    });
    expect(r.resolve('/home/someone/cats/b.png')).toMatchObject({
      how: 'name',
      file: { path: 'x/cats/b.png' },
    });
    expect(r.resolve('C:\\data\\a.png')).toMatchObject({ how: 'name', file: { path: 'data/img/a.png' } });
    expect(r.resolve('/nowhere/z.png')).toBeUndefined();
  });

  it('browser File objects make the same dataset', async () => {
    const rows = [{ image: '/abs/path/p.png', question: 'q', bboxs: [[1, 1, 3, 3]], width: 4, height: 4 }];
    const files = droppedFilesFromFileList([
      new File([JSON.stringify(rows)], 'p.json'),
      new File([new Uint8Array(png(4, 4))], 'p.png'),
    ]);
    expect(files.map((f) => f.path)).toEqual(['p.json', 'p.png']);
    const ds = await open(files);
    expect(ds.rows.map((r) => r.box)).toEqual([[1, 1, 3, 3]]);
    expect((await ds.loadImage(ds.rows[0]!)).width).toBe(4);
  });
});
