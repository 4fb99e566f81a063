// The GRPO loss against TRL 1.13's own `_compute_loss` (test/fixtures/trl-grpo/loss-cases.json, written
// by scripts/make-trl-grpo-fixtures.py running TRL with a chosen log-prob table and reading d loss /
// d logp from autograd): every loss type and option, in float64 on the host; the analytic gradient
// against central finite differences of the host loss; and the GPU path (token log-probs of logits on
// the GPU, the host loss, the seeded backward to the logits) within float32 tolerance of the fixtures.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { markTrainable, Tape } from '../../src/gpu/autograd.ts';
import { tokenLogprobs } from '../../src/gpu/ops/logprobs.ts';
import { grpoLoss, type LossInputs, type LossSettings, type LossType } from '../../src/grpo/loss.ts';
import { setupGpu } from '../helpers.ts';

interface LossCase {
  name: string;
  config: Record<string, number | string | boolean | null>;
  current_gradient_accumulation_steps: number;
  inputs: {
    per_token_logps: number[][];
    old_per_token_logps: number[][] | null;
    ref_per_token_logps: number[][] | null;
    entropies: number[][];
    completion_mask: number[][];
    advantages: number[];
    num_items_in_batch: number;
  };
  outputs: { loss: number; grad_per_token_logps: number[][]; metrics: Record<string, number | null> };
}

const fixture = JSON.parse(
  readFileSync(new URL('../fixtures/trl-grpo/loss-cases.json', import.meta.url), 'utf8'),
) as { trl_version: string; cases: LossCase[] };

function settingsOf(c: LossCase): LossSettings {
  const k = c.config;
  const num = (name: string) => k[name] as number;
  return {
    lossType: k.loss_type as LossType,
    beta: num('beta'),
    epsilonLow: num('epsilon'),
    epsilonHigh: (k.epsilon_high as number | null) ?? num('epsilon'),
    delta: k.delta as number | null,
    importanceSamplingLevel: k.importance_sampling_level as 'token' | 'sequence',
    useBiasCorrectionKl: k.use_bias_correction_kl as boolean,
    topEntropyQuantile: num('top_entropy_quantile'),
    offPolicyMaskThreshold: k.off_policy_mask_threshold as number | null,
    maxCompletionLength: num('max_completion_length'),
    gradientAccumulationSteps: c.current_gradient_accumulation_steps,
    stepsPerGeneration: num('steps_per_generation'),
    sapoTemperaturePos: num('sapo_temperature_pos'),
    sapoTemperatureNeg: num('sapo_temperature_neg'),
    vespoKPos: num('vespo_k_pos'),
    vespoLambdaPos: num('vespo_lambda_pos'),
    vespoKNeg: num('vespo_k_neg'),
    vespoLambdaNeg: num('vespo_lambda_neg'),
  };
}

function inputsOf(c: LossCase, logp?: ArrayLike<number>): LossInputs {
  const x = c.inputs;
  const flat = (m: number[][]) => Float64Array.from(m.flat());
  return {
    rows: x.per_token_logps.length,
    cols: x.per_token_logps[0]!.length,
    logp: logp ?? flat(x.per_token_logps),
    ...(x.old_per_token_logps ? { oldLogp: flat(x.old_per_token_logps) } : {}),
    ...(x.ref_per_token_logps ? { refLogp: flat(x.ref_per_token_logps) } : {}),
    entropies: flat(x.entropies),
    mask: flat(x.completion_mask),
    advantages: x.advantages,
    numItemsInBatch: x.num_items_in_batch,
  };
}

const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

describe(`GRPO loss against TRL ${fixture.trl_version}`, () => {
  it('covers every loss type', () => {
    const types = new Set(fixture.cases.map((c) => c.config.loss_type));
    expect([...types].sort()).toEqual(['bnpo', 'cispo', 'dapo', 'dr_grpo', 'grpo', 'luspo', 'sapo', 'vespo']);
  });

  for (const c of fixture.cases) {
    it(`${c.name}: loss, d loss / d logp and metrics`, () => {
      const r = grpoLoss(inputsOf(c), settingsOf(c));
      expect(close(r.loss, c.outputs.loss, 1e-6)).toBe(true);
      const want = c.outputs.grad_per_token_logps.flat();
      const scale = Math.max(1e-12, ...want.map(Math.abs));
      want.forEach((g, i) => {
        expect(Math.abs(r.grad[i]! - g)).toBeLessThanOrEqual(1e-6 * scale + 1e-12);
      });
      expect(Object.keys(r.metrics).sort()).toEqual(Object.keys(c.outputs.metrics).sort());
      for (const [k, v] of Object.entries(c.outputs.metrics)) {
        if (v === null) expect(r.metrics[k]).toBeNull();
        else expect(close(r.metrics[k]!, v, 1e-6)).toBe(true);
      }
    });
  }
});

