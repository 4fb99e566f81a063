// Box formats and their conversion to the canonical box: absolute pixels [x1, y1, x2, y2] in the
// original image. Also the detection of a dataset's box format from all its boxes, and the bounds
// check (small overshoots clamped, larger ones rejected).
//
// Detection rule (whole dataset at once, never per row), unless the caller gives the format:
//  1. The layout, [x1, y1, x2, y2] or [x, y, w, h]. The row format suggests one (a field named
//     `bbox` is COCO's [x, y, w, h]; other box fields and VLM-R1 REC answers are [x1, y1, x2, y2])
//     and the values check it: every box is read both ways and counted as fitting its frame
//     (inside it up to the clamp tolerance), outside it, or without area (x2 <= x1 or y2 <= y1 read
//     as xyxy is impossible, so evidence for xywh). The frame is 0-1 when no value exceeds 1, else
//     the box's image in pixels (over the rows whose image size is known; with none, only the area
//     is checked). With A boxes fitting as the suggested layout and B as the other, of N, and a
//     difference of one box never counting:
//     - B >= 80 % of N and B >= A + 20 % of N: the other layout (the values overrule the name);
//     - split, no format: B >= A + 20 % of N while B < 80 %; B >= 80 % and B > A + 5 % of N (both
//       fit well, the other better); neither A nor B reaches two thirds of N; A under two thirds
//       and B > A + 5 % of N;
//     - otherwise the suggested layout (the values agree with it, or both readings fit alike, as
//       small boxes near the top-left corner do).
//  2. The scale, V = the largest coordinate of all boxes:
//     - V <= 1: 0-1 normalised [x1, y1, x2, y2] when some value has a fraction (0-1 normalised
//       [x, y, w, h] is no format here: no format); all 0 / 1 integers is ambiguous.
//     - V > 1000: absolute pixels.
//     - 1 < V <= 1000, [x, y, w, h]: absolute pixels.
//     - 1 < V <= 1000, [x1, y1, x2, y2], needs the image sizes: without any, the format's
//       convention if it has one (VLM-R1 REC answers are Qwen2.5-VL absolute pixels), else
//       ambiguous. With sizes, read as pixels, the share of boxes falling outside their image (by
//       more than the clamp tolerance) decides: at least half means 0-1000 normalised, over 20 % is
//       ambiguous, up to 20 % means absolute pixels, unless most images are at least 1000 px on both
//       sides, where the two readings cannot be told apart: ambiguous.
//     - 1 < V <= 1000 with the layout split as pixels: the layout is judged again within 0-1000.
//       [x1, y1, x2, y2] there with at least half the boxes outside their image as pixels is 0-1000
//       normalised (over 20 % outside: ambiguous); [x, y, w, h] there with most boxes fitting
//       their image neither way is 0-1000 normalised [x, y, w, h], no format here; else split.
//  No format means the caller reports it and asks for the override (--box-format, the app's
//  picker). The reason gives the counts behind the layout either way.

export type BoxFormat = 'xyxy' | 'xywh' | 'norm1' | 'norm1000';
export const BOX_FORMATS: readonly BoxFormat[] = ['xyxy', 'xywh', 'norm1', 'norm1000'];

/** How a box's four numbers are laid out, before any scaling. */
export type BoxLayout = 'xyxy' | 'xywh';

/** [x1, y1, x2, y2] in pixels of the original image. */
export type Box = [number, number, number, number];

/** Overshoots up to this many pixels are clamped to the image (and counted as repaired). */
export const CLAMP_TOLERANCE_PX = 2;

export interface BoxSample {
  values: readonly number[];
  width?: number | undefined;
  height?: number | undefined;
}

export interface BoxFormatDecision {
  /** null when the boxes do not decide it: the caller must ask for an explicit format. */
  format: BoxFormat | null;
  reason: string;
}

const OUTSIDE_SHARE_FOR_PIXELS = 0.2;
const OUTSIDE_SHARE_FOR_NORM1000 = 0.5;

type Fraction = [number, number];

// Layout thresholds, as fractions of the boxes checked (compared exactly, in whole boxes).
const FITS_WELL: Fraction = [4, 5];
const CLEAR_GAP: Fraction = [1, 5];
const ALIKE_GAP: Fraction = [1, 20];
const CLEAR_MAJORITY: Fraction = [2, 3];

const LAYOUT_NAMES: Record<BoxLayout, string> = { xyxy: '[x1, y1, x2, y2]', xywh: '[x, y, w, h]' };

/** What the boxes are checked against: their image, 0-1, 0-1000, or nothing but their area. */
type Frame = 'pixels' | 'unit' | 'per-mille' | 'area';

