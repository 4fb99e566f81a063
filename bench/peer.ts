// Timing onnxruntime-web as a peer: a runner alone (its wasm EP rows) or against one of our kernels,
// run for run in turn (its WebGPU EP rows), so that the ratio in a row does not depend on when each
// side happened to run. A runner ORT cannot build or run gives null, logged, and ours is timed alone.
import type { OrtMatmulBench } from './ort.ts';
import { gflops, measureQueued, measureQueuedInterleaved, type Queued } from './timing.ts';

function runner(bench: OrtMatmulBench): Queued {
  return { queue: () => bench.run(), wait: () => bench.wait() };
}

/** GFLOP/s of an onnxruntime-web runner, or null (logged) when ORT cannot build or run it. */
export async function ort(
  make: () => Promise<OrtMatmulBench>,
  flops: number,
  runs: number,
  log: (s: string) => void,
): Promise<number | null> {
  try {
    const bench = await make();
    try {
      const { queue, wait } = runner(bench);
      return gflops(flops, (await measureQueued(queue, wait, { runs })).medianMs);
    } finally {
      await bench.dispose();
    }
  } catch (e) {
    log(`  onnxruntime-web failed: ${(e as Error).message}`);
    return null;
  }
}

/** GFLOP/s of ours and of the onnxruntime-web runner on the same work, timed interleaved. */
export async function againstOrt(
  ours: Queued,
  make: () => Promise<OrtMatmulBench>,
  flops: number,
  runs: number,
  log: (s: string) => void,
): Promise<{ ours: number; theirs: number | null }> {
  let bench: OrtMatmulBench | null = null;
  try {
    bench = await make();
    const [a, b] = await measureQueuedInterleaved([ours, runner(bench)], { runs });
    return { ours: gflops(flops, a!.medianMs), theirs: gflops(flops, b!.medianMs) };
  } catch (e) {
    log(`  onnxruntime-web failed: ${(e as Error).message}`);
  } finally {
    await bench?.dispose();
  }
  return {
    ours: gflops(flops, (await measureQueued(ours.queue, ours.wait, { runs })).medianMs),
    theirs: null,
  };
}
