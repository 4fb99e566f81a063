// `vgrpo inspect-dataset` through bin/vgrpo.js: --json on a small folder (JSONL + PNGs, one corrupt
// line, one missing image, one clamped box), the readable summary, the tutorial's file, the ambiguous
// box format and its override, a `bbox` field read as [x1, y1, x2, y2] and a split box layout, and
// the error exits (missing path, bad flag values).

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detectBoxFormat } from '../../src/data/box-format.ts';
import { vgrpo } from './vgrpo.ts';

const FIXTURE = new URL('../../../shared/fixtures/textvqa_cot_train_1_bbox_0.json', import.meta.url).pathname;

function png(width: number, height: number): Buffer {
  const p = new PNG({ width, height });
  return PNG.sync.write(p);
}

interface Report {
  format: string;
  rows: number;
  usable: number;
  repaired: number;
  issues: { row: number; reason: string; action: string; line?: number }[];
  fields: Record<string, string>;
  boxFormat: string | null;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vgrpo-inspect-'));
  mkdirSync(join(dir, 'ds', 'images'), { recursive: true });
  const line = (img: string, q: string, box: number[]) =>
    JSON.stringify({ image: `/elsewhere/${img}`, question: q, bboxs: [box], width: 64, height: 48 });
  writeFileSync(
    join(dir, 'ds', 'train.jsonl'),
    [
      line('a.png', 'where is a?', [1, 2, 30, 40]),
      '{"image": broken',
      line('b.png', 'where is b?', [10, 10, 65, 47]),
      line('missing.png', 'where is c?', [1, 1, 5, 5]),
    ].join('\n'),
  );
  writeFileSync(join(dir, 'ds', 'images', 'a.png'), png(64, 48));
  writeFileSync(join(dir, 'ds', 'images', 'b.png'), png(64, 48));
  mkdirSync(join(dir, 'big'));
  writeFileSync(
    join(dir, 'big', 'rows.json'),
    JSON.stringify([
      { image: 'x.png', question: 'q', bboxs: [[10, 10, 900, 900]], width: 1600, height: 1200 },
    ]),
  );
  writeFileSync(join(dir, 'big', 'x.png'), png(2, 2));
  // `bbox` fields: [x1, y1, x2, y2] values that fit the 64 x 48 image only read so, and a set whose
  // layout is split (as many boxes fit only as [x1, y1, x2, y2] as only as [x, y, w, h]).
  const coco = (name: string, boxes: number[][]) => {
    mkdirSync(join(dir, name));
    const rows = boxes.map((bbox, i) => ({ image: 'y.png', question: `q${i}`, bbox, width: 64, height: 48 }));
    writeFileSync(join(dir, name, 'rows.json'), JSON.stringify(rows));
    writeFileSync(join(dir, name, 'y.png'), png(64, 48));
  };
  coco('xyxy-bbox', [
    [30, 10, 60, 40],
    [40, 20, 62, 46],
    [10, 30, 50, 47],
    [2, 3, 20, 25],
  ]);
  coco('split', [
    [30, 10, 60, 40],
    [30, 10, 60, 40],
    [40, 20, 10, 10],
    [40, 20, 10, 10],
  ]);
  mkdirSync(join(dir, 'odd'));
  writeFileSync(
    join(dir, 'odd', 'rows.json'),
    JSON.stringify([{ pic: 'y.png', ask: 'the thing', region: [2, 3, 20, 25] }]),
  );
  writeFileSync(join(dir, 'odd', 'y.png'), png(64, 48));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vgrpo inspect-dataset', () => {
  it('--json on a small folder', async () => {
    const r = await vgrpo(['inspect-dataset', join(dir, 'ds'), '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.format).toBe('visual-cot');
    expect(report.rows).toBe(4);
    expect(report.usable).toBe(2);
    expect(report.repaired).toBe(1);
    expect(report.fields).toMatchObject({ image: 'image', question: 'question', box: 'bboxs' });
    expect(report.issues.map((i) => [i.row, i.reason, i.action])).toEqual([
      [1, 'bad-json', 'skipped'],
      [2, 'box-clamped', 'repaired'],
      [3, 'missing-image', 'skipped'],
    ]);
    expect(report.issues[0]?.line).toBe(2);
  });

  it('a readable summary without --json; --decode checks the images', async () => {
    const r = await vgrpo(['inspect-dataset', join(dir, 'ds', 'train.jsonl'), '--decode']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rows:\s+4/);
    expect(r.stdout).toMatch(/usable:\s+2/);
    expect(r.stdout).toContain('missing.png');
    expect(r.stdout).toContain('1 x bad-json (skipped)');
  });

  it("the tutorial's file: 11,495 rows and its 20 out-of-image boxes", async () => {
    if (!existsSync(FIXTURE)) throw new Error(`missing ${FIXTURE} (../shared/fixtures relative to the repo)`);
    const raw = JSON.parse(readFileSync(FIXTURE, 'utf8')) as {
      width: number;
      height: number;
      bboxs: number[][];
    }[];
    const outside = raw.flatMap((row, i) => {
      const [x1, y1, x2, y2] = row.bboxs[0] as number[];
      return x1! < 0 || y1! < 0 || x2! > row.width || y2! > row.height ? [i] : [];
    });
    expect(outside).toHaveLength(20);
    const r = await vgrpo(['inspect-dataset', FIXTURE, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as Report;
    expect(report.rows).toBe(11495);
    const boxRows = report.issues
      .filter((i) => i.reason === 'box-outside-image' || i.reason === 'box-clamped')
      .map((i) => i.row);
    expect(boxRows).toEqual(outside);
  });

  it('an ambiguous box format exits 1 and names the override; the override fixes it', async () => {
    const r = await vgrpo(['inspect-dataset', join(dir, 'big'), '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--box-format');
    expect((JSON.parse(r.stdout) as Report).boxFormat).toBeNull();
    const ok = await vgrpo(['inspect-dataset', '--box-format', 'xyxy', join(dir, 'big'), '--json']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as Report).usable).toBe(1);
  });

  it('a `bbox` field read as [x1, y1, x2, y2]: the summary gives the choice and its counts', async () => {
    const r = await vgrpo(['inspect-dataset', join(dir, 'xyxy-bbox')]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      "box format: xyxy (detected: boxes fit their images as pixels; the values overrule the field name 'bbox' ([x, y, w, h]): " +
        'read as [x1, y1, x2, y2], 4 of 4 boxes fit their image; read as [x, y, w, h], 1 fit their image (3 outside))',
    );
    expect(r.stdout).toMatch(/usable:\s+4/);
  });

  it('a split box layout exits 1 and names --box-format; the override fixes it', async () => {
    const r = await vgrpo(['inspect-dataset', join(dir, 'split'), '--json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the box layout is split');
    expect(r.stderr).toContain('--box-format');
    expect((JSON.parse(r.stdout) as Report).boxFormat).toBeNull();
    const ok = await vgrpo(['inspect-dataset', '--box-format', 'xywh', join(dir, 'split'), '--json']);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as Report).usable).toBe(2);
  });

  it('unrecognised fields exit 1 naming the field flags; the flags fix it', async () => {
    const r = await vgrpo(['inspect-dataset', join(dir, 'odd', 'rows.json')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /cannot tell which field holds the image .*--image-field, --question-field and --box-field/,
    );
    const ok = await vgrpo([
      'inspect-dataset',
      join(dir, 'odd', 'rows.json'),
      '--image-field',
      'pic',
      '--question-field',
      'ask',
      '--box-field',
      'region',
      '--json',
    ]);
    expect(ok.code).toBe(0);
    expect((JSON.parse(ok.stdout) as Report).usable).toBe(1);
  });

  it('error exits: missing path (1), bad --box-format (2), no PATH (2)', async () => {
    const missing = await vgrpo(['inspect-dataset', join(dir, 'nope.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^vgrpo inspect-dataset: .*nope\.json: no such file or folder/);
    const bad = await vgrpo(['inspect-dataset', join(dir, 'ds'), '--box-format', 'yolo']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--box-format must be one of');
    const none = await vgrpo(['inspect-dataset']);
    expect(none.code).toBe(2);
  });
});

describe('box format detection thresholds', () => {
  const s = (x2: number) => ({ values: [0, 0, x2, 10], width: 100, height: 100 });
  it('pixels up to 20 % outside, ambiguous beyond, 0-1000 from half', () => {
    const fit = Array.from({ length: 8 }, () => s(50));
    expect(detectBoxFormat([...fit, s(300), s(300)], 'xyxy').format).toBe('xyxy');
    expect(detectBoxFormat([...fit.slice(0, 7), s(300), s(300), s(300)], 'xyxy').format).toBeNull();
    expect(detectBoxFormat([...fit.slice(0, 5), s(300), s(300), s(300), s(300), s(300)], 'xyxy').format).toBe(
      'norm1000',
    );
    expect(detectBoxFormat([{ values: [0, 0, 500, 500] }], 'xyxy').format).toBeNull();
    expect(detectBoxFormat([{ values: [0, 0, 500, 500] }], 'xyxy', 'xyxy').format).toBe('xyxy');
    expect(detectBoxFormat([{ values: [0, 0, 1500, 500] }], 'xyxy').format).toBe('xyxy');
  });
});
