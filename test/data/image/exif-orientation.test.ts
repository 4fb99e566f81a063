// EXIF orientation of JPEG APP1 payloads (both TIFF byte orders) and applying it, on hand-worked 3x2
// examples whose displayed forms follow the EXIF 2.3 table (PIL's ImageOps.exif_transpose agrees).
import { describe, expect, it } from 'vitest';
import { applyOrientation, exifOrientation, orientedSize } from '../../../src/data/image/exif-orientation.ts';

/** An APP1 payload: "Exif\0\0" then a TIFF header and IFD0 holding `entries` (tag, type, value). */
function exifPayload(little: boolean, entries: [number, number, number][]): Uint8Array {
  const u16 = (v: number) => (little ? [v & 0xff, v >> 8] : [v >> 8, v & 0xff]);
  const u32 = (v: number) => (little ? [v, 0, 0, 0] : [0, 0, 0, v]);
  const tiff = [...(little ? [0x49, 0x49] : [0x4d, 0x4d]), ...u16(42), ...u32(8), ...u16(entries.length)];
  const ifd = entries.flatMap(([tag, type, value]) => [
    ...u16(tag),
    ...u16(type),
    ...u32(1),
    ...u16(value),
    0,
    0,
  ]);
  return new Uint8Array([...Array.from('Exif\0\0', (c) => c.charCodeAt(0)), ...tiff, ...ifd, ...u32(0)]);
}

// Stored 3x2 image, one label a pixel (in the R channel): a b c / d e f.
function rgba(labels: string): Uint8Array {
  return new Uint8Array(Array.from(labels).flatMap((l) => [l.charCodeAt(0), 1, 2, 255]));
}

describe('exifOrientation', () => {
  it('reads the tag in big- and little-endian TIFF, after other tags', () => {
    for (let o = 1; o <= 8; o++) {
      expect(exifOrientation(exifPayload(false, [[0x0112, 3, o]]))).toBe(o);
      expect(exifOrientation(exifPayload(true, [[0x0112, 3, o]]))).toBe(o);
      // ImageWidth (0x0100) first, as cameras write IFD0 in tag order.
      expect(
        exifOrientation(
          exifPayload(true, [
            [0x0100, 3, 640],
            [0x0112, 3, o],
          ]),
        ),
      ).toBe(o);
    }
  });

  it('gives 1 for EXIF without a valid tag, undefined for other APP1 payloads', () => {
    expect(exifOrientation(exifPayload(false, []))).toBe(1);
    expect(exifOrientation(exifPayload(false, [[0x0112, 3, 9]]))).toBe(1);
    expect(exifOrientation(exifPayload(false, [[0x0112, 3, 0]]))).toBe(1);
    // Truncated inside the IFD entry; a bad byte-order mark; an IFD offset past the end.
    expect(exifOrientation(exifPayload(false, [[0x0112, 3, 6]]).subarray(0, 22))).toBe(1);
    const badOrder = exifPayload(false, [[0x0112, 3, 6]]);
    badOrder[6] = 0x4a;
    expect(exifOrientation(badOrder)).toBe(1);
    const farIfd = exifPayload(false, [[0x0112, 3, 6]]);
    farIfd[13] = 200;
    expect(exifOrientation(farIfd)).toBe(1);
    const xmp = new TextEncoder().encode('http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>');
    expect(exifOrientation(xmp)).toBeUndefined();
    expect(exifOrientation(new Uint8Array(0))).toBeUndefined();
  });
});

describe('applyOrientation', () => {
  // What a viewer shows for the stored "abc/def" under each orientation, row by row.
  const displayed: Record<number, [string, number, number]> = {
    1: ['abcdef', 3, 2],
    2: ['cbafed', 3, 2], // mirrored left-right
    3: ['fedcba', 3, 2], // rotated 180
    4: ['defabc', 3, 2], // mirrored top-bottom
    5: ['adbecf', 2, 3], // transposed (mirrored about the main diagonal)
    6: ['daebfc', 2, 3], // rotated 90 clockwise
    7: ['fcebda', 2, 3], // transverse (mirrored about the other diagonal)
    8: ['cfbead', 2, 3], // rotated 90 counter-clockwise
  };

  it('gives the displayed image for each orientation (worked out by hand)', () => {
    for (let o = 1; o <= 8; o++) {
      const [labels, w, h] = displayed[o] as [string, number, number];
      expect(applyOrientation(rgba('abcdef'), 3, 2, o), `orientation ${o}`).toEqual({
        data: rgba(labels),
        width: w,
        height: h,
      });
      expect(orientedSize(3, 2, o)).toEqual([w, h]);
    }
  });

  it('takes a view at an odd byte offset, and leaves other values alone', () => {
    const backing = new Uint8Array(1 + 24);
    backing.set(rgba('abcdef'), 1);
    const view = backing.subarray(1);
    expect(applyOrientation(view, 3, 2, 6).data).toEqual(rgba('daebfc'));
    expect(applyOrientation(view, 3, 2, 0)).toEqual({ data: rgba('abcdef'), width: 3, height: 2 });
    expect(applyOrientation(view, 3, 2, 9).width).toBe(3);
  });

  it('handles single rows and columns', () => {
    expect(applyOrientation(rgba('abc'), 3, 1, 6)).toEqual({ data: rgba('abc'), width: 1, height: 3 });
    expect(applyOrientation(rgba('abc'), 3, 1, 8)).toEqual({ data: rgba('cba'), width: 1, height: 3 });
    expect(applyOrientation(rgba('abc'), 1, 3, 5)).toEqual({ data: rgba('abc'), width: 3, height: 1 });
    expect(applyOrientation(rgba('abc'), 1, 3, 7)).toEqual({ data: rgba('cba'), width: 3, height: 1 });
  });
});
