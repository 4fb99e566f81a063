# Recipe for test/fixtures/hf-datasets/: a small grounding dataset written by the real HF `datasets`
# library (save_to_disk of a DatasetDict, and to_parquet of its train split), plus expected.json: what
# `datasets` itself decodes from them (image sizes after its EXIF transpose, RGBA pixels), for the
# tests of our Arrow and Parquet readers.
# Run: python3 -m venv /tmp/hfenv && /tmp/hfenv/bin/pip install datasets pillow
#      /tmp/hfenv/bin/python scripts/make-hf-dataset-fixtures.py
#      npx biome check --write test/fixtures/hf-datasets/expected.json
import hashlib, io, json, os, shutil

import datasets
from datasets import Dataset, DatasetDict, Features, Image, List, Value
from PIL import Image as PImage

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "hf-datasets")


def png(w, h, seed, mode="RGB"):
    img = PImage.new(mode, (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            rgb = ((x * 11 + seed * 40) % 256, (y * 17 + seed * 7) % 256, (x * y + seed) % 256)
            px[x, y] = rgb + ((x * 29 + y * 3) % 256,) if mode == "RGBA" else rgb
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def jpeg_with_orientation(w, h, orientation):
    img = PImage.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (255 if x < w // 2 else 30, 200 if y < h // 2 else 40, 90)
    exif = PImage.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90, exif=exif.tobytes())
    return buf.getvalue()


# (image bytes, stored name, question, box in pixels of the image as displayed)
ROWS = [
    (png(24, 16, 0), "a.png", "Where is the first square?", [2.0, 3.0, 20.0, 14.0]),
    (png(30, 20, 1), "b.png", "Where is the second square?", [0.0, 0.0, 15.5, 10.25]),
    (png(17, 29, 2), "c.png", "Where is the tall one?", [4.0, 5.0, 12.0, 28.0]),
    (png(21, 13, 3, "RGBA"), "d.png", "Where is the see-through one?", [1.0, 1.0, 20.0, 12.0]),
    (jpeg_with_orientation(20, 12, 6), "e.jpg", "Where is the turned photo?", [1.0, 2.0, 11.0, 19.0]),
    (png(26, 18, 5), "f.png", "Where is the one just over the edge?", [0.0, 0.0, 27.0, 18.0]),
    (png(22, 14, 6), "g.png", "Where is the one far outside?", [5.0, 5.0, 60.0, 14.0]),
    (png(19, 11, 7), "h.png", "", [1.0, 1.0, 9.0, 9.0]),
]
TEST_ROWS = [
    (png(16, 16, 8), "t0.png", "Where is the test square?", [2.0, 2.0, 14.0, 14.0]),
    (png(18, 12, 9), "t1.png", "Where is the other test square?", [3.0, 1.0, 15.0, 11.0]),
]

FEATURES = Features(
    {
        "image": Image(),
        "question": Value("string"),
        "answer": Value("string"),
        "width": Value("int64"),
        "height": Value("int64"),
        "bboxs": List(List(Value("float64"))),
        "dataset": Value("string"),
    }
)


def displayed_size(data):
    img = Image().decode_example({"bytes": data, "path": None})  # the datasets decode (EXIF transpose)
    return img.size


def columns(rows):
    out = {k: [] for k in FEATURES}
    for data, name, question, box in rows:
        w, h = displayed_size(data)
        out["image"].append({"bytes": data, "path": name})
        out["question"].append(question)
        out["answer"].append(f"<answer>{json.dumps([round(v) for v in box])}</answer>")
        out["width"].append(w)
        out["height"].append(h)
        out["bboxs"].append([box])
        out["dataset"].append("fixture")
    return out


def expected(ds):
    raw = ds.cast_column("image", Image(decode=False))
    rows = []
    for i in range(len(ds)):
        r = ds[i]
        img = r["image"]
        is_jpeg = raw[i]["image"]["bytes"][:2] == b"\xff\xd8"
        rgba = img.convert("RGBA").tobytes()
        rows.append(
            {
                "row": i,
                "question": r["question"],
                "width": img.size[0],
                "height": img.size[1],
                "bboxs": r["bboxs"],
                "format": "JPEG" if is_jpeg else "PNG",
                "rgba_sha256": hashlib.sha256(rgba).hexdigest(),
            }
        )
    return rows


def main():
    if os.path.exists(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    train = Dataset.from_dict(columns(ROWS), features=FEATURES)
    test = Dataset.from_dict(columns(TEST_ROWS), features=FEATURES)
    DatasetDict({"train": train, "test": test}).save_to_disk(os.path.join(OUT, "saved"))
    train.to_parquet(os.path.join(OUT, "train-00000-of-00001.parquet"))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(
            {
                "datasets_version": datasets.__version__,
                "train": expected(train),
                "test": expected(test),
            },
            f,
            indent=1,
        )


if __name__ == "__main__":
    main()