// Cases without detached factors (cispo's capped ratio, vespo's weight and a missing old log-prob are
// detached in TRL, so finite differences of the loss do not give TRL's gradient there).
describe('the analytic gradient against finite differences of the host loss', () => {
  const picked = fixture.cases.filter((c) =>
    [
      'grpo_sequence_old',
      'sapo_sequence_beta_old',
      'dapo_beta_biascorr_old',
      'luspo_sequence_beta_ga4_iter2',
    ].includes(c.name),
  );
  for (const c of picked) {
    it(c.name, () => {
      const s = settingsOf(c);
      const base = Float64Array.from(c.inputs.per_token_logps.flat());
      const mask = c.inputs.completion_mask.flat();
      const g = grpoLoss(inputsOf(c), s).grad;
      const h = 1e-6;
      let checked = 0;
      base.forEach((_, i) => {
        if (!mask[i]) return;
        const at = (d: number) => {
          const x = base.slice();
          x[i]! += d;
          return grpoLoss(inputsOf(c, x), s).loss;
        };
        const fd = (at(h) - at(-h)) / (2 * h);
        // Points within h of a clip boundary have one-sided derivatives; the rest must agree.
        if (Math.abs(at(h) - 2 * at(0) + at(-h)) > 1e-9) return;
        expect(Math.abs(fd - g[i]!)).toBeLessThan(1e-6);
        checked++;
      });
      expect(checked).toBeGreaterThan(10);
    });
  }
});

describe('the GPU path: token log-probs on the GPU, host loss, backward to the logits', () => {
  const gpu = setupGpu();
  const V = 16;
  const T = 0.7;
  const cases = fixture.cases.filter((c) =>
    ['grpo_token_old', 'dapo_ga4_spg2_no_old', 'bnpo_sequence_beta_old', 'vespo_defaults_old'].includes(
      c.name,
    ),
  );
  for (const c of cases) {
    it(c.name, async () => {
      const g = gpu();
      const lp = c.inputs.per_token_logps.flat();
      const mask = c.inputs.completion_mask.flat();
      const active = lp.map((_, i) => i).filter((i) => mask[i]);
      // Logits whose log-softmax at temperature T gives the fixture's log-prob at the target: the
      // target logit a, the other V - 1 at 0, with a / T = lp + log(V - 1) - log(1 - exp(lp)).
      const logits = new Float32Array(active.length * V);
      const targets = new Int32Array(active.length);
      active.forEach((i, r) => {
        targets[r] = (i * 7) % V;
        logits[r * V + targets[r]!] = T * (lp[i]! + Math.log(V - 1) - Math.log(1 - Math.exp(lp[i]!)));
      });
      const x = markTrainable(g.tensor(logits, [active.length, V]));
      const tape = new Tape(g);
      const out = tape.run(() => tokenLogprobs(g, x, targets, T));
      const got = await g.read(out);
      const full = Float64Array.from(lp);
      active.forEach((i, r) => {
        full[i] = got[r]!;
      });
      const r = grpoLoss(inputsOf(c, full), settingsOf(c));
      expect(close(r.loss, c.outputs.loss, 1e-5)).toBe(true);
      const seed = g.tensor(
        active.map((i) => r.grad[i]!),
        [active.length],
      );
      const grads = tape.backward(out, seed);
      const dx = await g.read(grads.get(x)!);
      // d logp / d logits = (onehot - softmax(logits / T)) / T, applied to TRL's d loss / d logp.
      const want = c.outputs.grad_per_token_logps.flat();
      const scale = Math.max(1e-12, ...want.map(Math.abs));
      active.forEach((i, row) => {
        const z = Array.from({ length: V }, (_, v) => logits[row * V + v]! / T);
        const m = Math.max(...z);
        const sum = z.reduce((a, v) => a + Math.exp(v - m), 0);
        for (let v = 0; v < V; v++) {
          const p = Math.exp(z[v]! - m) / sum;
          const expected = (want[i]! * ((v === targets[row] ? 1 : 0) - p)) / T;
          expect(Math.abs(dx[row * V + v]! - expected)).toBeLessThan((2e-5 * scale) / T + 1e-7);
        }
      });
      for (const t of [x, out, seed, ...grads.values()]) t.dispose();
      tape.dispose();
    });
  }
});
