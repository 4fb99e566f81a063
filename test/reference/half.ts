// Reference rounding of a number to the nearest IEEE binary16 value (ties to even), by arithmetic on
// the exponent and quantum rather than by bit manipulation, to check the runtime's converter.

export function roundToHalf(x: number): number {
  if (!Number.isFinite(x)) return x;
  const ax = Math.abs(x);
  if (ax === 0) return x;
  const MAX = 65504;
  const e = Math.max(Math.floor(Math.log2(ax)), -14);
  const quantum = 2 ** (e - 10);
  const q = ax / quantum;
  let r = Math.round(q);
  if (q - Math.trunc(q) === 0.5) r = Math.trunc(q) % 2 === 0 ? Math.trunc(q) : Math.trunc(q) + 1;
  const v = r * quantum;
  // Values at or past the midpoint between the largest half and 2^16 round to infinity.
  if (v > MAX) return Math.sign(x) * Number.POSITIVE_INFINITY;
  return Math.sign(x) * v;
}
