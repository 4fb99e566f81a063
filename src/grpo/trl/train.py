"""GRPO with TRL's GRPOTrainer on the run exported by vision-grpo: the settings in job.json (GRPOConfig's
own names and values), LoRA through peft with the same r, alpha, dropout and target modules, the same
prompts (system message, the user's image and question, the assistant prefill the completion continues)
and image size limits, and the same rewards (rewards.py) on the dataset in data/. The output folder
(metrics in trainer_state.json, completions/*.parquet, the adapter) opens with `vgrpo import-trl`.

    python train.py [--output-dir DIR] [--max-steps N] [--cpu]  # one process
    accelerate launch --config_file accelerate/ddp-8gpu.yaml train.py   # see README.md
"""

import argparse
import functools
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
    return messages


def with_prefill(template, prefill):
    """The chat template with the assistant prefill after its generation prompt. (A prompt ending in an
    assistant message does not work: TRL 1.13 opens a new assistant turn after it when generating, but
    continues it when scoring, so the two token sequences differ.)"""
    if not prefill:
        return template
    literal = prefill.replace("\\", "\\\\").replace('"', '\\"')
    return template + '{% if add_generation_prompt %}{{ "' + literal + '" }}{% endif %}'


def load_processor(job):
    pixels = {k: job[k] for k in ("min_pixels", "max_pixels") if job[k] is not None}
    processor = AutoProcessor.from_pretrained(job["model"], **pixels)
    # A folder whose chat template is only in tokenizer_config.json (nano's) gives the processor none.
    template = processor.chat_template or processor.tokenizer.chat_template
    processor.chat_template = with_prefill(template, job["prefill"])
    processor.tokenizer.chat_template = processor.chat_template
    return processor


def with_row_ids(func):
    """The reward function, also writing each completion's dataset row id into TRL's completions table
    (output/completions/*.parquet), so `vgrpo import-trl` can show the completions on their images."""

    @functools.wraps(func)
    def scored(completions, log_extra=None, **kwargs):
        if log_extra is not None:
            log_extra("id", list(kwargs["id"]))
        return func(completions, **kwargs)

    return scored


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

    processor = load_processor(job)

    settings = dict(job["grpo_config"])
    if args.max_steps is not None:
        settings["max_steps"] = args.max_steps
    if args.cpu:
        settings.update(use_cpu=True, bf16=False)
    # The completions table at every logging step is what the inspector shows when the run comes back.
    settings["log_completions"] = True
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
    reward_funcs = [rewards[name] for name in job["reward_funcs"]]
    reward_funcs[0] = with_row_ids(reward_funcs[0])
    trainer = GRPOTrainer(
        model=job["model"],
        reward_funcs=reward_funcs,
        args=config,
        train_dataset=dataset,
        processing_class=processor,
        peft_config=peft_config,
    )
    trainer.train()
    trainer.save_model(args.output_dir)
    trainer.save_state()


if __name__ == "__main__":
    main()