interface ReadingCounts {
  fit: number;
  outside: number;
  noArea: number;
}

interface LayoutEvidence {
  frame: Frame;
  /** Boxes checked: those with a known image size in the pixel frame, every box otherwise. */
  boxes: number;
  /** Boxes left out of the pixel frame for want of an image size. */
  unsized: number;
  /** Boxes fitting under at least one of the two readings. */
  eitherFits: number;
  xyxy: ReadingCounts;
  xywh: ReadingCounts;
}

type LayoutVerdict =
  | { layout: BoxLayout; how: 'agree' | 'alike' | 'few-more' | 'overrule' }
  | { layout: null; how: 'too-few' | 'disagree' | 'no-majority' };

/** Whether `boxes` of `n` is at least the fraction `f` of them. */
const atLeast = (boxes: number, n: number, [num, den]: Fraction) => boxes * den >= n * num;

const otherLayout = (l: BoxLayout): BoxLayout => (l === 'xyxy' ? 'xywh' : 'xyxy');

function hasSize(s: BoxSample): s is BoxSample & { width: number; height: number } {
  return s.width !== undefined && s.height !== undefined;
}

function measureLayouts(samples: readonly BoxSample[], frame: Frame): LayoutEvidence {
  const counts = (): ReadingCounts => ({ fit: 0, outside: 0, noArea: 0 });
  const e: LayoutEvidence = { frame, boxes: 0, unsized: 0, eitherFits: 0, xyxy: counts(), xywh: counts() };
  const side = frame === 'unit' ? 1 : 1000;
  // Normalised frames allow the clamp tolerance of a 1000 px side.
  const tolerance = frame === 'pixels' ? CLAMP_TOLERANCE_PX : (CLAMP_TOLERANCE_PX / 1000) * side;
  for (const s of samples) {
    let width = side;
    let height = side;
    if (frame === 'pixels') {
      if (!hasSize(s)) {
        e.unsized++;
        continue;
      }
      width = s.width;
      height = s.height;
    }
    e.boxes++;
    const [a, b, c, d] = s.values as [number, number, number, number];
    const readings: [ReadingCounts, Box][] = [
      [e.xyxy, [a, b, c, d]],
      [e.xywh, [a, b, a + c, b + d]],
    ];
    let fits = false;
    for (const [n, [x1, y1, x2, y2]] of readings) {
      if (!(x2 > x1 && y2 > y1)) n.noArea++;
      else if (frame !== 'area' && Math.max(-x1, -y1, x2 - width, y2 - height) > tolerance) n.outside++;
      else {
        n.fit++;
        fits = true;
      }
    }
    if (fits) e.eitherFits++;
  }
  return e;
}

/** The layout by the rule at the top of this file; `suggested` is the row format's. */
function decideLayout(e: LayoutEvidence, suggested: BoxLayout): LayoutVerdict {
  const other = otherLayout(suggested);
  const a = e[suggested].fit;
  const b = e[other].fit;
  const n = e.boxes;
  // A difference of one box decides nothing, however few boxes there are.
  const clearly = (d: number) => d > 1 && atLeast(d, n, CLEAR_GAP);
  const beyondAlike = (d: number) => d > 1 && d * ALIKE_GAP[1] > n * ALIKE_GAP[0];
  const otherFitsWell = atLeast(b, n, FITS_WELL);
  if (otherFitsWell && clearly(b - a)) return { layout: other, how: 'overrule' };
  if (clearly(b - a)) return { layout: null, how: 'too-few' };
  if (otherFitsWell && beyondAlike(b - a)) return { layout: null, how: 'disagree' };
  const majority = (x: number) => atLeast(x, n, CLEAR_MAJORITY);
  if (!majority(Math.max(a, b)) || (!majority(a) && beyondAlike(b - a))) {
    return { layout: null, how: 'no-majority' };
  }
  if (beyondAlike(a - b)) return { layout: suggested, how: 'agree' };
  return { layout: suggested, how: beyondAlike(b - a) ? 'few-more' : 'alike' };
}

const count = (n: number) => n.toLocaleString('en-US');

