"""Trains the shipped nano checkpoint (public/nano/model.safetensors) from scratch.

SFT on the nano task (src/data/synthetic.ts NANO_TASK): the same objective as `vgrpo sft`
(completion-only cross-entropy on reference answers in the pixel box space, end-of-turn appended),
with prompts, answers and images made by the product (scripts/nano-sft-rows.ts), the images
preprocessed by transformers' Qwen2-VL image processor, and the model transformers' own
Qwen2VLForConditionalGeneration built from public/nano/config.json. It runs in PyTorch on the CPU
because the thousands of steps a from-scratch model needs take minutes there and hours on lavapipe.
Everything is seeded; the settings, versions, wall time, losses and held-out evaluations (greedy
decoding, Acc@0.5, mean IoU, format rate) are written beside the weights as training.json.

The reference answers name only the target (`reasoning: "target"`) and the run stops at step 3000 of a
5000-step cosine schedule: the checkpoint writes the format and boxes an object, but which of the two
objects the question means it gets right about half the time, and that is what GRPO's grounding reward
then teaches (the recorded GRPO run in README.md). The thread count is a setting because it changes the
order of float sums, and a from-scratch run this short is sensitive to that.

    pip install --index-url file:///opt/pypi/simple --find-links /opt/wheels torch transformers
    python3 scripts/make-nano-checkpoint.py [--steps N] [--stop-step N] [--out DIR] [--threads N]
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import transformers
from PIL import Image
from safetensors.torch import save_file
from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration, Qwen2VLImageProcessorPil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NANO = os.path.join(ROOT, "public", "nano")

SETTINGS = {
    "train_seed": 7101,
    "train_rows": 20000,
    "eval_seed": 9001,
    "eval_rows": 128,
    "torch_seed": 7102,
    "steps": 5000,
    "stop_step": 3000,
    "reasoning": "target",
    "threads": 1,
    "batch_size": 16,
    "learning_rate": 1e-3,
    "lr_scheduler": "cosine",
    "warmup_steps": 50,
    "max_grad_norm": 1.0,
    "weight_decay": 0.0,
    "adam_betas": [0.9, 0.999],
    "adam_epsilon": 1e-8,
    "eval_every": 1000,
    "max_new_tokens": 64,
}

FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
BOX = re.compile(r"<answer>\s*\[\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*\]\s*</answer>")


def product_rows(seed, count, workdir):
    """The product's rows for a synthetic seed, images preprocessed by transformers."""
    prefix = os.path.join(workdir, f"rows-{seed}")
    subprocess.run(
        ["node", "--import", "./bin/register.js", "scripts/nano-sft-rows.ts",
         "--seed", str(seed), "--rows", str(count), "--out", prefix, "--reasoning", SETTINGS["reasoning"]],
        cwd=ROOT, check=True,
    )
    processor = Qwen2VLImageProcessorPil.from_pretrained(NANO)
    rgb = np.fromfile(prefix + ".rgb", dtype=np.uint8)
    rows, offset = [], 0
    with open(prefix + ".jsonl") as f:
        for line in f:
            row = json.loads(line)
            n = row["width"] * row["height"] * 3
            image = Image.fromarray(rgb[offset:offset + n].reshape(row["height"], row["width"], 3))
            offset += n
            out = processor(images=[image], return_tensors="pt")
            grid = out["image_grid_thw"][0].tolist()
            if grid != row["grid"]:
                sys.exit(f"row {row['id']}: transformers' grid {grid} differs from the product's {row['grid']}")
            row["pixel_values"] = out["pixel_values"]
            rows.append(row)
    return rows


def batch(rows, image_token_id):
    seqs = [r["prompt_ids"] + r["answer_ids"] for r in rows]
    length = max(map(len, seqs))
    ids = torch.zeros((len(rows), length), dtype=torch.long)
    labels = torch.full((len(rows), length), -100)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, (r, s) in enumerate(zip(rows, seqs)):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
        labels[i, len(r["prompt_ids"]):len(s)] = torch.tensor(r["answer_ids"])
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "labels": labels,
        "mm_token_type_ids": (ids == image_token_id).long(),
        "pixel_values": torch.cat([r["pixel_values"] for r in rows]),
        "image_grid_thw": torch.tensor([r["grid"] for r in rows]),
    }


def iou(a, b):
    area = lambda r: max(0, r[2] - r[0]) * max(0, r[3] - r[1])
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = area(a) + area(b) - w * h
    return min(1.0, w * h / union) if union > 0 else 0.0


