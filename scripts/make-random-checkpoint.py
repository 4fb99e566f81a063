"""Writes a random-weight checkpoint of Qwen2-VL-2B-Instruct or Qwen2.5-VL-3B-Instruct, and a reference
forward of transformers on it.

The folder is what a person drops or passes to --model: the model's exact config.json
(test/fixtures/model/), weights of its exact names and shapes drawn by transformers' own initialisation,
stored in bf16 and sharded at 4 GB with model.safetensors.index.json as the published checkpoints are,
in the older tensor naming (`model.*`, `visual.*`, as published) or the newer one
(`model.language_model.*`, `model.visual.*`, --names new). The tokenizer is the nano tokenizer's byte-level
BPE with Qwen's special tokens at Qwen's ids (nano id + 151163), so prompts, images and stop tokens work
as with the real tokenizer; the image processor settings are Qwen's defaults.

reference.json then holds one forward of transformers (float32, the bf16 weights widened, as our loader
does) on a prompt with a synthetic image: the input ids, the image processor's pixel_values and grid,
and the log-probs of the prompt's last 16 tokens. `npm run bench -- --only full-size` reads it.

    pip install --index-url file:///opt/pypi/simple --find-links /opt/wheels torch transformers pillow
    python3 scripts/make-random-checkpoint.py --model qwen2-vl-2b --out DIR [--names new] [--seed N]
"""

import argparse
import gc
import json
import math
import os
import time

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = {
    "qwen2-vl-2b": ("qwen2-vl-2b-instruct.config.json", "Qwen2VLForConditionalGeneration"),
    "qwen2.5-vl-3b": ("qwen2_5-vl-3b-instruct.config.json", "Qwen2_5_VLForConditionalGeneration"),
}
SHARD_BYTES = 4 * 10**9
QWEN_SPECIAL_OFFSET = 151163
SCORED_TOKENS = 16


def older_name(name):
    """transformers' module names -> the names the published checkpoints use."""
    if name.startswith("model.language_model."):
        return "model." + name[len("model.language_model.") :]
    if name.startswith("model.visual."):
        return "visual." + name[len("model.visual.") :]
    return name


def newer_name(name):
    if name.startswith("visual."):
        return "model." + name
    if name.startswith("model.") and not name.startswith(("model.language_model.", "model.visual.")):
        return "model.language_model." + name[len("model.") :]
    return name


def write_weights(model, out, names, tied):
    tensors = {}
    for name, t in model.state_dict().items():
        if tied and name == "lm_head.weight":
            continue
        key = newer_name(older_name(name)) if names == "new" else older_name(name)
        tensors[key] = t.detach().to(torch.bfloat16).contiguous()
    shards, current, size = [], {}, 0
    for key in sorted(tensors):
        nbytes = tensors[key].numel() * 2
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[key] = tensors[key]
        size += nbytes
    shards.append(current)
    weight_map = {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, os.path.join(out, file), metadata={"format": "pt"})
        for key in shard:
            weight_map[key] = file
    total = sum(t.numel() * 2 for t in tensors.values())
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    return len(shards), total


def write_tokenizer(out):
    """The nano tokenizer with Qwen's special-token ids."""
    with open(os.path.join(ROOT, "public/nano/tokenizer.json")) as f:
        tok = json.load(f)
    for t in tok["added_tokens"]:
        t["id"] += QWEN_SPECIAL_OFFSET
    with open(os.path.join(out, "tokenizer.json"), "w") as f:
        json.dump(tok, f, ensure_ascii=False)
    with open(os.path.join(ROOT, "public/nano/tokenizer_config.json")) as f:
        cfg = json.load(f)
    cfg["added_tokens_decoder"] = {
        str(int(k) + QWEN_SPECIAL_OFFSET): v for k, v in cfg["added_tokens_decoder"].items()
    }
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=2)
    return {t["content"]: t["id"] for t in tok["added_tokens"]}


def write_processor(out):
    with open(os.path.join(ROOT, "public/nano/preprocessor_config.json")) as f:
        pp = json.load(f)
    pp.update(min_pixels=3136, max_pixels=12845056, size={"shortest_edge": 3136, "longest_edge": 12845056})
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(pp, f, indent=2)


