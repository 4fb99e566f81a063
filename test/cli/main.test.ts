// The `vgrpo` entry point: `info` reports the adapter, and with no usable adapter the command fails
// with a message that names the fix (simulated by pointing the Vulkan loader at no driver).
import { describe, expect, it } from 'vitest';
import { vgrpo } from './vgrpo.ts';

describe('vgrpo', () => {
  it('info --json reports the adapter with its features and limits', async () => {
    const r = await vgrpo(['info', '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as { features: string[]; limits: Record<string, number> };
    expect(info.limits.maxStorageBufferBindingSize).toBeGreaterThanOrEqual(128 * 2 ** 20);
    expect(Array.isArray(info.features)).toBe(true);
  });

  it('names the fix when there is no adapter', async () => {
    const r = await vgrpo(['info'], {
      VK_ICD_FILENAMES: '/nonexistent/icd.json',
      VK_DRIVER_FILES: '/nonexistent/icd.json',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/No WebGPU adapter is available/);
    expect(r.stderr).toMatch(/scripts\/setup-system\.sh/);
  });

  it('rejects an unknown command with the usage text', async () => {
    const r = await vgrpo(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Usage:/);
  });
});