/** The verdict and its counts, the chosen layout's first (the suggested one's when split). */
function describeLayout(v: LayoutVerdict, e: LayoutEvidence, suggested: BoxLayout, by: string): string {
  const named = `${by} (${LAYOUT_NAMES[suggested]})`;
  const other = LAYOUT_NAMES[otherLayout(suggested)];
  const verdict = {
    agree: `the values agree with ${named}`,
    alike: `both layouts fit alike, so ${named} decides`,
    'few-more': `${other} fits a few more boxes, too few to overrule ${named}`,
    overrule: `the values overrule ${named}`,
    'too-few': `${other} fits clearly more boxes than ${named}, but too few of them to be sure`,
    disagree: `${other} fits more boxes than ${named}, but both fit too well to tell`,
    'no-majority': atLeast(e[otherLayout(suggested)].fit, e.boxes, CLEAR_MAJORITY)
      ? `${named} fits no clear majority of the boxes, and ${other} does not fit clearly more`
      : `neither layout fits a clear majority of the boxes (${by} suggests ${LAYOUT_NAMES[suggested]})`,
  }[v.how];
  const verb = {
    pixels: 'fit their image',
    unit: 'fit within 0-1',
    'per-mille': 'fit within 0-1000',
    area: 'have an area',
  }[e.frame];
  const first = v.layout ?? suggested;
  const reading = (layout: BoxLayout, ofAll: boolean) => {
    const c = e[layout];
    const why = [
      c.outside > 0 ? `${count(c.outside)} outside` : '',
      c.noArea > 0 ? `${count(c.noArea)} without area` : '',
    ]
      .filter((w) => w !== '')
      .join(', ');
    const of = ofAll ? ` of ${count(e.boxes)} boxes` : '';
    return `read as ${LAYOUT_NAMES[layout]}, ${count(c.fit)}${of} ${verb}${why === '' ? '' : ` (${why})`}`;
  };
  const notes = [
    e.frame === 'area' ? 'no image size to check them against' : '',
    e.unsized > 0
      ? `${count(e.unsized)} ${e.unsized === 1 ? 'box' : 'boxes'} without a known image size left out`
      : '',
  ].filter((n) => n !== '');
  const tail = notes.length === 0 ? '' : `; ${notes.join('; ')}`;
  return `${verdict}: ${reading(first, true)}; ${reading(otherLayout(first), false)}${tail}`;
}

/**
 * The dataset's box format from all its boxes (see the rule at the top of this file). `layout` is
 * the one the row format suggests, `suggestedBy` names what suggests it in the reason, and
 * `convention` is the row format's scale when nothing else tells.
 */
