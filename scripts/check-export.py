"""Second half of the export oracle recipe: checks with the real libraries that what `vgrpo export` writes loads
and gives our logits. scripts/export-check.ts first trains nano 2 GRPO steps with LoRA, exports the run as a PEFT
adapter (OUT_DIR/adapter) and as a merged HF model folder (OUT_DIR/merged), and writes our logits for a text-only
sequence and a one-image prompt to OUT_DIR/ours.json. This script then:

- loads public/nano with transformers' Qwen2VLForConditionalGeneration in float32 and checks no key is missing or
  unexpected. The weights are BF16 on disk; transformers 5's default dtype="auto" takes config.json's torch_dtype
  (float32 here) and, without it, the file's BF16, so dtype=torch.float32 is passed explicitly;
- compares the base model's logits with ours (`base_logits`), so that a failure below is not a base-forward one;
- applies OUT_DIR/adapter with peft's PeftModel.from_pretrained and checks that every lora_A / lora_B tensor of
  the file landed in the model (the model's adapter state dict and the file hold the same keys and equal values;
  PEFT itself only warns about missing keys), then compares the adapted logits with ours (`logits`);
- checks PEFT's own merge (merge_and_unload) against the weights of OUT_DIR/merged;
- loads OUT_DIR/merged with transformers alone (output_loading_info=True: no missing / unexpected / mismatched
  keys) and compares its logits with ours;
- checks that the adapter moved the logits well beyond the tolerance, so the comparisons are not vacuous.

Logits pass when max |ours - theirs| <= 1e-3 * max |ours| (per input). When PEFT does not load the adapter, the
PEFT checks are repeated with an explicit key_mapping from the transformers-4 module names to the current ones
(a diagnostic, not counted: it tells a naming problem from a numerical one).

Versions used: torch 2.13 (CPU), transformers 5.18, peft 0.21. No hub access is needed (HF_HUB_OFFLINE is set).
Run (from the repository root):
    node --import ./bin/register.js scripts/export-check.ts /tmp/export-check
    python3 scripts/check-export.py /tmp/export-check
Prints one line per check and a PASS / FAIL summary; exits 1 on failure.
"""

import json
import os
import re
import sys
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import peft  # noqa: E402
import safetensors  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from peft import PeftModel  # noqa: E402
from peft.utils import get_peft_model_state_dict  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import Qwen2VLForConditionalGeneration  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NANO = os.path.join(ROOT, "public", "nano")
RTOL = 1e-3  # of max |logit|
# Module names of a transformers < 4.52 Qwen2-VL checkpoint -> the current ones (transformers' own
# Qwen2VLForConditionalGeneration conversion rule), as PEFT's key_mapping (applied after `base_model.model.`).
LEGACY_KEY_MAPPING = {r"^model(?!\.(language_model|visual))": "model.language_model"}

results = []  # (name, ok or None for diagnostics, detail)
diagnostic = [False]  # while True, checks are reported as info and not counted


def check(name, ok, detail):
    if diagnostic[0]:
        name, ok = f"{name} (diagnostic)", None
    results.append((name, ok, detail))
    tag = "info" if ok is None else ("ok  " if ok else "FAIL")
    print(f"[{tag}] {name}: {detail}", flush=True)


def load_hf(path):
    model, info = Qwen2VLForConditionalGeneration.from_pretrained(
        path, dtype=torch.float32, attn_implementation="eager", output_loading_info=True
    )
    return model.eval(), info


def loading_problems(info):
    return {k: sorted(v) for k, v in info.items() if k != "error_msgs" and v} | (
        {"error_msgs": info["error_msgs"]} if info.get("error_msgs") else {}
    )


def logits_of(model, case):
    inputs = {"input_ids": torch.tensor([case["ids"]], dtype=torch.long)}
    inputs["attention_mask"] = torch.ones_like(inputs["input_ids"])
    if "pixel_values" in case:
        rows, cols = case["pixel_shape"]
        inputs["pixel_values"] = torch.tensor(case["pixel_values"], dtype=torch.float32).reshape(rows, cols)
        inputs["image_grid_thw"] = torch.tensor([case["grid"]], dtype=torch.long)
        # transformers 5 wants the processor's modality types for M-RoPE: 1 at image pads, else 0
        # (ProcessorMixin.create_mm_token_type_ids).
        image_token = model.config.image_token_id
        inputs["mm_token_type_ids"] = (inputs["input_ids"] == image_token).to(torch.long)
    with torch.inference_mode():
        out = model(**inputs, use_cache=False)
    return out.logits[0].to(torch.float64)


