// The browser image decoder (src/data/image/image-decode-browser.ts) in Debian's Chromium, in a page and in
// a module Worker, without the app build: the decoder's modules are transpiled here with TypeScript
// and served on a made-up origin through Playwright routing. Inputs come from independent encoders;
// JPEGs must give Pillow's pixels (test/fixtures/jpeg), and EXIF-oriented ones the Node decoder's and
// Chromium's own decode.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { crc32 } from 'node:zlib';
import encodeWebp, { init as initWebpEncoder } from '@jsquash/webp/encode.js';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { tsImport } from 'tsx/esm/api';
import ts from 'typescript';
import { openServedPage, ROOT } from './harness.js';

const ORIGIN = 'http://decode.test';
const ENTRY = 'src/data/image/image-decode-browser.ts';

/**
 * The entry and the modules it imports (relative specifiers), transpiled to JS with `.ts` specifiers
 * rewritten to `.js`, keyed by their URL path ('/src/data/x.js'). Type-only imports vanish.
 */
function transpileTree(entry) {
  const out = new Map();
  const pending = [entry];
  while (pending.length > 0) {
    const rel = pending.pop();
    const urlPath = `/${rel.replace(/\.ts$/, '.js')}`;
    if (out.has(urlPath)) continue;
    const source = readFileSync(path.join(ROOT, rel), 'utf8');
    const { outputText } = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: true,
      },
      fileName: rel,
    });
    const js = outputText.replace(/(from\s+['"])(\.{1,2}\/[^'"]+)\.ts(['"])/g, (_, a, spec, b) => {
      pending.push(path.posix.normalize(path.posix.join(path.posix.dirname(rel), `${spec}.ts`)));
      return `${a}${spec}.js${b}`;
    });
    out.set(urlPath, js);
  }
  return out;
}

// Runs in the page and in the worker: decodes and returns plain data (errors as {error: {...}}).
const RUNNER = `
import { decodeImageBrowser, browserPixelPath } from '/src/data/image/image-decode-browser.js';
export async function run(bytes, name) {
  try {
    const image = await decodeImageBrowser(new Uint8Array(bytes), name);
    return { width: image.width, height: image.height, data: Array.from(image.data), path: browserPixelPath() };
  } catch (e) {
    return { error: { name: e.name, problem: e.problem, message: e.message } };
  }
}
// Chromium's own decoder, as an independent reference: createImageBitmap with EXIF orientation
// applied, pixels through a 2D canvas (exact for opaque images).
export async function native(bytes) {
  const bitmap = await createImageBitmap(new Blob([new Uint8Array(bytes)]), { imageOrientation: 'from-image', colorSpaceConversion: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(bitmap, 0, 0);
  const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  return { width: bitmap.width, height: bitmap.height, data: Array.from(data) };
}
`;
const WORKER = `
import { run } from '/runner.js';
self.onmessage = async (event) => self.postMessage(await run(event.data.bytes, event.data.name));
`;
const PAGE = `<!doctype html><title>decode</title><script type="module">
import { native, run } from '/runner.js';
window.decodeInPage = run;
window.nativeInPage = native;
window.decodeInWorker = (bytes, name) => new Promise((resolve, reject) => {
  const worker = new Worker('/worker.js', { type: 'module' });
  worker.onmessage = (event) => { resolve(event.data); worker.terminate(); };
  worker.onerror = (event) => { reject(new Error(event.message || 'worker error')); worker.terminate(); };
  worker.postMessage({ bytes, name });
});
window.ready = true;
</script>`;

/** @type {import('playwright-core').Browser | undefined} */
let browser;
/** @type {import('playwright-core').Page | undefined} */
let page;
const pageErrors = [];

before(async () => {
  const files = transpileTree(ENTRY);
  files.set('/runner.js', RUNNER);
  files.set('/worker.js', WORKER);
  ({ browser, page } = await openServedPage(ORIGIN, PAGE, files, pageErrors));
  await page.waitForFunction(() => window.ready === true);
});

after(async () => {
  await browser?.close();
});

async function decodeBoth(bytes, name) {
  const arr = Array.from(bytes);
  const inPage = await page.evaluate(([b, n]) => window.decodeInPage(b, n), [arr, name]);
  const inWorker = await page.evaluate(([b, n]) => window.decodeInWorker(b, n), [arr, name]);
  return { inPage, inWorker };
}

