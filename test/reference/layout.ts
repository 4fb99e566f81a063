// Float64 references for permute, slice and concat on dense row-major arrays, by explicit index
// arithmetic.

function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1]! * shape[i + 1]!;
  return s;
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d]!;
    i = Math.floor(i / shape[d]!);
  }
  return idx;
}

export function permuteRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  perm: readonly number[],
): Float64Array {
  const outShape = perm.map((p) => shape[p]!);
  const st = strides(shape);
  const out = new Float64Array(x.length);
  for (let i = 0; i < out.length; i++) {
    const idx = unravel(i, outShape);
    let src = 0;
    idx.forEach((v, d) => {
      src += v * st[perm[d]!]!;
    });
    out[i] = x[src]!;
  }
  return out;
}

export function sliceRef(
  x: ArrayLike<number>,
  shape: readonly number[],
  axis: number,
  start: number,
  end: number,
): Float64Array {
  const outShape = shape.map((d, i) => (i === axis ? end - start : d));
  const st = strides(shape);
  const n = outShape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, outShape);
    idx[axis]! += start;
    out[i] = x[idx.reduce((a, v, d) => a + v * st[d]!, 0)]!;
  }
  return out;
}

export function concatRef(
  xs: ArrayLike<number>[],
  shapes: readonly (readonly number[])[],
  axis: number,
): Float64Array {
  const outShape = shapes[0]!.map((d, i) => (i === axis ? shapes.reduce((a, s) => a + s[axis]!, 0) : d));
  const n = outShape.reduce((a, b) => a * b, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const idx = unravel(i, outShape);
    let k = 0;
    let pos = idx[axis]!;
    while (pos >= shapes[k]![axis]!) pos -= shapes[k++]![axis]!;
    idx[axis] = pos;
    const st = strides(shapes[k]!);
    out[i] = xs[k]![idx.reduce((a, v, d) => a + v * st[d]!, 0)]!;
  }
  return out;
}
