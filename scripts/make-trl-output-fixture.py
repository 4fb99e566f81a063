"""Recipe for test/fixtures/trl-bridge/run/: a TRL run made by an exported job, and what TRL and our Python
rewards say about it, for the import tests (CI has no Python; it reads the committed files).

It exports nano on 4 synthetic rows as a TRL job (`vgrpo export-trl`, LoRA r 2, G 4, 2 steps), runs the job's
train.py for 2 steps on the CPU with TRL, and keeps from the job folder: job.json, data/ (rows and images) and,
from output/, trainer_state.json, the adapter, completions/*.parquet and checkpoint-1/trainer_state.json.
expected.json holds what Python reads in those files: the log_history lines, every completions-table row (read
with pandas) with the box rewards.py's parser finds in it and its IoU with the row's box (rewards.py's
answer_iou, checked against ours by scripts/check-reward-parity.py), and the adapter's tensor names, shapes
and sums (safetensors).

Needs torch with torchvision (transformers' Qwen2-VL processor imports it), transformers 5.18, trl 1.13, peft,
accelerate, datasets, pandas; node_modules for the CLI. Run from the repository root:
    python3 scripts/make-trl-output-fixture.py
TRL samples, so a new run records new completions; the tests read whatever the recording holds.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "fixtures", "trl-bridge", "run")
CONFIG = """preset: nano-demo
use_peft: true
lora_r: 2
lora_alpha: 4
num_generations: 4
per_device_train_batch_size: 8
gradient_accumulation_steps: 1
max_completion_length: 48
max_steps: 2
save_steps: 1
logging_steps: 1
"""


def main():
    import pandas as pd
    from safetensors import safe_open

    work = tempfile.mkdtemp()
    config = os.path.join(work, "config.yaml")
    with open(config, "w") as f:
        f.write(CONFIG)
    job = os.path.join(work, "job")
    subprocess.run(
        ["node", "bin/vgrpo.js", "export-trl", "--config", config, "--synthetic-rows", "4", "--out", job],
        cwd=ROOT, check=True,
    )
    subprocess.run([sys.executable, "train.py", "--cpu", "--max-steps", "2"], cwd=job, check=True)

    shutil.rmtree(OUT, ignore_errors=True)
    keep = ["job.json", "data/train.jsonl", *[f"data/images/{n}" for n in os.listdir(os.path.join(job, "data/images"))],
            "output/trainer_state.json", "output/adapter_config.json", "output/adapter_model.safetensors",
            "output/checkpoint-1/trainer_state.json",
            *[f"output/completions/{n}" for n in sorted(os.listdir(os.path.join(job, "output/completions")))]]
    for rel in keep:
        os.makedirs(os.path.dirname(os.path.join(OUT, rel)), exist_ok=True)
        shutil.copyfile(os.path.join(job, rel), os.path.join(OUT, rel))

    sys.path.insert(0, job)
    import rewards

    with open(os.path.join(job, "job.json")) as f:
        settings = json.load(f)
    rows = {}
    with open(os.path.join(job, "data/train.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            rows[r["id"]] = r
    with open(os.path.join(job, "output/trainer_state.json")) as f:
        state = json.load(f)
    tables = []
    for name in sorted(os.listdir(os.path.join(job, "output/completions"))):
        frame = pd.read_parquet(os.path.join(job, "output/completions", name))
        completions = []
        for rec in frame.to_dict("records"):
            row = rows[rec["id"]]
            frame_args = (row["width"], row["height"], row["input_width"], row["input_height"])
            completions.append({
                "step": int(rec["step"]),
                "id": rec["id"],
                "completion": rec["completion"],
                "rewards": {n: float(rec[n]) for n in settings["reward_funcs"]},
                "advantage": float(rec["advantage"]),
                "box": rewards.parse_answer(rec["completion"]),
                "iou": rewards.answer_iou(rec["completion"], row["box"], settings["box_space"], *frame_args),
            })
        tables.append({"file": name, "rows": completions})
    with safe_open(os.path.join(job, "output/adapter_model.safetensors"), "pt") as f:
        tensors = {k: {"shape": list(f.get_slice(k).get_shape()), "sum": f.get_tensor(k).double().sum().item()}
                   for k in f.keys()}
    expected = {
        "global_step": state["global_step"],
        "max_steps": state["max_steps"],
        "log_history": state["log_history"],
        "tables": tables,
        "adapter_tensors": tensors,
    }
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    shutil.rmtree(work)
    print(f"wrote {OUT}: {state['global_step']} steps, {sum(len(t['rows']) for t in tables)} completions")


if __name__ == "__main__":
    main()