let webpReady;
/** Lossless WebP from libwebp (@jsquash/webp), its wasm loaded from the installed package. */
async function webpLossless(data, width, height) {
  webpReady ??= (async () => {
    const wasm = createRequire(import.meta.url).resolve('@jsquash/webp/codec/enc/webp_enc_simd.wasm');
    await initWebpEncoder(await WebAssembly.compile(await readFile(wasm)));
  })();
  await webpReady;
  const image = { data: new Uint8ClampedArray(data), width, height };
  return new Uint8Array(await encodeWebp(image, { lossless: 1, exact: 1 }));
}

/** A gradient with a non-symmetric pattern; alpha varies (0, 1, 128, ...) unless opaque. */
function pixels(width, height, opaque) {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 4;
      data[i] = Math.round((x * 255) / (width - 1));
      data[i + 1] = Math.round((y * 255) / (height - 1));
      data[i + 2] = x < width / 3 && y < height / 2 ? 230 : 30;
      data[i + 3] = opaque ? 255 : [0, 1, 2, 77, 128, 254, 255][(x + 3 * y) % 7];
    }
  }
  return data;
}

function pngBytes(data, width, height) {
  const png = new PNG({ width, height });
  png.data = Buffer.from(data);
  return new Uint8Array(PNG.sync.write(png));
}

