# Recipe for test/fixtures/qwen2vl-image/expected.json: the HF Qwen2VLImageProcessor (slow, PIL) pipeline written out with Pillow
# and numpy, run on synthetic images that the TypeScript test regenerates from the same formulas.
# Run: python3 -m venv /tmp/pilenv && /tmp/pilenv/bin/pip install pillow numpy
#      /tmp/pilenv/bin/python scripts/make-qwen2vl-image-fixture.py
#      npx biome check --write test/fixtures/qwen2vl-image/expected.json
import hashlib, json, math, os
import numpy as np
from PIL import Image

MEAN = [0.48145466, 0.4578275, 0.40821073]
STD = [0.26862954, 0.26130258, 0.27577711]


def smart_resize(height, width, factor=28, min_pixels=3136, max_pixels=12845056):
    if max(height, width) / min(height, width) > 200:
        raise ValueError("aspect")
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def pattern(kind, w, h):
    a = np.zeros((h, w, 3), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(3):
                if kind == "noise":
                    v = ((x * 131 + y * 251 + c * 17) ^ (x * y)) & 255
                else:
                    v = (x * 3 + y * 2 + c * 60 + ((x // 7 + y // 5) % 2) * 40) % 256
                a[y, x, c] = v
    return a


def process(arr, min_pixels, max_pixels, patch=14, merge=2, tps=2):
    h, w = arr.shape[:2]
    rh, rw = smart_resize(h, w, patch * merge, min_pixels, max_pixels)
    resized = np.array(Image.fromarray(arr, "RGB").resize((rw, rh), resample=Image.BICUBIC, reducing_gap=None))
    x = (resized.astype(np.float64) * (1 / 255)).astype(np.float32)
    x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
    x = x.transpose(2, 0, 1)[None]
    x = np.tile(x, (tps, 1, 1, 1))
    gt, gh, gw = 1, rh // patch, rw // patch
    x = x.reshape(gt, tps, 3, gh // merge, merge, patch, gw // merge, merge, patch)
    x = x.transpose(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(gt * gh * gw, 3 * tps * patch * patch)
    x = np.ascontiguousarray(x, dtype="<f4")
    return rh, rw, resized, x, [gt, gh, gw]


CASES = [
    ("100x77", 100, 77, "noise", 3136, 12845056),
    ("tiny-10x10", 10, 10, "smooth", 3136, 12845056),
    ("min-37x23", 37, 23, "noise", 3136, 12845056),
    ("wide-2000x40", 2000, 40, "smooth", 3136, 12845056),
    ("tall-30x900", 30, 900, "noise", 3136, 12845056),
    ("max-300x200", 300, 200, "noise", 3136, 28 * 28 * 20),
    ("half-98x70", 98, 70, "smooth", 3136, 12845056),
]

out = {"images": [], "smart_resize": []}
for name, w, h, kind, mn, mx in CASES:
    rh, rw, resized, pv, grid = process(pattern(kind, w, h), mn, mx)
    out["images"].append({
        "name": name, "width": w, "height": h, "pattern": kind, "min_pixels": mn, "max_pixels": mx,
        "resized_height": rh, "resized_width": rw, "grid_thw": grid,
        "resized_sha256": hashlib.sha256(resized.tobytes()).hexdigest(),
        "pixel_values_sha256": hashlib.sha256(pv.tobytes()).hexdigest(),
        "pixel_values_row0_head": [float(v) for v in pv[0, :6]],
        "pixel_values_last_row_tail": [float(v) for v in pv[-1, -6:]],
    })

sizes = [7, 10, 14, 27, 42, 70, 98, 153, 333, 1023, 5000]
for h in sizes:
    for w in sizes:
        for mn, mx in ((3136, 12845056), (3136, 28 * 28 * 20)):
            if max(h, w) / min(h, w) > 200:
                continue
            rh, rw = smart_resize(h, w, 28, mn, mx)
            out["smart_resize"].append([h, w, mn, mx, rh, rw])

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "qwen2vl-image", "expected.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print(path, os.path.getsize(path))
