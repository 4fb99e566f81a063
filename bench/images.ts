// Image decoding benchmark (CPU, Node): a 512 x 512 photo-like JPEG (4:2:0, quality 85) decoded by our
// decoder (bit-exact with Pillow) and by jpeg-js, and the same image as PNG; median of 9 runs after 2.
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { decodeImage } from '../src/data/image/image-decode-node.ts';
import { decodeJpeg } from '../src/data/image/jpeg-decode.ts';

export interface ImageRow {
  name: string;
  width: number;
  height: number;
  ms: number;
}

const SIZE = 512;

function photo(): Uint8Array {
  const rgba = new Uint8Array(SIZE * SIZE * 4);
  for (let y = 0; y < SIZE; y++) {
    for (let x = 0; x < SIZE; x++) {
      const i = (y * SIZE + x) * 4;
      rgba[i] = 128 + 100 * Math.sin(x / 13) * Math.cos(y / 17);
      rgba[i + 1] = (x ^ y) & 255;
      rgba[i + 2] = ((x * y) >> 6) & 255;
      rgba[i + 3] = 255;
    }
  }
  return rgba;
}

async function median(fn: () => unknown): Promise<number> {
  for (let i = 0; i < 2; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return times[4] as number;
}

export async function benchImages(
  { only }: { only?: RegExp } = {},
  log: (s: string) => void = () => {},
): Promise<ImageRow[]> {
  const rgba = photo();
  const jpg = new Uint8Array(jpeg.encode({ data: rgba, width: SIZE, height: SIZE }, 85).data);
  const png = new PNG({ width: SIZE, height: SIZE });
  png.data = Buffer.from(rgba);
  const pngBytes = new Uint8Array(PNG.sync.write(png));
  const cases: [string, () => unknown][] = [
    ['jpeg-512-ours', () => decodeJpeg(jpg)],
    ['jpeg-512-jpeg-js', () => jpeg.decode(jpg, { useTArray: true, formatAsRGBA: true })],
    ['png-512', () => decodeImage(pngBytes, 'a.png')],
  ];
  const out: ImageRow[] = [];
  for (const [name, fn] of cases) {
    if (only && !only.test(name)) continue;
    const row = { name, width: SIZE, height: SIZE, ms: +(await median(fn)).toFixed(2) };
    log(`  ${name}: ${row.ms} ms`);
    out.push(row);
  }
  return out;
}
