// Small RGBA copies of the images a training step used, sent with its sample records so that the app can
// draw each prompt's boxes over its picture without the dataset: area-averaged down to at most
// THUMBNAIL_SIDE pixels on the longer side (never enlarged).
import { type RgbImage, toRgb } from '../../model/image-processor.ts';

export const THUMBNAIL_SIDE = 192;

export interface Thumbnail {
  width: number;
  height: number;
  /** RGBA, width x height, opaque. */
  pixels: Uint8ClampedArray<ArrayBuffer>;
}

export function thumbnail(image: RgbImage, side = THUMBNAIL_SIDE): Thumbnail {
  const rgb = toRgb(image);
  const { width: w, height: h } = image;
  const scale = Math.min(1, side / Math.max(w, h));
  const tw = Math.max(1, Math.round(w * scale));
  const th = Math.max(1, Math.round(h * scale));
  const pixels = new Uint8ClampedArray(tw * th * 4);
  for (let ty = 0; ty < th; ty++) {
    const y0 = Math.floor((ty * h) / th);
    const y1 = Math.max(y0 + 1, Math.floor(((ty + 1) * h) / th));
    for (let tx = 0; tx < tw; tx++) {
      const x0 = Math.floor((tx * w) / tw);
      const x1 = Math.max(x0 + 1, Math.floor(((tx + 1) * w) / tw));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * w + x) * 3;
          r += rgb[i]!;
          g += rgb[i + 1]!;
          b += rgb[i + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (ty * tw + tx) * 4;
      pixels[o] = Math.round(r / n);
      pixels[o + 1] = Math.round(g / n);
      pixels[o + 2] = Math.round(b / n);
      pixels[o + 3] = 255;
    }
  }
  return { width: tw, height: th, pixels };
}
