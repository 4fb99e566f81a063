#!/usr/bin/env python3
"""Writes the JPEG fixtures of test/data/jpeg-decode.test.ts to test/fixtures/jpeg/.

Most files are written by Pillow (libjpeg-turbo). A few use sampling factors Pillow cannot write
(4:4:0, 4:1:1, mixed chroma factors, 'R','G','B' component ids); those come from the small baseline
encoder below (float DCT, per-file Huffman tables). Every file's expected pixels are Pillow's
decode: expected.json holds, per file, the size and the sha256 of `img.convert('RGB').tobytes()`
(grayscale files too: R = G = B = L), plus the Pillow and libjpeg-turbo versions.

Run: python3 scripts/make-jpeg-fixtures.py   (needs pillow and numpy)
"""

import hashlib
import io
import json
import struct
from pathlib import Path

import numpy as np
import PIL
import PIL.features
from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "jpeg"
rng = np.random.default_rng(20261124)


def edges(w, h):
    """Saturated colour blocks, stripes and a diagonal: the worst case for chroma upsampling."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.where((x // 5) % 2 == 0, 255, 0)
    img[..., 1] = np.where((y // 3) % 2 == 0, 230, 20)
    img[..., 2] = np.where(x + y < (w + h) // 2, 255, 0)
    img[(x > w // 3) & (x < w // 2)] = (255, 0, 0)
    img[(y > h // 2) & (y < h // 2 + 4)] = (0, 0, 255)
    return img


def noise(w, h):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def smooth(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(x / 7.0) * np.cos(y / 11.0)
    g = 128 + 90 * np.cos((x + y) / 9.0)
    b = 255 * x / max(w - 1, 1)
    return np.clip(np.stack([r, g, b], -1) + rng.normal(0, 6, (h, w, 3)), 0, 255).astype(np.uint8)


def pillow_jpeg(arr, mode="RGB", **opts):
    img = Image.fromarray(arr[..., 0] if mode == "L" else arr, mode)
    buf = io.BytesIO()
    img.save(buf, "JPEG", **opts)
    return buf.getvalue()


# --- A small baseline encoder for sampling factors Pillow cannot write. -------------------------

ZIGZAG = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34,
          27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44,
          51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63]
_k = np.arange(8)
DCT = np.sqrt(2 / 8) * np.cos((2 * _k[None, :] + 1) * _k[:, None] * np.pi / 16)
DCT[0] /= np.sqrt(2)


def nbits(v):
    return int(abs(v)).bit_length()


def encode_custom(arr, factors, ids=(1, 2, 3), ycc=True, jfif=True, quality_q=6, restart=0):
    """Baseline JPEG of an RGB array with per-component (h, v) factors; quant table = flat q."""
    h, w, _ = arr.shape
    a = arr.astype(np.float64)
    if ycc:
        y = 0.299 * a[..., 0] + 0.587 * a[..., 1] + 0.114 * a[..., 2]
        cb = -0.168736 * a[..., 0] - 0.331264 * a[..., 1] + 0.5 * a[..., 2] + 128
        cr = 0.5 * a[..., 0] - 0.418688 * a[..., 1] - 0.081312 * a[..., 2] + 128
        planes = [y, cb, cr]
    else:
        planes = [a[..., 0], a[..., 1], a[..., 2]]
    hmax = max(f[0] for f in factors)
    vmax = max(f[1] for f in factors)
    mcux, mcuy = -(-w // (8 * hmax)), -(-h // (8 * vmax))
    comps = []
    for plane, (hf, vf) in zip(planes, factors):
        sx, sy = hmax // hf, vmax // vf
        pw, ph = mcux * 8 * hmax, mcuy * 8 * vmax
        full = np.pad(plane, ((0, ph - h), (0, pw - w)), mode="edge")
        sub = full.reshape(ph // sy, sy, pw // sx, sx).mean(axis=(1, 3))
        comps.append(sub)
    q = np.full(64, quality_q, np.int64)
    q[0] = 4
    tokens = []  # (table kind 'dc'/'ac', comp index, symbol, value, size) or ('rst', n)
    preds = [0, 0, 0]
    mcu_count = 0
    for my in range(mcuy):
        for mx in range(mcux):
            if restart and mcu_count and mcu_count % restart == 0:
                tokens.append(("rst", (mcu_count // restart - 1) % 8))
                preds = [0, 0, 0]
            mcu_count += 1
            for ci, (hf, vf) in enumerate(factors):
                for by in range(vf):
                    for bx in range(hf):
                        r0, c0 = (my * vf + by) * 8, (mx * hf + bx) * 8
                        blk = comps[ci][r0:r0 + 8, c0:c0 + 8] - 128
                        coef = (DCT @ blk @ DCT.T).reshape(64)
                        qz = np.round(coef / q).astype(np.int64)
                        zz = [int(qz[ZIGZAG[i]]) for i in range(64)]
                        diff = zz[0] - preds[ci]
                        preds[ci] = zz[0]
                        tokens.append(("dc", ci, nbits(diff), diff, nbits(diff)))
                        run = 0
                        last = max([i for i in range(1, 64) if zz[i]] or [0])
                        for i in range(1, last + 1):
                            if zz[i] == 0:
                                run += 1
                                continue
                            while run > 15:
                                tokens.append(("ac", ci, 0xF0, 0, 0))
                                run -= 16
                            s = nbits(zz[i])
                            tokens.append(("ac", ci, (run << 4) | s, zz[i], s))
                            run = 0
                        if last < 63:
                            tokens.append(("ac", ci, 0x00, 0, 0))
    # One DC and one AC table per component (ids 0..2): fixed-length canonical codes.
    tables = {}
    for kind in ("dc", "ac"):
        for ci in range(3):
            syms = sorted({t[2] for t in tokens if t[0] == kind and t[1] == ci})
            length = max(1, (len(syms)).bit_length())  # leaves the all-ones code unused
            tables[(kind, ci)] = (length, syms, {s: (i, length) for i, s in enumerate(syms)})
    out = bytearray(b"\xff\xd8")

    def seg(marker, payload):
        out.extend(struct.pack(">BBH", 0xFF, marker, len(payload) + 2))
        out.extend(payload)

    if jfif:
        seg(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    seg(0xDB, bytes([0]) + bytes(int(q[ZIGZAG[i]]) for i in range(64)))
    sof = struct.pack(">BHHB", 8, h, w, 3)
    for ci, (hf, vf) in enumerate(factors):
        sof += bytes([ids[ci], (hf << 4) | vf, 0])
    seg(0xC0, sof)
    for (kind, ci), (length, syms, _) in tables.items():
        counts = [0] * 16
        counts[length - 1] = len(syms)
        seg(0xC4, bytes([(0 if kind == "dc" else 0x10) | ci]) + bytes(counts) + bytes(syms))
    if restart:
        seg(0xDD, struct.pack(">H", restart))
    sos = bytes([3])
    for ci in range(3):
        sos += bytes([ids[ci], (ci << 4) | ci])
    seg(0xDA, sos + bytes([0, 63, 0]))
    acc, nacc = 0, 0

    def put(code, n):
        nonlocal acc, nacc
        acc, nacc = (acc << n) | code, nacc + n
        while nacc >= 8:
            byte = (acc >> (nacc - 8)) & 0xFF
            out.append(byte)
            if byte == 0xFF:
                out.append(0)
            nacc -= 8
        acc &= (1 << nacc) - 1

    def flush():
        nonlocal acc, nacc
        if nacc:
            put((1 << (8 - nacc)) - 1, 8 - nacc)

    for t in tokens:
        if t[0] == "rst":
            flush()
            out.extend(bytes([0xFF, 0xD0 + t[1]]))
            continue
        kind, ci, sym, val, size = t
        code, length = tables[(kind, ci)][2][sym]
        put(code, length)
        if size:
            put(val if val >= 0 else val + (1 << size) - 1, size)
    flush()
    out.extend(b"\xff\xd9")
    return bytes(out)


def adobe_patch(data, transform):
    """Inserts an Adobe APP14 marker with the given transform flag after SOI."""
    app14 = b"Adobe" + struct.pack(">HHHB", 100, 0, 0, transform)
    return data[:2] + struct.pack(">BBH", 0xFF, 0xEE, len(app14) + 2) + app14 + data[2:]


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    files = {
        "q90-420-edges-64x48.jpg": pillow_jpeg(edges(64, 48), quality=90, subsampling="4:2:0"),
        "q90-422-edges-64x48.jpg": pillow_jpeg(edges(64, 48), quality=90, subsampling="4:2:2"),
        "q90-444-edges-64x48.jpg": pillow_jpeg(edges(64, 48), quality=90, subsampling="4:4:4"),
        "q50-420-noise-48x40.jpg": pillow_jpeg(noise(48, 40), quality=50, subsampling="4:2:0"),
        "q95-420-noise-40x32.jpg": pillow_jpeg(noise(40, 32), quality=95, subsampling="4:2:0"),
        "q95-444-noise-24x24.jpg": pillow_jpeg(noise(24, 24), quality=95, subsampling="4:4:4"),
        "q75-420-smooth-96x80.jpg": pillow_jpeg(smooth(96, 80), quality=75),
        "gray-q85-40x30.jpg": pillow_jpeg(smooth(40, 30), "L", quality=85),
        "gray-progressive-37x21.jpg": pillow_jpeg(smooth(37, 21), "L", quality=80, progressive=True),
        "progressive-420-edges-64x48.jpg": pillow_jpeg(edges(64, 48), quality=90, progressive=True),
        "progressive-444-smooth-50x34.jpg": pillow_jpeg(
            smooth(50, 34), quality=80, subsampling="4:4:4", progressive=True),
        "progressive-420-noise-q50-33x65.jpg": pillow_jpeg(
            noise(33, 65), quality=50, subsampling="4:2:0", progressive=True),
        "restart-blocks-420-smooth-64x40.jpg": pillow_jpeg(
            smooth(64, 40), quality=85, restart_marker_blocks=3),
        "restart-rows-422-edges-50x30.jpg": pillow_jpeg(
            edges(50, 30), quality=85, subsampling="4:2:2", restart_marker_rows=1),
        "restart-progressive-420-smooth-40x40.jpg": pillow_jpeg(
            smooth(40, 40), quality=85, progressive=True, restart_marker_blocks=2),
        "optimized-420-edges-41x23.jpg": pillow_jpeg(edges(41, 23), quality=88, optimize=True),
        "odd-420-1x1.jpg": pillow_jpeg(np.array([[[200, 30, 90]]], np.uint8), quality=90),
        "odd-420-2x2.jpg": pillow_jpeg(edges(2, 2), quality=90),
        "odd-420-3x5.jpg": pillow_jpeg(edges(3, 5), quality=90),
        "odd-420-17x9.jpg": pillow_jpeg(edges(17, 9), quality=90),
        "odd-422-33x65.jpg": pillow_jpeg(smooth(33, 65), quality=90, subsampling="4:2:2"),
        "odd-420-250x7.jpg": pillow_jpeg(edges(250, 7), quality=90),
        "odd-444-17x9.jpg": pillow_jpeg(edges(17, 9), quality=90, subsampling="4:4:4"),
        "rgb-adobe0-keep-rgb-30x20.jpg": pillow_jpeg(edges(30, 20), quality=90, keep_rgb=True),
        "custom-440-edges-40x32.jpg": encode_custom(edges(40, 32), [(1, 2), (1, 1), (1, 1)]),
        "custom-440-odd-13x11.jpg": encode_custom(edges(13, 11), [(1, 2), (1, 1), (1, 1)]),
        "custom-411-edges-70x20.jpg": encode_custom(edges(70, 20), [(4, 1), (1, 1), (1, 1)]),
        "custom-mixed-h2v2-edges-35x27.jpg": encode_custom(
            edges(35, 27), [(2, 2), (1, 2), (2, 1)], restart=2),
        "custom-rgb-ids-22x14.jpg": encode_custom(
            edges(22, 14), [(1, 1), (1, 1), (1, 1)], ids=(82, 71, 66), ycc=False, jfif=False),
        "custom-adobe1-420-24x18.jpg": adobe_patch(
            encode_custom(smooth(24, 18), [(2, 2), (1, 1), (1, 1)], jfif=False), 1),
    }
    expected = {
        "pillow": PIL.__version__,
        "libjpeg_turbo": PIL.features.version("libjpeg_turbo"),
        "pixels": "sha256 of Image.open(f).convert('RGB').tobytes(): RGB, 3 bytes a pixel, rows top"
        " to bottom; grayscale files are converted too (R = G = B = L)",
        "files": {},
    }
    for name, data in sorted(files.items()):
        (OUT / name).write_bytes(data)
        img = Image.open(io.BytesIO(data))
        img.load()
        rgb = img.convert("RGB").tobytes()
        expected["files"][name] = {
            "width": img.width,
            "height": img.height,
            "mode": img.mode,
            "sha256": hashlib.sha256(rgb).hexdigest(),
        }
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(files)} files, {total} bytes in all")


if __name__ == "__main__":
    main()
