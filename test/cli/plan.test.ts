// `vgrpo plan`: the JSON plan for nano with the nano-demo preset (parts adding up to the total, exit 0),
// a device memory too small for it (exit 1, with advice), and a bad --image.
import { describe, expect, it } from 'vitest';
import { vgrpo } from './vgrpo.ts';

interface Plan {
  fits: boolean;
  bytes: Record<'weights' | 'kv_cache' | 'activations' | 'gradients' | 'optimizer' | 'total', number>;
  limit_bytes: number | null;
  advice: string[];
}

describe('vgrpo plan', () => {
  it('prints the plan as JSON and exits 0 when it fits', async () => {
    const r = await vgrpo(['plan', '--json', '--memory', '8']);
    expect(r.code).toBe(0);
    const p = JSON.parse(r.stdout) as Plan;
    expect(p.fits).toBe(true);
    expect(p.limit_bytes).toBe(8 * 2 ** 30);
    const b = p.bytes;
    expect(b.weights + b.kv_cache + b.activations + b.gradients + b.optimizer).toBe(b.total);
    // nano's 1,128,192 parameters, all trained (full fine-tuning): f32 gradients and two Adam moments.
    expect(b.gradients).toBe(1_128_192 * 4);
    expect(b.optimizer).toBe(1_128_192 * 8);
  });

  it('exits 1 with what would make it fit when it does not', async () => {
    const fits = JSON.parse((await vgrpo(['plan', '--json', '--memory', '8'])).stdout) as Plan;
    const gib = (fits.bytes.total * 0.9) / 2 ** 30;
    const r = await vgrpo(['plan', '--memory', String(gib)]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/it does not fit: it needs/);
    expect(r.stdout).toMatch(/any one of these would make it fit: .*max_completion_length: 32/);
  });

  it('rejects a malformed --image with the usage text', async () => {
    const r = await vgrpo(['plan', '--image', '1024']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--image must be WIDTHxHEIGHT/);
  });
});
