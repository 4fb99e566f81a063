// libjpeg's "islow" integer inverse DCT (JDCT_ISLOW, the default of libjpeg-turbo and so of Pillow):
// the same 13-bit fixed-point constants, two passes with 2 extra bits kept between them, and the
// same range-limiting table, so that each 8x8 block decodes to exactly libjpeg's samples.

const CONST_BITS = 13;
const PASS1_BITS = 2;

// Round(x * 2^13) of the rotation constants of the Loeffler-Ligtenberg-Moschytz IDCT.
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/**
 * libjpeg's IDCT output table, indexed by (descaled value & 1023): value + 128 clamped to 0..255
 * for -384..383, and wrapping beyond as libjpeg's table does (only corrupt data gets there).
 */
const RANGE_LIMIT = (() => {
  const table = new Uint8Array(1024);
  for (let i = 0; i < 1024; i++) {
    if (i < 128) table[i] = i + 128;
    else if (i < 512) table[i] = 255;
    else if (i < 896) table[i] = 0;
    else table[i] = i - 896;
  }
  return table;
})();

const workspace = new Int32Array(64);

/**
 * Dequantizes and inverse-transforms one block: `coefs` (natural order, from `offset`) times
 * `quant` (natural order), written as 8 rows of 8 samples into `out` at `outOffset`, `stride` apart.
 */
export function idctIslow(
  coefs: Int16Array,
  offset: number,
  quant: Int16Array,
  out: Uint8Array,
  outOffset: number,
  stride: number,
): void {
  const ws = workspace;
  // Pass 1: columns, results scaled up by 2^PASS1_BITS.
  for (let c = 0; c < 8; c++) {
    const p = offset + c;
    const c1 = coefs[p + 8]!;
    const c2 = coefs[p + 16]!;
    const c3 = coefs[p + 24]!;
    const c4 = coefs[p + 32]!;
    const c5 = coefs[p + 40]!;
    const c6 = coefs[p + 48]!;
    const c7 = coefs[p + 56]!;
    if ((c1 | c2 | c3 | c4 | c5 | c6 | c7) === 0) {
      const dc = (coefs[p]! * quant[c]!) << PASS1_BITS;
      for (let r = 0; r < 64; r += 8) ws[c + r] = dc;
      continue;
    }
    let z2 = c2 * quant[c + 16]!;
    let z3 = c6 * quant[c + 48]!;
    let z1 = (z2 + z3) * FIX_0_541196100;
    let tmp2 = z1 - z3 * FIX_1_847759065;
    let tmp3 = z1 + z2 * FIX_0_765366865;
    z2 = coefs[p]! * quant[c]!;
    z3 = c4 * quant[c + 32]!;
    let tmp0 = (z2 + z3) * 8192;
    let tmp1 = (z2 - z3) * 8192;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;

    tmp0 = c7 * quant[c + 56]!;
    tmp1 = c5 * quant[c + 40]!;
    tmp2 = c3 * quant[c + 24]!;
    tmp3 = c1 * quant[c + 8]!;
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;

    const round = 1 << (CONST_BITS - PASS1_BITS - 1);
    const shift = CONST_BITS - PASS1_BITS;
    ws[c] = (tmp10 + tmp3 + round) >> shift;
    ws[c + 56] = (tmp10 - tmp3 + round) >> shift;
    ws[c + 8] = (tmp11 + tmp2 + round) >> shift;
    ws[c + 48] = (tmp11 - tmp2 + round) >> shift;
    ws[c + 16] = (tmp12 + tmp1 + round) >> shift;
    ws[c + 40] = (tmp12 - tmp1 + round) >> shift;
    ws[c + 24] = (tmp13 + tmp0 + round) >> shift;
    ws[c + 32] = (tmp13 - tmp0 + round) >> shift;
  }

  // Pass 2: rows, descaled by 2^(CONST_BITS + PASS1_BITS + 3) and range-limited.
  const shift = CONST_BITS + PASS1_BITS + 3;
  const round = 1 << (shift - 1);
  for (let r = 0; r < 8; r++) {
    const w = r * 8;
    const o = outOffset + r * stride;
    const w1 = ws[w + 1]!;
    const w2 = ws[w + 2]!;
    const w3 = ws[w + 3]!;
    const w4 = ws[w + 4]!;
    const w5 = ws[w + 5]!;
    const w6 = ws[w + 6]!;
    const w7 = ws[w + 7]!;
    if ((w1 | w2 | w3 | w4 | w5 | w6 | w7) === 0) {
      const v = RANGE_LIMIT[((ws[w]! + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3)) & 1023]!;
      for (let i = 0; i < 8; i++) out[o + i] = v;
      continue;
    }
    const w0 = ws[w]!;
    let z1 = (w2 + w6) * FIX_0_541196100;
    let tmp0 = (w0 + w4) * 8192;
    let tmp3 = z1 + w2 * FIX_0_765366865;
    let tmp1 = (w0 - w4) * 8192;
    let tmp2 = z1 - w6 * FIX_1_847759065;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;

    tmp0 = w7;
    tmp1 = w5;
    tmp2 = w3;
    tmp3 = w1;
    z1 = tmp0 + tmp3;
    let z2 = tmp1 + tmp2;
    let z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * FIX_1_175875602;
    tmp0 *= FIX_0_298631336;
    tmp1 *= FIX_2_053119869;
    tmp2 *= FIX_3_072711026;
    tmp3 *= FIX_1_501321110;
    z1 *= -FIX_0_899976223;
    z2 *= -FIX_2_562915447;
    z3 = z3 * -FIX_1_961570560 + z5;
    z4 = z4 * -FIX_0_390180644 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;

    out[o] = RANGE_LIMIT[((tmp10 + tmp3 + round) >> shift) & 1023]!;
    out[o + 7] = RANGE_LIMIT[((tmp10 - tmp3 + round) >> shift) & 1023]!;
    out[o + 1] = RANGE_LIMIT[((tmp11 + tmp2 + round) >> shift) & 1023]!;
    out[o + 6] = RANGE_LIMIT[((tmp11 - tmp2 + round) >> shift) & 1023]!;
    out[o + 2] = RANGE_LIMIT[((tmp12 + tmp1 + round) >> shift) & 1023]!;
    out[o + 5] = RANGE_LIMIT[((tmp12 - tmp1 + round) >> shift) & 1023]!;
    out[o + 3] = RANGE_LIMIT[((tmp13 + tmp0 + round) >> shift) & 1023]!;
    out[o + 4] = RANGE_LIMIT[((tmp13 - tmp0 + round) >> shift) & 1023]!;
  }
}
