// Deterministic benchmark inputs: values in [-0.5, 0.5) from a multiplicative hash of the index.

export function filled(len: number, seed: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(len);
  for (let i = 0; i < len; i++) out[i] = (((i * 2654435761 + seed) >>> 0) % 1000) / 1000 - 0.5;
  return out;
}
