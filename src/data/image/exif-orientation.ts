// The EXIF orientation tag of a JPEG and how to apply it: our images are the displayed (upright)
// ones, as browsers show them and as HF `datasets` gives them (it applies PIL's
// ImageOps.exif_transpose when decoding an Image feature). The tag sits in an APP1 "Exif" segment.

/**
 * The orientation (1-8) in the payload of a JPEG APP1 segment (the bytes after its length field):
 * undefined when the payload is not EXIF (XMP also uses APP1), 1 when it has no valid Orientation
 * tag or cannot be read.
 */
export function exifOrientation(payload: Uint8Array): number | undefined {
  if (payload.length < 6 || String.fromCharCode(...payload.subarray(0, 6)) !== 'Exif\0\0') return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const tiff = 6;
  const end = payload.length;
  if (tiff + 8 > end) return 1;
  const order = view.getUint16(tiff);
  if (order !== 0x4949 && order !== 0x4d4d) return 1;
  const little = order === 0x4949;
  const ifd = tiff + view.getUint32(tiff + 4, little);
  if (ifd + 2 > end) return 1;
  const count = view.getUint16(ifd, little);
  for (let k = 0; k < count; k++) {
    const entry = ifd + 2 + k * 12;
    if (entry + 12 > end) return 1;
    // Tag 0x0112 (Orientation), type 3 (SHORT), count 1: the value is in the entry's first 2 bytes.
    if (view.getUint16(entry, little) === 0x0112 && view.getUint16(entry + 2, little) === 3) {
      const value = view.getUint16(entry + 8, little);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/** The displayed size of a stored width x height image under `orientation`. */
export function orientedSize(width: number, height: number, orientation: number): [number, number] {
  return orientation >= 5 && orientation <= 8 ? [height, width] : [width, height];
}

/**
 * The displayed RGBA image from the stored (width x height) RGBA pixels under EXIF `orientation`:
 * 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose, 6 rotate 90 clockwise,
 * 7 transverse, 8 rotate 90 counter-clockwise; 1 (or any other value) returns `stored` unchanged.
 */
export function applyOrientation(
  stored: Uint8Array,
  width: number,
  height: number,
  orientation: number,
): { data: Uint8Array; width: number; height: number } {
  if (stored.length !== width * height * 4) {
    throw new Error(`applyOrientation: ${stored.length} bytes for a ${width}x${height} RGBA image`);
  }
  if (orientation < 2 || orientation > 8) return { data: stored, width, height };
  const [dw, dh] = orientedSize(width, height, orientation);
  // The stored pixel shown at displayed (dx, dy); affine in dx and dy, so it is stepped below.
  const shown = (dx: number, dy: number): number => {
    switch (orientation) {
      case 2:
        return dy * width + (width - 1 - dx);
      case 3:
        return (height - 1 - dy) * width + (width - 1 - dx);
      case 4:
        return (height - 1 - dy) * width + dx;
      case 5:
        return dx * width + dy;
      case 6:
        return (height - 1 - dx) * width + dy;
      case 7:
        return (height - 1 - dx) * width + (width - 1 - dy);
      default:
        return dx * width + (width - 1 - dy); // 8
    }
  };
  const origin = shown(0, 0);
  const stepX = shown(1, 0) - origin;
  const stepY = shown(0, 1) - origin;
  // Whole pixels as 32-bit words (byte order is irrelevant to a copy); a misaligned view is copied.
  const aligned = stored.byteOffset % 4 === 0 ? stored : new Uint8Array(stored);
  const src = new Uint32Array(aligned.buffer, aligned.byteOffset, width * height);
  const out = new Uint32Array(width * height);
  let o = 0;
  for (let dy = 0; dy < dh; dy++) {
    let i = origin + dy * stepY;
    for (let dx = 0; dx < dw; dx++, i += stepX) out[o++] = src[i] as number;
  }
  return { data: new Uint8Array(out.buffer), width: dw, height: dh };
}
