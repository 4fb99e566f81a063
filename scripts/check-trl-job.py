"""Checks a TRL job folder written by `vgrpo export-trl` against TRL itself (not CI: CI has no Python):
job.json's settings are accepted by TRL's GRPOConfig and peft's LoraConfig as they are, the dataset
loads the way train.py loads it (images decoded, prompts built with the assistant prefill), the
processor's chat template ends the prompt in the prefill (the same text when TRL generates and when it
scores), and the reward functions score the dataset's own ground truth in the model's box space as full
marks. Then, when torchvision imports (transformers' Qwen2-VL processor needs it), it runs train.py for 2
steps on the CPU, checks that the metrics TRL logged carry the names our trainer logs, and reads the run
back with `vgrpo import-trl` (node_modules needed).

    pip install -r JOB/requirements.txt        # or the local mirror's torch, transformers, trl, peft, datasets
    python3 scripts/check-trl-job.py JOB [--steps 2]
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, os.path.dirname(path))
    spec.loader.exec_module(module)
    return module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("job")
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()
    job_dir = os.path.abspath(args.job)
    with open(os.path.join(job_dir, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    if os.path.isdir(os.path.join(job_dir, job["model"])):
        job["model"] = os.path.join(job_dir, job["model"])

    from peft import LoraConfig
    from trl import GRPOConfig

    config = GRPOConfig(output_dir=os.path.join(job_dir, "check-output"), use_cpu=True, bf16=False, **job["grpo_config"])
    for key, value in job["grpo_config"].items():
        if value is None:  # TRL derives it (generation_batch_size, steps_per_generation, ...)
            continue
        got = getattr(config, key)
        if hasattr(got, "value"):
            got = got.value
        assert got == value or (isinstance(value, float) and abs(got - value) < 1e-12), (key, got, value)
    if job["lora"]:
        LoraConfig(task_type="CAUSAL_LM", r=job["lora"]["r"], lora_alpha=job["lora"]["lora_alpha"],
                   lora_dropout=job["lora"]["lora_dropout"], target_modules=job["lora"]["target_modules"])
    print(f"GRPOConfig takes all {len(job['grpo_config'])} settings as they are; LoraConfig: {bool(job['lora'])}")

    train = load(os.path.join(job_dir, "train.py"), "train")
    rewards = load(os.path.join(job_dir, "rewards.py"), "rewards")
    from datasets import Image, load_dataset

    dataset = load_dataset("json", data_files=os.path.join(job_dir, "data", "train.jsonl"), split="train")
    dataset = dataset.map(lambda row: {"prompt": train.prompt_of(row, job), "image": os.path.join(job_dir, "data", row["image"])})
    dataset = dataset.cast_column("image", Image())
    first = dataset[0]
    assert first["image"].size == (first["width"], first["height"]), (first["image"].size, first["width"])

    # The prompt as TRL renders it to generate, and as it renders it to score: both end in the prefill,
    # with the same text (TRL 1.13 renders a final assistant message differently in the two).
    from trl.data_utils import apply_chat_template

    processor = train.load_processor(job)
    generated = processor.apply_chat_template(first["prompt"], tokenize=False, add_generation_prompt=True)
    scored = apply_chat_template({"prompt": first["prompt"]}, processor)["prompt"]
    assert generated == scored, (generated[-80:], scored[-80:])
    assert generated.endswith("<|im_start|>assistant\n" + job["prefill"]), generated[-80:]
    print(f"{len(dataset)} rows load with their images; the prompt ends in the prefill: {generated[-60:]!r}")

    funcs = rewards.make_rewards(iou_threshold=job["iou_threshold"], prefill=job["prefill"],
                                 box_space=job["box_space"], answer_form=job["answer_form"])
    cols = {k: dataset[k] for k in ("box", "width", "height", "input_width", "input_height")}

    def written(row):
        x1, y1, x2, y2 = row["box"]
        sx, sy = {
            "pixels": (1, 1),
            "input-pixels": (row["input_width"] / row["width"], row["input_height"] / row["height"]),
            "norm1000": (1000 / row["width"], 1000 / row["height"]),
            "norm1": (1 / row["width"], 1 / row["height"]),
        }[job["box_space"]]
        return f" ok</think><answer>[{x1 * sx}, {y1 * sy}, {x2 * sx}, {y2 * sy}]</answer>"

    completions = [[{"role": "assistant", "content": written(row)}] for row in dataset]
    scores = {name: funcs[name](completions, **cols) for name in job["reward_funcs"] if name in funcs}
    for name, values in scores.items():
        assert min(values) > 0.999, (name, min(values))
    print(f"the ground truth written in {job['box_space']} scores 1 on {', '.join(scores)}")

    if importlib.util.find_spec("torchvision") is None:
        print("train.py not run: torchvision is not installed (transformers' Qwen2-VL processor imports it)")
        return 0
    out = os.path.join(job_dir, "check-output")
    subprocess.run([sys.executable, "train.py", "--cpu", "--max-steps", str(args.steps), "--output-dir", out],
                   cwd=job_dir, check=True)
    state = json.load(open(os.path.join(out, "checkpoint-%d" % args.steps, "trainer_state.json")))
    logged = set().union(*(set(entry) for entry in state["log_history"]))
    ours = {"loss", "reward", "reward_std", "grad_norm", "learning_rate", "completions/mean_length"}
    ours |= {f"rewards/{name}/mean" for name in job["reward_funcs"]}
    missing = ours - logged
    assert not missing, f"TRL did not log {sorted(missing)}"
    print(f"train.py ran {args.steps} steps; TRL logged {len(logged)} names, ours among them")

    # Back into ours: vgrpo import-trl reads the output folder with the job around it.
    imported = os.path.join(job_dir, "check-import")
    subprocess.run(["node", os.path.join(ROOT, "bin", "vgrpo.js"), "import-trl", out, "--out", imported],
                   cwd=ROOT, check=True)
    metrics = [json.loads(line) for line in open(os.path.join(imported, "metrics.jsonl"))]
    samples = [json.loads(line) for line in open(os.path.join(imported, "samples.jsonl"))]
    assert [m["step"] for m in metrics] == list(range(1, args.steps + 1)), [m["step"] for m in metrics]
    assert all(m[name] == e[name] for m, e in zip(metrics, state["log_history"]) for name in ours)
    completions = [c for s in samples for c in s["completions"]]
    assert completions and all(set(c["rewards"]) == set(job["reward_funcs"]) for c in completions)
    assert os.path.exists(os.path.join(imported, "adapter", "adapter_model.safetensors")) or not job["lora"]
    print(f"vgrpo import-trl read it back: {len(metrics)} logged steps, {len(completions)} completions"
          f"{', the adapter' if job['lora'] else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
