// `npm run bench -- [--out FILE.json] [--only REGEX] [--runs N] [--checkpoints DIR]`: runs the benchmarks
// in one process on one adapter and writes their JSON (default bench-results/bench.json). --only filters
// by row name (e.g. 'square|nano'); the layer rows at sequence 2048 take minutes on a software adapter.
// --checkpoints names the folder of random-weight full-size checkpoints (scripts/make-random-checkpoint.py)
// for the full-size rows, which are skipped without it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { adapterLabel } from '../src/gpu/adapter.ts';
import { createNodeGpu } from '../src/gpu/node.ts';
import { benchAttention } from './attention.ts';
import { benchDatasets } from './datasets.ts';
import { benchFullSize } from './full-size.ts';
import { benchGenerate } from './generate.ts';
import { benchGrpo } from './grpo.ts';
import { benchImages } from './images.ts';
import { benchLayers } from './layers.ts';
import { benchMatmul } from './matmul.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const out = arg('--out') ?? 'bench-results/bench.json';
const only = arg('--only');
const runs = Math.max(5, Number(arg('--runs') ?? 5));
const log = (s: string) => process.stderr.write(`${s}\n`);

const gpu = await createNodeGpu();
try {
  log(`matmul (median of ${runs} runs after 2 warm-up runs):`);
  const filter = only ? new RegExp(only) : undefined;
  const results = await benchMatmul(gpu, { runs, only: filter }, log);
  log(`attention forward against onnxruntime-web (median of ${runs} runs after 2 warm-up runs):`);
  const attention = await benchAttention(gpu, { runs, only: filter }, log);
  log('layers, forward + backward (median after 1 warm-up run):');
  const layers = await benchLayers(gpu, { runs, only: filter }, log);
  log('generation, nano with random weights (median after 1 warm-up run):');
  const generation = await benchGenerate(gpu, { runs, only: filter }, log);
  log('GRPO step, nano demo settings (median after 1 warm-up step):');
  const grpo = await benchGrpo(gpu, { runs, only: filter }, log);
  log('full-size checkpoints, LoRA GRPO step (one step each, a device per row):');
  const fullSize = await benchFullSize({ only: filter, checkpoints: arg('--checkpoints') }, log);
  log('datasets, 20,000 rows with images (CPU):');
  const datasets = await benchDatasets({ only: filter }, log);
  log('image decoding, 512 x 512 (CPU, median of 9 after 2):');
  const images = await benchImages({ only: filter }, log);
  const report = {
    adapter: adapterLabel(gpu.adapter),
    adapter_info: {
      vendor: gpu.adapter.vendor,
      architecture: gpu.adapter.architecture,
      device: gpu.adapter.device,
    },
    date: new Date().toISOString(),
    node: process.version,
    runs,
    results,
    attention,
    layers,
    generation,
    grpo,
    full_size: fullSize,
    datasets,
    images,
  };
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
  log(`wrote ${out}`);
} finally {
  gpu.destroy();
}