def ours_of(case, key):
    return torch.tensor(case[key], dtype=torch.float64).reshape(case["shape"])


def compare_logits(name, model, ours, key="logits"):
    for label, case in ours.items():
        theirs = logits_of(model, case)
        mine = ours_of(case, key)
        if theirs.shape != mine.shape:
            check(f"{name} [{label}]", False, f"shape {list(theirs.shape)} vs ours {case['shape']}")
            continue
        diff = (theirs - mine).abs().max().item()
        scale = mine.abs().max().item()
        check(
            f"{name} [{label}]",
            diff <= RTOL * scale,
            f"max |diff| {diff:.3e} (max |logit| {scale:.3f}, relative {diff / scale:.3e}, limit {RTOL:g})",
        )


def mapped(key, key_mapping):
    """A file key as PEFT's key_mapping renames it (the mapping applies after the `base_model.model.` prefix)."""
    prefix = "base_model.model."
    if not key_mapping or not key.startswith(prefix):
        return key
    rest = key.removeprefix(prefix)
    for pattern, replacement in key_mapping.items():
        new, n = re.subn(pattern, replacement, rest)
        if n:
            return prefix + new
    return key


def check_adapter_keys(name, model, adapter_file, caught, key_mapping=None):
    """Every tensor of the adapter file is in the model's adapter state dict with the same value, and back."""
    state = get_peft_model_state_dict(model, save_embedding_layers=False)
    disk = {mapped(k, key_mapping): v for k, v in load_file(adapter_file).items()}
    not_loaded = sorted(set(disk) - set(state))
    not_in_file = sorted(set(state) - set(disk))
    differ = sorted(k for k in set(disk) & set(state) if not torch.equal(disk[k].to(state[k].dtype), state[k]))
    warned = [str(w.message)[:160] for w in caught if "missing adapter keys" in str(w.message)]
    ok = not not_loaded and not not_in_file and not differ and not warned
    detail = f"{len(disk)} tensors in the file, {len(state)} adapter tensors in the model"
    if not ok:
        detail += (
            f"; file tensors PEFT did not place: {len(not_loaded)} (e.g. {not_loaded[:1]})"
            f"; model adapter tensors absent from the file: {len(not_in_file)} (e.g. {not_in_file[:1]})"
            f"; values differing: {len(differ)}; PEFT warning: {warned[:1]}"
        )
    check(name, ok, detail)
    return ok


def load_peft(adapter_dir, key_mapping=None):
    base, _ = load_hf(NANO)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        kwargs = {} if key_mapping is None else {"key_mapping": key_mapping}
        model = PeftModel.from_pretrained(base, adapter_dir, **kwargs)
    return model.eval(), caught


def check_peft(out, ours, key_mapping=None):
    suffix = "" if key_mapping is None else " with key_mapping to the current names"
    adapter_dir = os.path.join(out, "adapter")
    model, caught = load_peft(adapter_dir, key_mapping)
    loaded = check_adapter_keys(
        f"PEFT loads every adapter tensor{suffix}",
        model,
        os.path.join(adapter_dir, "adapter_model.safetensors"),
        caught,
        key_mapping,
    )
    compare_logits(f"PEFT adapter logits vs ours{suffix}", model, ours)
    return model, loaded


