// `vgrpo generate`: answers a question about an image with a checkpoint on the GPU: builds the prompt as
// `vgrpo prompt` does, loads the weights, runs the vision tower and KV-cached generation, and prints the
// completion(s), each with the assistant prefill in front (the model continues it).

import { noGrad } from '../gpu/autograd.ts';
import { createNodeGpu } from '../gpu/node.ts';
import { directoryOpener } from '../model/byte-source-node.ts';
import { generate } from '../model/generate.ts';
import { loadModel } from '../model/load.ts';
import { buildPrompt, DEFAULT_PREFILL, decodeCompletion, stopTokenIds } from '../model/prompt.ts';
import { visionForward } from '../model/vision.ts';
import { CliError, type FlagSpec, type FlagValues, runSubcommand } from './command.ts';
import { loadPromptModel, modelDir, positiveIntArg, readImageArg, readJsonFile } from './model-input.ts';

export const GENERATE_USAGE = `Usage: vgrpo generate --model DIR|nano --image FILE --question TEXT [options]
  --prefill TEXT         assistant prefill the answer continues (default ${JSON.stringify(DEFAULT_PREFILL)};
                         '' opens the assistant turn without one)
  --system TEXT          system message (default: the chat template's own)
  --max-new-tokens N     most tokens to generate per completion (default 64)
  --temperature T        sampling temperature, 0 = greedy (default: generation_config.json's;
                         greedy when it does not set do_sample)
  --top-k K              keep the K most likely tokens, 0 = off (default: generation_config.json's)
  --top-p P              nucleus sampling, in (0, 1] (default: generation_config.json's)
  --seed S               u32 sampler seed (default: random; printed with --json)
  --samples G            completions to sample side by side from one prefill (default 1)
  --f16                  store the weight matrices as f16 on the GPU (needs shader-f16)
  --json                 print {completions: [{text, ids, logprobs, finished}], prompt_tokens,
                         seconds, tokens_per_s, seed}
`;

/** Sampling defaults a model folder's generation_config.json gives (HF semantics). */
export interface GenerationDefaults {
  temperature: number;
  topK: number;
  topP: number;
  /** Its eos_token_id(s). */
  eosTokenIds: number[];
}

/** HF's reading of generation_config.json: no `do_sample: true` means greedy; absent file: greedy. */
export function generationDefaults(json: unknown): GenerationDefaults {
  const g =
    typeof json === 'object' && json !== null && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : {};
  const num = (v: unknown, fallback: number) => (typeof v === 'number' && Number.isFinite(v) ? v : fallback);
  const eos = g.eos_token_id;
  const eosTokenIds = (Array.isArray(eos) ? eos : [eos]).filter(
    (x): x is number => typeof x === 'number' && Number.isInteger(x),
  );
  return {
    temperature: g.do_sample === true ? num(g.temperature, 1) : 0,
    topK: Math.max(0, Math.trunc(num(g.top_k, 0))),
    topP: Math.min(1, Math.max(0, num(g.top_p, 1))),
    eosTokenIds,
  };
}

function numberArg(value: string | undefined, flag: string, ok: (n: number) => boolean, what: string) {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !ok(n))
    throw new CliError(`${flag} must be ${what}, got '${value}'`, 2);
  return n;
}

/** Runs `vgrpo generate ARGS`; returns the exit code. */
export function generateCommand(args: string[]): Promise<number> {
  return runSubcommand('generate', GENERATE_USAGE, args, FLAGS, runGenerate);
}

const FLAGS: FlagSpec = {
  model: { type: 'string' },
  image: { type: 'string' },
  question: { type: 'string' },
  prefill: { type: 'string' },
  system: { type: 'string' },
  'max-new-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
  samples: { type: 'string' },
  f16: { type: 'boolean' },
  json: { type: 'boolean' },
};

