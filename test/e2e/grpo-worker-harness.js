// Shared by the GRPO worker's browser tests: the built worker chunk, a page that starts it and collects
// its events (with their time) in window.events, and waiting for an event that matches.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from './harness.js';

/** SwiftShader is slow: generous, while a step takes seconds. */
export const EVENT_TIMEOUT = 240_000;

export const NANO_FILES = [
  'config.json',
  'generation_config.json',
  'model.safetensors',
  'preprocessor_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
];

/** The URL path of the worker chunk in dist/assets. */
export function workerChunk() {
  const chunks = readdirSync(path.join(ROOT, 'dist', 'assets')).filter((f) => /^worker-.*\.js$/.test(f));
  assert.equal(chunks.length, 1, `expected one worker chunk in dist/assets, got ${chunks.join(', ')}`);
  return `/assets/${chunks[0]}`;
}

export const events = (page) => page.evaluate(() => window.events);

/** Starts the worker chunk in the page; its events collect in window.events with their time (ms). */
export async function startWorker(page, chunk) {
  await page.evaluate((src) => {
    const t0 = performance.now();
    window.events = [];
    window.grpo = new Worker(src, { type: 'module' });
    window.grpo.onmessage = (e) => window.events.push({ ...e.data, at: performance.now() - t0 });
    window.grpo.onerror = (e) =>
      window.events.push({ type: 'worker-error', message: e.message, at: performance.now() - t0 });
  }, chunk);
}

export const send = (page, message) => page.evaluate((m) => window.grpo.postMessage(m), message);

/**
 * The first event after the first `from` events that `match` accepts (a self-contained arrow function,
 * sent to the page as source); a worker error fails at once.
 */
export async function waitFor(page, from, what, match) {
  const find = `(() => {
    const tail = window.events.slice(${from});
    return tail.find((e) => e.type === 'worker-error') ?? tail.find(${match.toString()}) ?? false;
  })()`;
  let event;
  try {
    event = await (
      await page.waitForFunction(find, undefined, { timeout: EVENT_TIMEOUT, polling: 100 })
    ).jsonValue();
  } catch (e) {
    const seen = (await events(page))
      .filter((x) => x.type !== 'progress')
      .map((x) => x.type + (x.state ? `:${x.state}` : '') + (x.type === 'error' ? ` (${x.message})` : ''))
      .join(', ');
    throw new Error(`no ${what} event (${e.message}); events: ${seen}`);
  }
  assert.notEqual(event.type, 'worker-error', `the worker failed: ${event.message}`);
  return event;
}

/**
 * The reply to request `id` after the first `from` events (an event carrying that id, not a dataset
 * one). An export's files come back as their names and sizes; their bytes stay in the page, where
 * window.fileOf(id, name) gives them.
 */
export async function waitForReply(page, from, id) {
  try {
    await page.waitForFunction(
      ([from, id]) => window.events.slice(from).some((e) => e.id === id && !e.type.startsWith('dataset-')),
      [from, id],
      { timeout: EVENT_TIMEOUT, polling: 100 },
    );
  } catch (e) {
    const seen = (await events(page)).map((x) => x.type).join(', ');
    throw new Error(`no reply to request ${id} (${e.message}); events: ${seen}`);
  }
  return page.evaluate(
    ([from, id]) => {
      window.fileOf = (id, name) =>
        window.events
          .find((e) => e.type === 'export-result' && e.id === id)
          .files.find((f) => f.name === name).bytes;
      const e = window.events.slice(from).find((x) => x.id === id && !x.type.startsWith('dataset-'));
      if (e.type !== 'export-result') return e;
      return { ...e, files: e.files.map((f) => ({ name: f.name, size: f.bytes.byteLength })) };
    },
    [from, id],
  );
}
