// Builds the bytes of a kernel's uniform params struct. Param structs hold only 4-byte scalars, in
// declaration order, so their WGSL layout is the plain sequence padded to 16 bytes.

export class Params {
  private readonly words: number[] = [];
  private readonly kinds: ('u' | 'i' | 'f')[] = [];

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`u32 param out of range: ${v}`);
    return this.push(v, 'u');
  }

  i32(v: number): this {
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31)
      throw new RangeError(`i32 param out of range: ${v}`);
    return this.push(v, 'i');
  }

  f32(v: number): this {
    return this.push(v, 'f');
  }

  private push(v: number, kind: 'u' | 'i' | 'f'): this {
    this.words.push(v);
    this.kinds.push(kind);
    return this;
  }

  bytes(): ArrayBuffer {
    const n = Math.max(4, Math.ceil(this.words.length / 4) * 4);
    const buf = new ArrayBuffer(n * 4);
    const dv = new DataView(buf);
    this.words.forEach((v, i) => {
      const k = this.kinds[i];
      if (k === 'f') dv.setFloat32(i * 4, v, true);
      else if (k === 'i') dv.setInt32(i * 4, v, true);
      else dv.setUint32(i * 4, v, true);
    });
    return buf;
  }
}