function maxAbsDiff(a, b) {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** The JPEG with an EXIF APP1 segment (big-endian TIFF, IFD0 holding only Orientation) after SOI. */
function withOrientation(jpg, orientation) {
  const tiff = [
    0x4d,
    0x4d,
    0,
    42,
    0,
    0,
    0,
    8,
    0,
    1,
    0x01,
    0x12,
    0,
    3,
    0,
    0,
    0,
    1,
    0,
    orientation,
    0,
    0,
    0,
    0,
    0,
    0,
  ];
  const payload = [...Buffer.from('Exif\0\0', 'latin1'), ...tiff];
  const length = payload.length + 2;
  return new Uint8Array([0xff, 0xd8, 0xff, 0xe1, length >> 8, length & 0xff, ...payload, ...jpg.subarray(2)]);
}

/** The PNG with an eXIf chunk (big-endian TIFF, IFD0 holding only Orientation) after IHDR. */
function pngWithExif(png, orientation) {
  const tiff = [
    0x4d,
    0x4d,
    0,
    42,
    0,
    0,
    0,
    8,
    0,
    1,
    0x01,
    0x12,
    0,
    3,
    0,
    0,
    0,
    1,
    0,
    orientation,
    0,
    0,
    0,
    0,
    0,
    0,
  ];
  const typeAndData = Buffer.from([...Buffer.from('eXIf', 'latin1'), ...tiff]);
  const chunk = Buffer.alloc(12 + tiff.length);
  chunk.writeUInt32BE(tiff.length, 0);
  typeAndData.copy(chunk, 4);
  chunk.writeUInt32BE(crc32(typeAndData), 8 + tiff.length);
  const ihdrEnd = 8 + 25; // signature, then IHDR: length, type, 13 bytes, CRC
  return new Uint8Array(Buffer.concat([png.subarray(0, ihdrEnd), chunk, png.subarray(ihdrEnd)]));
}

// Our JPEG decoder against Chromium's own (libjpeg-turbo): identical on every orientation with
// Chromium 156 here; one level is allowed for other builds, far below what a wrong orientation gives.
const JPEG_TOLERANCE = 1;

test('PNG: exact stored values, alpha < 255 included, in the page and in a worker', async () => {
  const [w, h] = [37, 23];
  const src = pixels(w, h, false);
  const { inPage, inWorker } = await decodeBoth(pngBytes(src, w, h), 'a.png');
  for (const r of [inPage, inWorker]) {
    assert.equal(r.error, undefined, r.error?.message);
    assert.deepEqual([r.width, r.height], [w, h]);
    assert.equal(r.path, 'webgl', 'expected the WebGL read-back (exact for alpha < 255)');
    assert.equal(maxAbsDiff(r.data, src), 0);
  }
});

test('JPEG: exactly the pixels Pillow decodes (test/fixtures/jpeg), in the page and in a worker', async () => {
  const dir = path.join(ROOT, 'test/fixtures/jpeg');
  const expected = JSON.parse(readFileSync(path.join(dir, 'expected.json'), 'utf8')).files;
  for (const name of ['q90-420-edges-64x48.jpg', 'progressive-444-smooth-50x34.jpg', 'odd-422-33x65.jpg']) {
    const { inPage, inWorker } = await decodeBoth(readFileSync(path.join(dir, name)), name);
    for (const r of [inPage, inWorker]) {
      assert.equal(r.error, undefined, r.error?.message);
      assert.deepEqual([r.width, r.height], [expected[name].width, expected[name].height]);
      const rgb = Buffer.from(r.data.filter((_, i) => i % 4 !== 3));
      assert.equal(createHash('sha256').update(rgb).digest('hex'), expected[name].sha256, name);
    }
  }
});

test('JPEG with EXIF orientation 1-8: as Node decodes it, and as Chromium itself turns it', async () => {
  // Two independent rotations: Chromium's own (imageOrientation 'from-image') and ours.
  const { decodeImage } = await tsImport('../../src/data/image/image-decode-node.ts', import.meta.url);
  const [w, h] = [40, 24];
  const jpg = jpeg.encode({ data: pixels(w, h, true), width: w, height: h }, 90).data;
  for (let orientation = 1; orientation <= 8; orientation++) {
    const bytes = withOrientation(jpg, orientation);
    const name = `o${orientation}.jpg`;
    const node = await decodeImage(bytes, name);
    const [dw, dh] = orientation >= 5 ? [h, w] : [w, h];
    assert.deepEqual([node.width, node.height], [dw, dh], `Node, orientation ${orientation}`);
    const runs =
      orientation === 6
        ? Object.values(await decodeBoth(bytes, name))
        : [await page.evaluate(([b, n]) => window.decodeInPage(b, n), [Array.from(bytes), name])];
    for (const r of runs) {
      assert.equal(r.error, undefined, r.error?.message);
      assert.equal(maxAbsDiff(r.data, node.data), 0, `orientation ${orientation}: browser and Node differ`);
    }
    const chromium = await page.evaluate((b) => window.nativeInPage(b), Array.from(bytes));
    assert.deepEqual([chromium.width, chromium.height], [dw, dh], `Chromium, orientation ${orientation}`);
    const diff = maxAbsDiff(chromium.data, node.data);
    assert.ok(
      diff <= JPEG_TOLERANCE,
      `orientation ${orientation}: ${diff} levels from Chromium's own decode`,
    );
  }
});

test('PNG with an EXIF orientation: refused if Chromium applies it (Node does not read it)', async (t) => {
  const [w, h] = [20, 12];
  const src = pixels(w, h, false);
  const png = pngWithExif(pngBytes(src, w, h), 6);
  const { inPage, inWorker } = await decodeBoth(png, 'o6.png');
  for (const r of [inPage, inWorker]) {
    t.diagnostic(r.error === undefined ? 'Chromium ignored the eXIf orientation' : r.error.message);
    if (r.error !== undefined) {
      assert.equal(r.error.problem, 'unsupported', r.error.message);
      assert.match(r.error.message, /EXIF orientation.*only applied to JPEGs/);
    } else {
      assert.deepEqual([r.width, r.height], [w, h]);
      assert.equal(maxAbsDiff(r.data, src), 0);
    }
  }
});

test('WebP lossless: exact, alpha included', async () => {
  const [w, h] = [29, 17];
  const src = pixels(w, h, false);
  const { inPage, inWorker } = await decodeBoth(await webpLossless(src, w, h), 'a.webp');
  for (const r of [inPage, inWorker]) {
    assert.equal(r.error, undefined, r.error?.message);
    assert.deepEqual([r.width, r.height], [w, h]);
    assert.equal(maxAbsDiff(r.data, src), 0);
  }
});

test('bad files: ImageDecodeError with the right problem, in the page and in a worker', async () => {
  const png = pngBytes(pixels(20, 20, false), 20, 20);
  const webp = await webpLossless(pixels(20, 20, false), 20, 20);
  const damagedWebp = webp.slice();
  for (let i = 30; i < damagedWebp.length; i++) damagedWebp[i] = (i * 13) & 0xff;
  const cases = [
    { bytes: Buffer.from('definitely not an image'), problem: 'unsupported' },
    { bytes: Buffer.from('GIF89a\x04\x00\x04\x00\x00\x00\x00', 'latin1'), problem: 'unsupported' },
    { bytes: png.subarray(0, 60), problem: 'corrupt' },
    { bytes: png.subarray(0, 20), problem: 'corrupt' },
    { bytes: damagedWebp, problem: 'corrupt' },
  ];
  for (const c of cases) {
    const { inPage, inWorker } = await decodeBoth(c.bytes, 'bad.img');
    for (const r of [inPage, inWorker]) {
      assert.equal(r.error?.name, 'ImageDecodeError', JSON.stringify(r).slice(0, 200));
      assert.equal(r.error.problem, c.problem, r.error.message);
      assert.match(r.error.message, /^bad\.img: /);
    }
  }
  assert.deepEqual(pageErrors, []);
});
