"""GRPO with TRL's GRPOTrainer on the run exported by vision-grpo: the settings in job.json (GRPOConfig's
own names and values), LoRA through peft with the same r, alpha, dropout and target modules, the same
prompts (system message, the user's image and question, the assistant prefill the completion continues)
and image size limits, and the same rewards (rewards.py) on the dataset in data/.

    python train.py [--output-dir DIR] [--max-steps N] [--cpu]  # one process
    accelerate launch --config_file accelerate/ddp-8gpu.yaml train.py   # see README.md
"""

import argparse
import json
import os

from datasets import Image, load_dataset
from peft import LoraConfig
from transformers import AutoProcessor
from trl import GRPOConfig, GRPOTrainer

from rewards import make_rewards

HERE = os.path.dirname(os.path.abspath(__file__))


def prompt_of(row, job):
    messages = []
    if job["system_prompt"] is not None:
        messages.append({"role": "system", "content": job["system_prompt"]})
    messages.append({"role": "user", "content": row["question"]})
    if job["prefill"]:
        messages.append({"role": "assistant", "content": job["prefill"]})
    return messages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--output-dir", default=os.path.join(HERE, "output"))
    ap.add_argument("--max-steps", type=int, default=None)
    ap.add_argument("--cpu", action="store_true", help="a trial run on the CPU, in float32")
    args = ap.parse_args()
    with open(os.path.join(HERE, "job.json"), encoding="utf-8") as f:
        job = json.load(f)
    # A model folder shipped with the job (or placed beside train.py) is found from anywhere.
    if os.path.isdir(os.path.join(HERE, job["model"])):
        job["model"] = os.path.join(HERE, job["model"])

    dataset = load_dataset("json", data_files=os.path.join(HERE, "data", "train.jsonl"), split="train")
    dataset = dataset.map(
        lambda row: {"prompt": prompt_of(row, job), "image": os.path.join(HERE, "data", row["image"])}
    )
    dataset = dataset.cast_column("image", Image())

    pixels = {k: job[k] for k in ("min_pixels", "max_pixels") if job[k] is not None}
    processor = AutoProcessor.from_pretrained(job["model"], **pixels)

    settings = dict(job["grpo_config"])
    if args.max_steps is not None:
        settings["max_steps"] = args.max_steps
    if args.cpu:
        settings.update(use_cpu=True, bf16=False)
    config = GRPOConfig(output_dir=args.output_dir, **settings)
    lora = job["lora"]
    peft_config = (
        LoraConfig(
            task_type="CAUSAL_LM",
            r=lora["r"],
            lora_alpha=lora["lora_alpha"],
            lora_dropout=lora["lora_dropout"],
            target_modules=lora["target_modules"],
        )
        if lora
        else None
    )
    rewards = make_rewards(
        iou_threshold=job["iou_threshold"],
        prefill=job["prefill"],
        box_space=job["box_space"],
        answer_form=job["answer_form"],
    )
    trainer = GRPOTrainer(
        model=job["model"],
        reward_funcs=[rewards[name] for name in job["reward_funcs"]],
        args=config,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=peft_config,
    )
    trainer.train()
    trainer.save_model(args.output_dir)


if __name__ == "__main__":
    main()