def synthetic_image(width, height):
    from PIL import Image

    img = Image.new("RGB", (width, height))
    px = img.load()
    for y in range(height):
        for x in range(width):
            px[x, y] = (
                int(127.5 + 127.5 * math.sin(x / 5.0)),
                int(127.5 + 127.5 * math.cos(y / 7.0)),
                (x * 3 + y * 5) % 256,
            )
    return img


def reference(out, config_name, special, seed):
    """transformers' float32 forward on the written folder: a prompt with one image and its log-probs."""
    import transformers
    from transformers import Qwen2VLImageProcessor

    cls = getattr(transformers, MODELS[config_name][1])
    model = cls.from_pretrained(out, dtype=torch.float32)
    model.eval()
    processor = Qwen2VLImageProcessor.from_pretrained(out)
    image = synthetic_image(84, 56)
    pix = processor(images=[image], return_tensors="pt")
    grid = pix["image_grid_thw"][0].tolist()
    pads = grid[0] * grid[1] * grid[2] // 4
    g = torch.Generator().manual_seed(seed)
    text = lambda n: torch.randint(0, 480, (n,), generator=g).tolist()
    ids = (
        [special["<|im_start|>"]]
        + text(12)
        + [special["<|vision_start|>"]]
        + [special["<|image_pad|>"]] * pads
        + [special["<|vision_end|>"]]
        + text(24)
    )
    with torch.no_grad():
        logits = model(
            input_ids=torch.tensor([ids]),
            mm_token_type_ids=torch.tensor([[1 if i == special["<|image_pad|>"] else 0 for i in ids]]),
            pixel_values=pix["pixel_values"],
            image_grid_thw=pix["image_grid_thw"],
        ).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)
    first = len(ids) - SCORED_TOKENS
    scored = [logp[t - 1, ids[t]].item() for t in range(first, len(ids))]
    return {
        "recipe": "scripts/make-random-checkpoint.py",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "input_ids": ids,
        "pixel_values": [round(float(x), 7) for x in pix["pixel_values"].flatten().tolist()],
        "pixel_values_shape": list(pix["pixel_values"].shape),
        "image_grid_thw": grid,
        "scored_from": first,
        "logprobs": scored,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=sorted(MODELS), required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--names", choices=["old", "new"], default="old")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reference-only", action="store_true", help="keep the folder's weights; redo reference.json")
    args = ap.parse_args()
    import transformers

    os.makedirs(args.out, exist_ok=True)
    config_file, cls_name = MODELS[args.model]
    with open(os.path.join(ROOT, "test/fixtures/model", config_file)) as f:
        config_json = json.load(f)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(config_json, f, indent=2)
    t0 = time.time()
    if args.reference_only:
        with open(os.path.join(args.out, "model.safetensors.index.json")) as f:
            index = json.load(f)
        shards, total = len(set(index["weight_map"].values())), index["metadata"]["total_size"]
        params = None
    else:
        torch.manual_seed(args.seed)
        config = transformers.AutoConfig.from_pretrained(args.out)
        model = getattr(transformers, cls_name)._from_config(config, dtype=torch.bfloat16)
        tied = config_json.get("tie_word_embeddings", False)
        shards, total = write_weights(model, args.out, args.names, tied)
        params = sum(p.numel() for p in model.parameters())
        del model
        gc.collect()
    special = write_tokenizer(args.out)
    write_processor(args.out)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 151643, "eos_token_id": [151645, 151643], "pad_token_id": 151643}, f)
    written = time.time() - t0
    ref = reference(args.out, args.model, special, args.seed)
    ref.update(model=args.model, names=args.names, seed=args.seed, parameters=params)
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(ref, f)
    print(
        f"{args.model}: {params or 0:,} parameters, {total / 1e9:.2f} GB bf16 in {shards} shard(s) "
        f"({args.names} names) in {written:.0f} s; reference forward over {len(ref['input_ids'])} tokens "
        f"in {time.time() - t0 - written:.0f} s -> {args.out}"
    )


if __name__ == "__main__":
    main()