def check_merge(model, out):
    """PEFT's own merge of the loaded adapter against the weights of the merged export (HF names on disk)."""
    merged_disk = load_file(os.path.join(out, "merged", "model.safetensors"))
    base_disk = load_file(os.path.join(NANO, "model.safetensors"))
    merged = model.merge_and_unload()
    params = dict(merged.named_parameters())
    worst, worst_name, missing = 0.0, None, []
    for name, disk in merged_disk.items():
        # The export keeps the transformers-4 names; map them as transformers' own loader does.
        hf = name.replace("visual.", "model.visual.", 1) if name.startswith("visual.") else name
        hf = hf.replace("model.", "model.language_model.", 1) if name.startswith("model.") else hf
        if hf not in params:
            missing.append(name)
            continue
        d = (params[hf].detach().double() - disk.double()).abs().max().item()
        if d > worst:
            worst, worst_name = d, name
    extra = sorted(set(merged_disk) ^ set(base_disk))
    scale = max(t.double().abs().max().item() for t in merged_disk.values())
    check(
        "PEFT merge_and_unload weights vs merged/model.safetensors",
        not missing and not extra and worst <= 1e-5 * scale,
        f"max |diff| {worst:.3e} ({worst_name}); names unknown to the model: {missing[:3]}; "
        f"names differing from the base checkpoint's: {extra[:3]}",
    )


def main():
    if len(sys.argv) != 2:
        print("usage: python3 scripts/check-export.py OUT_DIR (after scripts/export-check.ts OUT_DIR)")
        return 2
    out = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    transformers.utils.logging.disable_progress_bar()
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}")
    with open(os.path.join(out, "ours.json")) as f:
        ours = json.load(f)
    ours = {"text": ours["text"], "image": ours["image"]}
    print(
        f"inputs: text {ours['text']['shape']}, image {ours['image']['shape']} grid {ours['image']['grid']}"
        f" pixel_values {ours['image']['pixel_shape']}"
    )

    # The base model: dtype and keys, then its logits against ours without the adapter.
    with safetensors.safe_open(os.path.join(NANO, "model.safetensors"), "pt") as f:
        disk_dtypes = sorted({str(f.get_slice(k).get_dtype()) for k in f.keys()})
    base, info = load_hf(NANO)
    dtypes = sorted({str(p.dtype) for p in base.parameters()})
    check("nano loads in float32", dtypes == ["torch.float32"], f"on disk {disk_dtypes}, loaded as {dtypes}")
    problems = loading_problems(info)
    check("nano loads with no missing / unexpected keys", not problems, str(problems or "none"))
    compare_logits("transformers base logits vs ours (no adapter)", base, ours, key="base_logits")
    del base

    # The adapter moved the model: otherwise the comparisons below could not fail.
    for label, case in ours.items():
        moved = (ours_of(case, "logits") - ours_of(case, "base_logits")).abs().max().item()
        scale = ours_of(case, "logits").abs().max().item()
        check(
            f"the adapter changes our logits [{label}]",
            moved > 10 * RTOL * scale,
            f"max |adapted - base| {moved:.3e} (10x the tolerance: {10 * RTOL * scale:.3e})",
        )

    # PEFT on the adapter folder, as a user would load it.
    with open(os.path.join(out, "adapter", "adapter_config.json")) as f:
        print(f"adapter_config.json: {json.load(f)}")
    model, loaded = check_peft(out, ours)
    if not loaded:
        # Tell a naming problem from a numerical one: the same checks with the names mapped (not counted).
        diagnostic[0] = True
        model, _ = check_peft(out, ours, LEGACY_KEY_MAPPING)
    check_merge(model, out)
    diagnostic[0] = False
    del model

    # transformers alone on the merged folder.
    merged, info = load_hf(os.path.join(out, "merged"))
    problems = loading_problems(info)
    check("merged folder loads with no missing / unexpected / mismatched keys", not problems, str(problems or "none"))
    dtypes = sorted({str(p.dtype) for p in merged.parameters()})
    check("merged folder loads in float32", dtypes == ["torch.float32"], str(dtypes))
    check(
        "merged config keeps box_space as an extra attribute",
        getattr(merged.config, "box_space", None) is not None,
        f"box_space={getattr(merged.config, 'box_space', None)!r}, model_type={merged.config.model_type}",
    )
    compare_logits("merged folder logits vs ours", merged, ours)

    failed = [r for r in results if r[1] is False]
    counted = [r for r in results if r[1] is not None]
    print()
    if failed:
        print(f"FAIL: {len(failed)} of {len(counted)} checks failed:")
        for name, _, detail in failed:
            print(f"  - {name}: {detail}")
        return 1
    print(f"PASS: all {len(counted)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