export function detectBoxFormat(
  samples: readonly BoxSample[],
  layout: BoxLayout,
  convention?: BoxFormat,
  suggestedBy = 'the row format',
): BoxFormatDecision {
  if (samples.length === 0) return { format: layout, reason: 'no boxes to inspect' };
  let maxValue = Number.NEGATIVE_INFINITY;
  let fractional = false;
  for (const s of samples) {
    for (const v of s.values) {
      maxValue = Math.max(maxValue, Math.abs(v));
      if (!Number.isInteger(v)) fractional = true;
    }
  }
  const decided = (format: BoxFormat | null, why: string, v: LayoutVerdict, e: LayoutEvidence) => ({
    format,
    reason: `${why}; ${describeLayout(v, e, layout, suggestedBy)}`,
  });
  const split = (v: LayoutVerdict, e: LayoutEvidence) => ({
    format: null,
    reason: `the box layout is split: ${describeLayout(v, e, layout, suggestedBy)}`,
  });

  if (maxValue <= 1) {
    if (!fractional) {
      return {
        format: null,
        reason:
          layout === 'xywh'
            ? 'all [x, y, w, h] values are within 0-1: tiny pixel boxes or normalised ones'
            : 'all coordinates are 0 or 1: 0-1 normalised boxes or 1-pixel boxes',
      };
    }
    const e = measureLayouts(samples, 'unit');
    const v = decideLayout(e, layout);
    if (v.layout === null) return split(v, e);
    if (v.layout === 'xywh') {
      const why =
        'all values within 0-1 with fractions: 0-1 normalised [x, y, w, h], which is no box format here (norm1 is [x1, y1, x2, y2])';
      return decided(null, why, v, e);
    }
    return decided('norm1', 'all coordinates within 0-1 with fractions', v, e);
  }

  const sized = samples.filter(hasSize);
  if (sized.length === 0) {
    const e = measureLayouts(samples, 'area');
    const v = decideLayout(e, layout);
    if (v.layout === null) return split(v, e);
    if (v.layout === 'xywh') return decided('xywh', 'COCO-style [x, y, w, h] boxes in pixels', v, e);
    if (maxValue > 1000) return decided('xyxy', `coordinates up to ${maxValue} (> 1000)`, v, e);
    if (convention) return decided(convention, "the row format's convention (no image sizes)", v, e);
    const why = `coordinates up to ${maxValue} and no image sizes: pixels or 0-1000 normalised`;
    return decided(null, why, v, e);
  }

  const px = measureLayouts(samples, 'pixels');
  const v = decideLayout(px, layout);
  if (v.layout === 'xywh') return decided('xywh', 'COCO-style [x, y, w, h] boxes in pixels', v, px);
  if (maxValue > 1000) {
    if (v.layout === null) return split(v, px);
    return decided('xyxy', `coordinates up to ${maxValue} (> 1000)`, v, px);
  }

  let outside = 0;
  let big = 0;
  for (const s of sized) {
    const [x1, y1, x2, y2] = s.values as [number, number, number, number];
    if (Math.max(-x1, -y1, x2 - s.width, y2 - s.height) > CLAMP_TOLERANCE_PX) outside++;
    if (Math.min(s.width, s.height) >= 1000) big++;
  }
  const outsideShare = outside / sized.length;
  const asPixels = `${count(outside)} of ${count(sized.length)} boxes fall outside their image as pixels`;
  const tooMany = `${asPixels}: too many for pixels, too few to be sure of 0-1000 normalised`;
  if (v.layout === null) {
    // Split as pixels: the values may be 0-1000 normalised, where the layout is judged again.
    const pm = measureLayouts(sized, 'per-mille');
    const vm = decideLayout(pm, layout);
    if (vm.layout === 'xyxy' && outsideShare >= OUTSIDE_SHARE_FOR_NORM1000) {
      return decided('norm1000', `${asPixels}, all values within 0-1000`, vm, pm);
    }
    if (vm.layout === 'xywh' && 2 * px.eitherFits < px.boxes) {
      const why = `${count(px.boxes - px.eitherFits)} of ${count(px.boxes)} boxes fit their image neither way as pixels: 0-1000 normalised [x, y, w, h], which is no box format here (norm1000 is [x1, y1, x2, y2])`;
      return decided(null, why, vm, pm);
    }
    if (vm.layout === 'xyxy' && outsideShare > OUTSIDE_SHARE_FOR_PIXELS) return decided(null, tooMany, v, px);
    return split(v, px);
  }
  if (outsideShare >= OUTSIDE_SHARE_FOR_NORM1000) {
    return decided('norm1000', `${asPixels}, all values within 0-1000`, v, px);
  }
  if (outsideShare > OUTSIDE_SHARE_FOR_PIXELS) return decided(null, tooMany, v, px);
  if (big / sized.length > 0.5) {
    const why = `coordinates up to ${maxValue} in images of 1000 px or more: pixels or 0-1000 normalised`;
    return decided(null, why, v, px);
  }
  return decided('xyxy', 'boxes fit their images as pixels', v, px);
}

/**
 * Raw box values in `format` to a pixel [x1, y1, x2, y2]. Normalised formats need the image size:
 * undefined without it.
 */
export function toPixelBox(
  values: readonly number[],
  format: BoxFormat,
  width?: number,
  height?: number,
): Box | undefined {
  const [a, b, c, d] = values as [number, number, number, number];
  switch (format) {
    case 'xyxy':
      return [a, b, c, d];
    case 'xywh':
      return [a, b, a + c, b + d];
    case 'norm1':
    case 'norm1000': {
      if (width === undefined || height === undefined) return undefined;
      const s = format === 'norm1' ? 1 : 1000;
      return [(a / s) * width, (b / s) * height, (c / s) * width, (d / s) * height];
    }
  }
}

export type BoxCheck =
  | { outcome: 'ok'; box: Box }
  | { outcome: 'clamped'; box: Box; overshoot: number }
  | { outcome: 'outside'; overshoot: number }
  | { outcome: 'degenerate' };

/**
 * Checks a pixel box: zero or negative area is degenerate; a box past the image edge by at most
 * CLAMP_TOLERANCE_PX is clamped, further is outside. Without an image size only the area is checked.
 */
export function checkBox(box: Box, width?: number, height?: number): BoxCheck {
  const [x1, y1, x2, y2] = box;
  if (!(x2 > x1 && y2 > y1)) return { outcome: 'degenerate' };
  if (width === undefined || height === undefined) return { outcome: 'ok', box };
  const overshoot = Math.max(0, -x1, -y1, x2 - width, y2 - height);
  if (overshoot === 0) return { outcome: 'ok', box };
  if (overshoot > CLAMP_TOLERANCE_PX) return { outcome: 'outside', overshoot };
  const clamped: Box = [Math.max(0, x1), Math.max(0, y1), Math.min(width, x2), Math.min(height, y2)];
  if (!(clamped[2] > clamped[0] && clamped[3] > clamped[1])) return { outcome: 'degenerate' };
  return { outcome: 'clamped', box: clamped, overshoot };
}
