"""Checks the exported TRL job's rewards (src/grpo/trl/rewards.py) against ours on the reward corpus
(test/fixtures/trl-bridge/reward-corpus.json, written by scripts/make-reward-corpus.ts from
src/grpo/rewards/): every case's grounding (at each threshold), iou and format must be equal, IoU to
1e-12; and again with Qwen's special tokens removed from the completions, as TRL's decoding removes
them, read with answer_form 'qwen2vl'. Calls the functions the way GRPOTrainer does (completions plus the dataset's columns as keyword
lists). Pure Python; exits 1 and lists the cases that differ.

    python3 scripts/check-reward-parity.py
"""

import importlib.util
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
spec = importlib.util.spec_from_file_location("rewards", os.path.join(ROOT, "src/grpo/trl/rewards.py"))
rewards = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rewards)

with open(os.path.join(ROOT, "test/fixtures/trl-bridge/reward-corpus.json"), encoding="utf-8") as f:
    corpus = json.load(f)
cases = corpus["cases"]
columns = {
    "box": [c["box"] for c in cases],
    "width": [c["frame"]["width"] for c in cases],
    "height": [c["frame"]["height"] for c in cases],
    "input_width": [c["frame"]["inputWidth"] for c in cases],
    "input_height": [c["frame"]["inputHeight"] for c in cases],
    "box_space": [c["space"] for c in cases],
    "prefill": [c["prefill"] for c in cases],
}
# Conversational completions, as TRL passes them for chat datasets.
completions = [[{"role": "assistant", "content": c["completion"]}] for c in cases]

got = {}
for k, threshold in enumerate(corpus["iou_thresholds"]):
    funcs = rewards.make_rewards(iou_threshold=threshold)
    got[("grounding", k)] = funcs["grounding"](completions, **columns)
    if k == 0:
        got["iou"] = funcs["iou"](completions, **columns)
        got["format"] = funcs["format"](completions, **columns)
        assert [f.__name__ for f in funcs.values()] == ["grounding", "iou", "format"]

bad = []
for i, c in enumerate(cases):
    want = c["rewards"]
    diffs = [
        (f"grounding@{t}", want["grounding"][k], got[("grounding", k)][i])
        for k, t in enumerate(corpus["iou_thresholds"])
        if want["grounding"][k] != got[("grounding", k)][i]
    ]
    if abs(want["iou"] - got["iou"][i]) > 1e-12:
        diffs.append(("iou", want["iou"], got["iou"][i]))
    if want["format"] != got["format"][i]:
        diffs.append(("format", want["format"], got["format"][i]))
    if diffs:
        bad.append((i, c["completion"], c["prefill"], diffs))

# As TRL decodes them (skip_special_tokens): Qwen's special tokens dropped, read with answer_form
# 'qwen2vl'. Left out: unpaired markers, and markers around a malformed box (stray text beside the
# points, a third point); without the markers neither can be told from a well-formed box.
SPECIAL = ("<|box_start|>", "<|box_end|>", "<|im_end|>", "<|endoftext|>")


def decodable(text):
    if text.count("<|box_start|>") != text.count("<|box_end|>"):
        return False
    inners = rewards.QWEN2VL.findall(text)
    return all(rewards.QWEN2VL_POINTS.fullmatch(inner) or "(" not in inner for inner in inners)


paired = [i for i, c in enumerate(cases) if decodable(c["completion"])]


def strip(text):
    for token in SPECIAL:
        text = text.replace(token, "")
    return text


sub = {k: [v[i] for i in paired] for k, v in columns.items()}
stripped_completions = [[{"role": "assistant", "content": strip(cases[i]["completion"])}] for i in paired]
funcs = rewards.make_rewards(iou_threshold=corpus["iou_thresholds"][0], answer_form="qwen2vl")
stripped = {name: funcs[name](stripped_completions, **sub) for name in ("grounding", "iou", "format")}
for j, i in enumerate(paired):
    want = cases[i]["rewards"]
    diffs = []
    if stripped["grounding"][j] != want["grounding"][0]:
        diffs.append(("grounding@0.5 stripped", want["grounding"][0], stripped["grounding"][j]))
    if abs(stripped["iou"][j] - want["iou"]) > 1e-12:
        diffs.append(("iou stripped", want["iou"], stripped["iou"][j]))
    if stripped["format"][j] != want["format"]:
        diffs.append(("format stripped", want["format"], stripped["format"][j]))
    if diffs:
        bad.append((i, cases[i]["completion"], cases[i]["prefill"], diffs))

for i, completion, prefill, diffs in bad:
    print(f"case {i}: {completion!r} (prefill {prefill!r}): " + "; ".join(f"{n} ours {a} python {b}" for n, a, b in diffs))
print(
    f"{len(cases) - len(bad)} of {len(cases)} cases agree as written and, with Qwen's special tokens dropped "
    f"as TRL decodes them, on the {len(paired)} whose box markers enclose a well-formed box or none"
)
sys.exit(1 if bad else 0)
