// Box formats and their conversion to the canonical box: absolute pixels [x1, y1, x2, y2] in the
// original image. Also the detection of a dataset's box format from all its boxes, and the bounds
// check (small overshoots clamped, larger ones rejected).
//
// Detection rule (whole dataset at once, never per row), unless the caller gives the format:
//  1. xywh layout (COCO's `bbox` field): absolute pixels when any value exceeds 1, else ambiguous.
//  2. xyxy layout, V = the largest coordinate of all boxes:
//     - V <= 1: 0-1 normalised when some value has a fraction; all 0 / 1 integers is ambiguous.
//     - V > 1000: absolute pixels.
//     - 1 < V <= 1000 needs the image sizes: without any, the format's convention if it has one
//       (VLM-R1 REC answers are Qwen2.5-VL absolute pixels), else ambiguous. With sizes, read as
//       pixels, the share of boxes falling outside their image (by more than the clamp tolerance)
//       decides: at least half means 0-1000 normalised, over 20 % is ambiguous, up to 20 % means
//       absolute pixels, unless most images are at least 1000 px on both sides, where the two
//       readings cannot be told apart: ambiguous.
//  Ambiguous means no format: the caller reports it and asks for the override.

export type BoxFormat = 'xyxy' | 'xywh' | 'norm1' | 'norm1000';
export const BOX_FORMATS: readonly BoxFormat[] = ['xyxy', 'xywh', 'norm1', 'norm1000'];

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

/** The dataset's box format from all its boxes (see the rule at the top of this file). */
export function detectBoxFormat(
  samples: readonly BoxSample[],
  layout: 'xyxy' | 'xywh',
  convention?: BoxFormat,
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
  if (layout === 'xywh') {
    if (maxValue > 1) return { format: 'xywh', reason: 'COCO-style [x, y, w, h] boxes in pixels' };
    return {
      format: null,
      reason: 'all [x, y, w, h] values are within 0-1: tiny pixel boxes or normalised ones',
    };
  }
  if (maxValue <= 1) {
    if (fractional) return { format: 'norm1', reason: 'all coordinates within 0-1 with fractions' };
    return {
      format: null,
      reason: 'all coordinates are 0 or 1: 0-1 normalised boxes or 1-pixel boxes',
    };
  }
  if (maxValue > 1000) return { format: 'xyxy', reason: `coordinates up to ${maxValue} (> 1000)` };
  const sized = samples.filter((s) => s.width !== undefined && s.height !== undefined);
  if (sized.length === 0) {
    if (convention) return { format: convention, reason: "the row format's convention (no image sizes)" };
    return {
      format: null,
      reason: `coordinates up to ${maxValue} and no image sizes: pixels or 0-1000 normalised`,
    };
  }
  let outside = 0;
  let big = 0;
  for (const s of sized) {
    const [x1, y1, x2, y2] = s.values as [number, number, number, number];
    const w = s.width as number;
    const h = s.height as number;
    if (Math.max(-x1, -y1, x2 - w, y2 - h) > CLAMP_TOLERANCE_PX) outside++;
    if (Math.min(w, h) >= 1000) big++;
  }
  const outsideShare = outside / sized.length;
  if (outsideShare >= OUTSIDE_SHARE_FOR_NORM1000) {
    return {
      format: 'norm1000',
      reason: `${outside} of ${sized.length} boxes fall outside their image as pixels, all values within 0-1000`,
    };
  }
  if (outsideShare > OUTSIDE_SHARE_FOR_PIXELS) {
    return {
      format: null,
      reason: `${outside} of ${sized.length} boxes fall outside their image as pixels: too many for pixels, too few to be sure of 0-1000 normalised`,
    };
  }
  if (big / sized.length > 0.5) {
    return {
      format: null,
      reason: `coordinates up to ${maxValue} in images of 1000 px or more: pixels or 0-1000 normalised`,
    };
  }
  return { format: 'xyxy', reason: 'boxes fit their images as pixels' };
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
