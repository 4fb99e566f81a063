// The box layout ([x1, y1, x2, y2] or [x, y, w, h]) decided from the values as well as the field
// name: sets built from four kinds of box whose fit under each reading is known by construction,
// at the thresholds of the rule, without image sizes, and in the normalised spaces.

import { describe, expect, it } from 'vitest';
import { type BoxSample, detectBoxFormat } from '../../src/data/box-format.ts';

// Images 3000 x 500 (under 1000 px on one side, so pixels and 0-1000 are never confused; values
// above 1000, so only the pixel reading is tried).
const W = 3000;
const H = 500;
const KINDS = {
  both: [100, 100, 200, 200], // xyxy fits; xywh [100, 100, 300, 300] fits
  xyxyOnly: [2000, 300, 2900, 450], // xywh reaches x = 4900
  xywhOnly: [2000, 300, 500, 100], // x2 < x1: impossible as xyxy; xywh [2000, 300, 2500, 400] fits
  neither: [100, 100, 3500, 200], // past the right edge either way
} as const;

function mix(counts: Partial<Record<keyof typeof KINDS, number>>, sized = true): BoxSample[] {
  return Object.entries(counts).flatMap(([kind, n]) =>
    Array.from({ length: n }, () => ({
      values: KINDS[kind as keyof typeof KINDS],
      ...(sized ? { width: W, height: H } : {}),
    })),
  );
}

const BBOX = "the field name 'bbox'";
const BBOXS = "the field name 'bboxs'";

describe('box layout from the values', () => {
  it('a `bbox` field whose boxes fit only as [x1, y1, x2, y2] is read as such, with the counts', () => {
    const d = detectBoxFormat(mix({ both: 5, xyxyOnly: 15 }), 'xywh', undefined, BBOX);
    expect(d.format).toBe('xyxy');
    expect(d.reason).toContain("the values overrule the field name 'bbox' ([x, y, w, h])");
    expect(d.reason).toContain('read as [x1, y1, x2, y2], 20 of 20 boxes fit their image');
    expect(d.reason).toContain('read as [x, y, w, h], 5 fit their image (15 outside)');
  });

  it('true COCO [x, y, w, h] boxes stay [x, y, w, h]; under another name they overrule it', () => {
    const coco = mix({ both: 4, xywhOnly: 16 });
    const d = detectBoxFormat(coco, 'xywh', undefined, BBOX);
    expect(d.format).toBe('xywh');
    expect(d.reason).toContain("the values agree with the field name 'bbox'");
    expect(d.reason).toContain('read as [x1, y1, x2, y2], 4 fit their image (16 without area)');
    const named = detectBoxFormat(coco, 'xyxy', undefined, BBOXS);
    expect(named.format).toBe('xywh');
    expect(named.reason).toContain("the values overrule the field name 'bboxs'");
  });

  it('boxes that fit both ways (small, near the top-left corner): the name decides', () => {
    const small = mix({ both: 30 });
    expect(detectBoxFormat(small, 'xywh', undefined, BBOX)).toMatchObject({ format: 'xywh' });
    expect(detectBoxFormat(small, 'xyxy', undefined, BBOXS)).toMatchObject({ format: 'xyxy' });
    expect(detectBoxFormat(small, 'xywh', undefined, BBOX).reason).toContain(
      "both layouts fit alike, so the field name 'bbox' ([x, y, w, h]) decides",
    );
  });

  it('at the thresholds: overrule from 80 % and 20 points, split just short of them', () => {
    // N = 20; A = boxes fitting as the suggested [x, y, w, h], B as [x1, y1, x2, y2].
    const at = (both: number, xyxyOnly: number, neither: number) =>
      detectBoxFormat(mix({ both, xyxyOnly, neither }), 'xywh', undefined, BBOX);
    expect(at(12, 4, 4).format).toBe('xyxy'); // B 16, A 12
    const close = at(13, 3, 4); // B 16, A 13: both fit well, the other better
    expect(close.format).toBeNull();
    expect(close.reason).toMatch(/^the box layout is split: .* but both fit too well to tell/);
    const short = at(11, 4, 5); // B 15, A 11
    expect(short.format).toBeNull();
    expect(short.reason).toContain('but too few of them to be sure');
    const none = at(12, 0, 8); // A = B = 12, under two thirds
    expect(none.format).toBeNull();
    expect(none.reason).toContain('neither layout fits a clear majority');
    expect(at(14, 0, 6).format).toBe('xywh'); // A = B = 14
    // The suggested layout under two thirds while the other fits more (but under 80 %).
    const behind = detectBoxFormat(mix({ both: 12, xyxyOnly: 2, neither: 6 }), 'xywh', undefined, BBOX);
    expect(behind.format).toBeNull();
    expect(behind.reason).toContain('fits no clear majority of the boxes');
  });

  it('a difference of one box decides nothing', () => {
    expect(detectBoxFormat(mix({ both: 3, xyxyOnly: 1, neither: 1 }), 'xywh').format).toBe('xywh');
    expect(detectBoxFormat(mix({ xyxyOnly: 1 }), 'xywh').format).toBe('xywh');
    expect(detectBoxFormat(mix({ xyxyOnly: 2 }), 'xywh').format).toBe('xyxy');
  });

  it('without image sizes: the name, unless many boxes are impossible as [x1, y1, x2, y2]', () => {
    const unsized = (counts: Parameters<typeof mix>[0]) => mix(counts, false);
    expect(detectBoxFormat(unsized({ both: 10, xyxyOnly: 10 }), 'xywh', undefined, BBOX).format).toBe('xywh');
    const impossible = detectBoxFormat(unsized({ both: 6, xywhOnly: 4 }), 'xyxy', undefined, BBOXS);
    expect(impossible.format).toBe('xywh');
    expect(impossible.reason).toContain('read as [x1, y1, x2, y2], 6 have an area (4 without area)');
    expect(impossible.reason).toContain('no image size to check them against');
    expect(detectBoxFormat(unsized({ both: 18, xywhOnly: 2 }), 'xyxy').format).toBeNull();
    expect(detectBoxFormat(unsized({ both: 40, xywhOnly: 2 }), 'xyxy').format).toBe('xyxy');
  });

  it('rows without an image size are left out of the pixel counts, and said so', () => {
    const d = detectBoxFormat([...mix({ xyxyOnly: 10 }), ...mix({ xywhOnly: 3 }, false)], 'xywh');
    expect(d.format).toBe('xyxy');
    expect(d.reason).toContain('10 of 10 boxes fit their image');
    expect(d.reason).toContain('3 boxes without a known image size left out');
  });
});