async function runGenerate(values: FlagValues): Promise<number> {
  const str = (k: string): string | undefined => values[k] as string | undefined;
  for (const required of ['model', 'image', 'question']) {
    if (str(required) === undefined) throw new CliError(`--${required} is required`, 2);
  }
  const maxNewTokens = positiveIntArg(str('max-new-tokens'), '--max-new-tokens') ?? 64;
  const numSamples = positiveIntArg(str('samples'), '--samples') ?? 1;
  const temperatureArg = numberArg(str('temperature'), '--temperature', (n) => n >= 0, 'a number >= 0');
  const topKArg = numberArg(str('top-k'), '--top-k', (n) => Number.isInteger(n) && n >= 0, 'an integer >= 0');
  const topPArg = numberArg(str('top-p'), '--top-p', (n) => n > 0 && n <= 1, 'a number in (0, 1]');
  const seedArg = numberArg(
    str('seed'),
    '--seed',
    (n) => Number.isInteger(n) && n >= 0 && n <= 0xffffffff,
    'an integer in [0, 4294967295]',
  );

  const model = await loadPromptModel(str('model')!);
  const dir = modelDir(str('model')!);
  const defaults = generationDefaults(await readJsonFile(dir, 'generation_config.json', false));
  const image = await readImageArg(str('image')!);
  const prompt = buildPrompt(model, image, {
    question: str('question')!,
    prefill: str('prefill'),
    system: str('system'),
  });
  const { config, tokenizer } = model;
  const stopIds = stopTokenIds(tokenizer, config.tokens.eosTokenIds, defaults.eosTokenIds);
  const temperature = temperatureArg ?? defaults.temperature;
  const topK = topKArg ?? defaults.topK;
  const topP = topPArg ?? defaults.topP;
  const seed = seedArg ?? Math.floor(Math.random() * 0x100000000);

  const gpu = await createNodeGpu();
  try {
    const loaded = await loadModel(gpu, directoryOpener(dir), { weightDtype: values.f16 ? 'f16' : 'f32' });
    const started = performance.now();
    const { processed } = prompt;
    const features = gpu.keep(
      noGrad(gpu, () =>
        gpu.scope(() =>
          visionForward(
            gpu,
            loaded.config,
            loaded.weights,
            gpu.tensor(processed.pixelValues, [processed.rows, processed.cols]),
            [processed.gridThw],
          ),
        ),
      ),
    );
    let result: Awaited<ReturnType<typeof generate>>;
    try {
      result = await generate(gpu, loaded.config, loaded.weights, {
        inputIds: Int32Array.from(prompt.inputIds),
        positions: prompt.rope.positions,
        ropeDelta: prompt.rope.ropeDelta,
        imageFeatures: features,
        numSamples,
        maxNewTokens,
        temperature,
        topK,
        topP,
        seed,
        stopIds,
        logprobs: true,
      });
    } finally {
      features.dispose();
    }
    const seconds = (performance.now() - started) / 1000;
    const stop = new Set(stopIds);
    const completions = result.ids.map((ids, i) => {
      const finished = result.finished[i]!;
      const body = finished && stop.has(ids[ids.length - 1]!) ? ids.slice(0, -1) : ids;
      return {
        text: prompt.prefill + decodeCompletion(tokenizer, body),
        ids,
        logprobs: result.logprobs[i]!,
        finished,
      };
    });
    const generated = result.ids.reduce((n, ids) => n + ids.length, 0);
    const tokensPerS = seconds > 0 ? generated / seconds : 0;
    if (values.json) {
      const out = {
        completions,
        prompt_tokens: prompt.inputIds.length,
        seconds,
        tokens_per_s: tokensPerS,
        seed,
      };
      process.stdout.write(`${JSON.stringify(out)}\n`);
    } else if (completions.length === 1) {
      process.stdout.write(`${completions[0]!.text}\n`);
    } else {
      completions.forEach((c, i) => {
        const how = c.finished ? 'finished' : `stopped at ${maxNewTokens} tokens`;
        process.stdout.write(`--- sample ${i + 1} of ${completions.length} (${how}) ---\n${c.text}\n`);
      });
    }
    process.stderr.write(
      `${prompt.inputIds.length} prompt tokens, ${generated} generated in ${seconds.toFixed(2)} s ` +
        `(${tokensPerS.toFixed(1)} tokens/s), seed ${seed}\n`,
    );
    return 0;
  } finally {
    gpu.destroy();
  }
}
