// End-to-end test of the built app (dist/) in Debian's Chromium: with WebGPU on SwiftShader the header's
// adapter badge names the adapter and opens to its details, and without WebGPU the app explains how to
// get it. Run `npm run build` first.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPreview, UI_TIMEOUT, WEBGPU_ARGS, withPage } from './harness.js';

/**
 * A host name that resolves to 127.0.0.1 but is not a secure context, so Chromium leaves navigator.gpu
 * out entirely. (No command-line flag of this Chromium removes navigator.gpu: --disable-features=WebGPU
 * and --disable-blink-features=WebGPU leave it in place.)
 */
const INSECURE_HOST = 'no-webgpu.test';

/** @type {{ port: number, close: () => Promise<void> } | undefined} */
let server;
let port = 0;

before(async () => {
  server = await startPreview([INSECURE_HOST]);
  port = server.port;
});

after(async () => {
  await server?.close();
});

/** Waits until the app has settled on either the adapter panel or the no-WebGPU page. */
async function settled(page) {
  await page
    .locator('[data-testid="adapter-panel"], [data-testid="no-webgpu"]')
    .first()
    .waitFor({ timeout: UI_TIMEOUT });
}

test('shows the WebGPU adapter (SwiftShader)', { timeout: 60_000 }, async () => {
  await withPage(WEBGPU_ARGS, `http://127.0.0.1:${port}/`, 'app-adapter.png', async (page) => {
    await settled(page);
    const noWebGpu = page.getByTestId('no-webgpu');
    if (await noWebGpu.isVisible()) assert.fail(`expected an adapter, got: ${await noWebGpu.textContent()}`);

    const label = ((await page.getByTestId('adapter-label').textContent()) ?? '').trim();
    assert.ok(label.length > 0, 'the adapter label is empty');
    assert.match(label, /swiftshader/i);

    // A compact badge: the details open on demand.
    const details = page.getByTestId('key-features');
    assert.equal(await details.isVisible(), false);
    await page.getByTestId('adapter-panel').locator('summary').click();
    assert.equal(await details.isVisible(), true);

    const features = page.getByTestId('adapter-features').locator('li');
    assert.ok((await features.count()) > 0, 'the features list is empty');

    const keyFeatures = page.getByTestId('key-features').locator('li');
    assert.equal(await keyFeatures.count(), 3);
    const keyText = (await page.getByTestId('key-features').textContent()) ?? '';
    for (const f of ['shader-f16', 'subgroups', 'timestamp-query'])
      assert.ok(keyText.includes(f), `${f} not listed`);

    const limits = (await page.getByTestId('adapter-limits').textContent()) ?? '';
    assert.match(limits, /maxStorageBufferBindingSize\s*\d+(\.\d+)? (B|KiB|MiB|GiB)/);
    assert.match(limits, /maxComputeWorkgroupsPerDimension\s*\d[\d,]*/);
  });
});

test('explains how to get WebGPU when no adapter is available', { timeout: 60_000 }, async () => {
  // Without --enable-unsafe-webgpu, Chromium on Linux exposes navigator.gpu but requestAdapter() gives null.
  await withPage([], `http://127.0.0.1:${port}/`, 'app-no-webgpu.png', async (page) => {
    await settled(page);
    const message = page.getByTestId('no-webgpu');
    await message.waitFor({ timeout: UI_TIMEOUT });
    const text = (await message.textContent()) ?? '';
    assert.match(text, /WebGPU is not available/);
    assert.match(text, /No WebGPU adapter is available/);
    assert.doesNotMatch(text, /not a secure context/);
    assert.match(text, /enable-unsafe-webgpu/);
    assert.equal(await page.getByTestId('adapter-panel').count(), 0);
  });
});

test('explains how to get WebGPU when navigator.gpu is missing', { timeout: 60_000 }, async () => {
  // Even with the WebGPU flags, an insecure origin has no navigator.gpu.
  const args = [...WEBGPU_ARGS, `--host-resolver-rules=MAP ${INSECURE_HOST} 127.0.0.1`];
  await withPage(args, `http://${INSECURE_HOST}:${port}/`, 'app-no-navigator-gpu.png', async (page) => {
    assert.equal(
      await page.evaluate(() => 'gpu' in navigator),
      false,
      'navigator.gpu exists on an insecure origin',
    );
    await settled(page);
    const text = (await page.getByTestId('no-webgpu').textContent()) ?? '';
    assert.match(text, /does not expose WebGPU \(navigator\.gpu\)/);
    assert.match(text, /not a secure context/);
    assert.match(text, /enable-unsafe-webgpu/);
  });
});