describe('box layout of normalised boxes, judged within 0-1 or 0-1000', () => {
  const box01 = (v: number[]) => ({ values: v, width: 640, height: 480 });

  it('0-1 [x1, y1, x2, y2] under the `bbox` name: norm1', () => {
    const rows = [
      box01([0.1, 0.2, 0.3, 0.4]),
      box01([0.6, 0.5, 0.9, 0.95]),
      box01([0.55, 0.1, 0.75, 0.3]),
      box01([0.7, 0.7, 0.8, 0.9]),
    ];
    const d = detectBoxFormat(rows, 'xywh', undefined, BBOX);
    expect(d.format).toBe('norm1');
    expect(d.reason).toContain('read as [x1, y1, x2, y2], 4 of 4 boxes fit within 0-1');
    expect(d.reason).toContain('read as [x, y, w, h], 1 fit within 0-1 (3 outside)');
  });

  it('0-1 [x, y, w, h] (x2 < x1 read as xyxy) is no format here: asked, whatever the name', () => {
    const rows = [
      box01([0.5, 0.4, 0.2, 0.3]),
      box01([0.6, 0.5, 0.1, 0.2]),
      box01([0.3, 0.6, 0.2, 0.1]),
      box01([0.1, 0.1, 0.05, 0.2]),
    ];
    for (const layout of ['xyxy', 'xywh'] as const) {
      const d = detectBoxFormat(rows, layout);
      expect(d.format).toBeNull();
      expect(d.reason).toContain('0-1 normalised [x, y, w, h], which is no box format here');
    }
  });

  it('0-1000 [x1, y1, x2, y2] under the `bbox` name: norm1000 from the 0-1000 counts', () => {
    const rows = [
      [100, 200, 500, 800],
      [600, 500, 900, 950],
      [550, 100, 750, 300],
      [700, 700, 800, 900],
      [20, 30, 400, 420],
    ].map((v) => ({ values: v, width: 320, height: 240 }));
    const d = detectBoxFormat(rows, 'xywh', undefined, BBOX);
    expect(d.format).toBe('norm1000');
    expect(d.reason).toContain('5 of 5 boxes fall outside their image as pixels');
    expect(d.reason).toContain("the values overrule the field name 'bbox'");
    expect(d.reason).toContain('read as [x1, y1, x2, y2], 5 of 5 boxes fit within 0-1000');
    expect(d.reason).toContain('read as [x, y, w, h], 2 fit within 0-1000 (3 outside)');
  });

  it('0-1000 [x, y, w, h] is no format here: asked', () => {
    const rows = [
      [500, 400, 200, 300],
      [600, 500, 100, 200],
      [300, 600, 200, 100],
      [700, 100, 250, 600],
    ].map((v) => ({ values: v, width: 320, height: 240 }));
    const d = detectBoxFormat(rows, 'xywh', undefined, BBOX);
    expect(d.format).toBeNull();
    expect(d.reason).toContain(
      '4 of 4 boxes fit their image neither way as pixels: 0-1000 normalised [x, y, w, h]',
    );
  });
});
