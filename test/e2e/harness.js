// Shared by the browser tests: where Chromium is, the flags every launch gets, a vite preview server
// of the built app, and a page runner that saves a screenshot and fails on uncaught page errors.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { preview } from 'vite';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const RESULTS = path.join(ROOT, 'test-results');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Flags every launch gets: no sandbox (we run as root), no network chatter. */
export const COMMON_ARGS = [
  '--no-sandbox',
  '--disable-gpu-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
/** WebGPU in headless Chromium on Linux: the unsafe flag plus the SwiftShader (CPU Vulkan) adapter. */
export const WEBGPU_ARGS = ['--enable-unsafe-webgpu', '--use-webgpu-adapter=swiftshader'];

export const UI_TIMEOUT = 30_000;

/**
 * Serves dist/ with vite preview on a free port; `allowedHosts` are extra host names it answers to.
 * @param {string[]} [allowedHosts]
 * @returns {Promise<{ port: number, close: () => Promise<void> }>}
 */
export async function startPreview(allowedHosts = []) {
  if (!existsSync(path.join(ROOT, 'dist', 'index.html'))) {
    throw new Error('dist/index.html is missing: run `npm run build` before `npm run test:e2e`.');
  }
  mkdirSync(RESULTS, { recursive: true });
  const server = await preview({
    root: ROOT,
    logLevel: 'warn',
    preview: { host: '127.0.0.1', port: 0, strictPort: true, open: false, allowedHosts },
  });
  const address = server.httpServer.address();
  assert.ok(address && typeof address === 'object', 'vite preview did not start listening');
  return { port: address.port, close: () => server.close() };
}

/**
 * Launches Chromium with `args`, opens `url`, runs `fn(page)`, and always saves a screenshot to
 * test-results/`shot` and closes the browser. Uncaught page errors fail the test.
 * @param {string[]} args
 * @param {string} url
 * @param {string} shot
 * @param {(page: import('playwright-core').Page) => Promise<void>} fn
 */
export async function withPage(args, url, shot, fn) {
  mkdirSync(RESULTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...COMMON_ARGS, ...args],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    /** @type {string[]} */
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    try {
      await page.goto(url);
      assert.equal(await page.title(), 'vision-grpo');
      await fn(page);
      assert.deepEqual(pageErrors, [], 'uncaught errors in the page');
    } finally {
      await page.screenshot({ path: path.join(RESULTS, shot), fullPage: true }).catch(() => {});
    }
  } finally {
    await browser.close();
  }
}

/**
 * How many colours a sample of a canvas's pixels holds: an image drawn on a stage shows many, an empty
 * stage one or two.
 * @param {import('playwright-core').Locator} canvas
 */
export function canvasColours(canvas) {
  return canvas.evaluate((c) => {
    const ctx = /** @type {HTMLCanvasElement} */ (c).getContext('2d');
    const data = ctx?.getImageData(0, 0, c.width, c.height).data ?? [];
    const seen = new Set();
    for (let i = 0; i < data.length; i += 4 * 97) seen.add(`${data[i]},${data[i + 1]},${data[i + 2]}`);
    return seen.size;
  });
}

/** WebGL2 in headless Chromium (the browser image decoder reads pixels back through it). */
export const WEBGL_ARGS = ['--use-angle=swiftshader', '--enable-unsafe-swiftshader'];

/**
 * Chromium with one page on the made-up `origin`, served without a server: '/' is `html`, other paths
 * are JavaScript from `files` (URL path -> source), and every other request is aborted, so nothing
 * reaches the network. Uncaught page errors are pushed to `pageErrors`.
 * @param {string} origin
 * @param {string} html
 * @param {Map<string, string>} files
 * @param {string[]} pageErrors
 */
export async function openServedPage(origin, html, files, pageErrors) {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [...COMMON_ARGS, ...WEBGL_ARGS],
  });
  const context = await browser.newContext();
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.origin !== origin) return route.abort();
    if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: html });
    const body = files.get(url.pathname);
    if (body === undefined) return route.fulfill({ status: 404, body: 'not found' });
    return route.fulfill({ contentType: 'text/javascript', body });
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto(`${origin}/`);
  return { browser, page };
}
