// Learning-rate schedules with transformers' get_scheduler semantics (LambdaLR multipliers of the base
// rate): linear warm-up from 0 over warmupSteps, then constant, linear decay to 0 at totalSteps, or a
// half-cosine (num_cycles 0.5) to 0 at totalSteps. `step` counts optimiser updates already taken, as
// LambdaLR's last_epoch does: the first update uses step 0, and so learning rate 0 under warm-up.

/** transformers' lr_scheduler_type names. */
export type LrScheduleType = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

export interface LrSchedule {
  type: LrScheduleType;
  /** The peak learning rate (TrainingArguments.learning_rate). */
  baseLr: number;
  /** Ignored by 'constant', as in transformers. */
  warmupSteps?: number;
  /** Needed by 'linear' and 'cosine'. */
  totalSteps?: number;
  /** Cosine cycles (default 0.5: one half-wave from the peak down to 0). */
  numCycles?: number;
}

/** TrainingArguments.get_warmup_steps for a warmup_ratio: ceil(totalSteps * ratio). */
export function warmupStepsFromRatio(ratio: number, totalSteps: number): number {
  return Math.ceil(totalSteps * ratio);
}

/** The multiplier of baseLr at `step` (transformers' lr_lambda). */
export function lrMultiplier(s: LrSchedule, step: number): number {
  const warmup = s.warmupSteps ?? 0;
  if (s.type === 'constant') return 1;
  if (step < warmup) return step / Math.max(1, warmup);
  if (s.type === 'constant_with_warmup') return 1;
  if (s.totalSteps === undefined) throw new RangeError(`lr schedule '${s.type}' needs totalSteps`);
  const total = s.totalSteps;
  if (s.type === 'linear') return Math.max(0, (total - step) / Math.max(1, total - warmup));
  const progress = (step - warmup) / Math.max(1, total - warmup);
  const cycles = s.numCycles ?? 0.5;
  return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * cycles * 2 * progress)));
}

/** The learning rate for the update after `step` updates have been taken. */
export function learningRate(s: LrSchedule, step: number): number {
  return s.baseLr * lrMultiplier(s, step);
}