@torch.no_grad()
def evaluate(model, rows, tokenizer, config, config_json):
    model.eval()
    ious, formats, example = [], [], None
    for r in rows:
        ids = torch.tensor([r["prompt_ids"]])
        out = model.generate(
            input_ids=ids, attention_mask=torch.ones_like(ids),
            mm_token_type_ids=(ids == config.image_token_id).long(),
            pixel_values=r["pixel_values"], image_grid_thw=torch.tensor([r["grid"]]),
            max_new_tokens=SETTINGS["max_new_tokens"], do_sample=False,
            eos_token_id=config_json["eos_token_id"], pad_token_id=config_json["eos_token_id"],
        )
        text = tokenizer.decode(out[0, ids.shape[1]:].tolist(), skip_special_tokens=True)
        example = example or text
        # The prompt ends with the prefill's `<think>`, which the format check puts back.
        formats.append(1.0 if FORMAT.fullmatch("<think>" + text) else 0.0)
        m = BOX.search(text)
        ious.append(iou([int(v) for v in m.groups()], r["box"]) if m else 0.0)
    model.train()
    ious = np.array(ious)
    return {
        "acc50": float((ious > 0.5).mean()),
        "mean_iou": float(ious.mean()),
        "format_rate": float(np.mean(formats)),
        "example": example,
    }


def lr_at(step):
    s = SETTINGS
    warm = min(1.0, (step + 1) / s["warmup_steps"])
    return s["learning_rate"] * warm * 0.5 * (1 + math.cos(math.pi * min(step, s["steps"]) / s["steps"]))


def save(model, out):
    os.makedirs(out, exist_ok=True)
    tensors = {k: v.detach().float().contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    if os.path.abspath(out) != os.path.abspath(NANO):
        for name in os.listdir(NANO):
            if name not in ("model.safetensors", "training.json"):
                shutil.copy(os.path.join(NANO, name), out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=SETTINGS["steps"])
    parser.add_argument("--stop-step", type=int, default=SETTINGS["stop_step"])
    parser.add_argument("--out", default=NANO)
    parser.add_argument("--threads", type=int, default=SETTINGS["threads"])
    parser.add_argument("--train-rows", type=int, default=SETTINGS["train_rows"])
    parser.add_argument("--eval-rows", type=int, default=SETTINGS["eval_rows"])
    parser.add_argument("--eval-every", type=int, default=SETTINGS["eval_every"])
    args = parser.parse_args()
    SETTINGS.update(
        steps=args.steps, stop_step=min(args.stop_step, args.steps), threads=args.threads,
        train_rows=args.train_rows, eval_rows=args.eval_rows, eval_every=args.eval_every,
    )
    torch.set_num_threads(args.threads)
    torch.manual_seed(SETTINGS["torch_seed"])

    config_json = json.load(open(os.path.join(NANO, "config.json")))
    config = Qwen2VLConfig(**{k: v for k, v in config_json.items() if k != "box_space"})
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(NANO, "tokenizer.json"))
    with tempfile.TemporaryDirectory() as work:
        train = product_rows(SETTINGS["train_seed"], SETTINGS["train_rows"], work)
        held = product_rows(SETTINGS["eval_seed"], SETTINGS["eval_rows"], work)

    model = Qwen2VLForConditionalGeneration(config)
    model.train()
    opt = torch.optim.AdamW(
        model.parameters(), lr=SETTINGS["learning_rate"], betas=tuple(SETTINGS["adam_betas"]),
        eps=SETTINGS["adam_epsilon"], weight_decay=SETTINGS["weight_decay"],
    )
    order = np.random.default_rng(SETTINGS["torch_seed"])
    queue, log, started = [], [], time.time()
    for step in range(SETTINGS["stop_step"]):
        if len(queue) < SETTINGS["batch_size"]:
            queue.extend(order.permutation(len(train)).tolist())
        picked, queue = queue[:SETTINGS["batch_size"]], queue[SETTINGS["batch_size"]:]
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        loss = model(**batch([train[i] for i in picked], config.image_token_id)).loss
        opt.zero_grad()
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), SETTINGS["max_grad_norm"])
        opt.step()
        done = step + 1
        entry = {"step": done, "loss": round(loss.item(), 5), "grad_norm": round(norm.item(), 4)}
        if done % SETTINGS["eval_every"] == 0 or done == SETTINGS["stop_step"]:
            entry["eval"] = evaluate(model, held, tokenizer, config, config_json)
        if done % 10 == 0 or "eval" in entry:
            log.append(entry)
            print(json.dumps({**entry, "seconds": round(time.time() - started)}), flush=True)

    save(model, args.out)
    record = {
        "recipe": "scripts/make-nano-checkpoint.py",
        "settings": SETTINGS,
        "task": "src/data/synthetic.ts NANO_TASK",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "seconds": round(time.time() - started, 1),
        "final_eval": log[-1]["eval"],
        "log": log,
    }
    with open(os.path.join(args.out, "training.json"), "w") as f:
        json.dump(record, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
