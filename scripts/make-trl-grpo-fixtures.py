"""Recipe for test/fixtures/trl-grpo/: the expected values of our GRPO loss, advantages and config, computed by
running TRL's own GRPOTrainer code (never a re-implementation of its maths).

Writes three files that the TypeScript tests read (CI has no Python; it only reads the committed JSON):

- loss-cases.json: `GRPOTrainer._compute_loss` on chosen per-token log-prob / entropy tables. A real trainer is built
  (on a tiny random Qwen2 text model that only lets `__init__` run), its `_get_per_token_logps_and_entropies` is
  replaced by a stub returning a float64 leaf tensor with requires_grad=True, and the recorded gradient is
  d loss / d per_token_logps from autograd. Every metric `_compute_loss` appended to `_metrics["train"]` is kept.
- advantage-cases.json: `GRPOTrainer._generate_and_score_completions` run end to end on a real trainer, with only
  `model.generate` stubbed (it returns the completions we choose, padded after eos as HF generate pads them), so
  TRL's own eos cut, completion mask, `mask_truncated_completions`, reward aggregation, advantages and logged metrics
  are what gets recorded. Reward functions are plain named callables returning a chosen table (None allowed).
  beta is 0 and gradient_accumulation_steps % (steps_per_generation * num_iterations) == 0, so no model forward
  (old / ref log-probs) happens; `_get_per_token_logps_and_entropies` is replaced by a stub that fails if called.
- config-defaults.json: GRPOConfig / TrainingArguments defaults read from the dataclass fields, the values
  `__post_init__` resolves them to, a few kwargs -> resolved steps_per_generation / generation_batch_size, and the
  error TRL raises for each validation rule (found by constructing violating configs).

Versions used: trl 1.13.0, transformers 5.18, torch 2.13 (CPU). No hub access is needed.
Run (from the repository root):  python3 scripts/make-trl-grpo-fixtures.py
The files are then formatted with the repository's biome (node_modules/.bin/biome) so that `npm run lint` passes;
without node_modules the script prints the command to run. The script is deterministic: run it twice and the files
are identical.
"""

import dataclasses
import json
import logging
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import warnings

import torch
import transformers
import trl
from datasets import Dataset
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM, TrainingArguments
from trl import GRPOConfig, GRPOTrainer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
OUT = os.path.join(ROOT, "test", "fixtures", "trl-grpo")

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PAD_ID, EOS_ID = 0, 1
WORDS = "a b c d e f g h i j k l m n o p".split()  # ids 2..17


# ---------------------------------------------------------------------------------------------------------------------
# A tiny tokenizer and model, only so that GRPOTrainer.__init__ runs for real. Nothing they compute enters a fixture.
# ---------------------------------------------------------------------------------------------------------------------


def build_tiny_model_dir(tmp):
    vocab = {"<pad>": PAD_ID, "<|im_end|>": EOS_ID}
    for i, w in enumerate(WORDS):
        vocab[w] = i + 2
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="a"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<|im_end|>")
    assert tok.pad_token_id == PAD_ID and tok.eos_token_id == EOS_ID
    config = Qwen2Config(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        eos_token_id=EOS_ID,
        pad_token_id=PAD_ID,
    )
    torch.manual_seed(0)
    model_dir = os.path.join(tmp, "tiny-qwen2")
    Qwen2ForCausalLM(config).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    return model_dir, tok


def make_trainer(env, reward_funcs, **config_kwargs):
    args = GRPOConfig(
        output_dir=os.path.join(env["tmp"], "out"),
        use_cpu=True,
        bf16=False,
        report_to="none",
        seed=0,
        **config_kwargs,
    )
    dataset = Dataset.from_dict({"prompt": ["a b", "c d e"]})
    trainer = GRPOTrainer(
        model=env["model_dir"],  # a path, so that beta != 0 can load its reference copy from it
        reward_funcs=reward_funcs,
        args=args,
        train_dataset=dataset,
        processing_class=env["tok"],
    )
    trainer.model.train()  # Trainer.train() does this; TRL picks "train" vs "eval" from model.training
    return trainer


def no_model_forward(*args, **kwargs):
    raise AssertionError("the fixture cases must not need a model forward")


def clean(x):
    """Tensors / floats -> JSON-ready Python values; NaN (and inf) -> None."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().tolist()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()}
    return x


def metrics_of(trainer):
    out = {}
    for name, values in trainer._metrics["train"].items():
        values = clean(list(values))
        out[name] = values[0] if len(values) == 1 else values
    return out


# ---------------------------------------------------------------------------------------------------------------------
# 1. _compute_loss
# ---------------------------------------------------------------------------------------------------------------------

B, T = 5, 6
MASK = [
    [1, 1, 1, 1, 1, 1],
    [1, 1, 1, 1, 0, 0],
    [1, 1, 1, 1, 1, 0],
    [1, 1, 1, 0, 0, 0],
    [0, 0, 0, 0, 0, 0],  # e.g. a truncated completion under mask_truncated_completions
]
ADVANTAGES = [1.1, -0.9, 0.0, -0.4, 0.6]
# Intended log-ratios log(pi_theta / pi_old), chosen so that with epsilon 0.2 (ratio range [0.8, 1.2]) some tokens
# clip and some do not, epsilon_high 0.28 (1.28) and delta 1.5 change things, and the off-policy mask (threshold 0.1)
# drops row 3 (negative advantage, mean(old - theta) = 0.35) but keeps row 1 (0.04). Values under the padding are
# deliberately far off so that a wrong mask shows.
LOG_RATIO = [
    [0.35, 0.10, -0.05, 0.24, 0.02, -0.30],
    [-0.40, -0.26, 0.05, 0.45, 1.50, -1.20],
    [0.30, -0.30, 0.10, -0.10, 0.00, 0.90],
    [-0.60, -0.30, -0.15, 1.10, -0.80, 0.70],
    [0.50, -0.50, 0.20, 0.30, -0.20, 0.10],
]


def loss_tables():
    rng = random.Random(20251)
    cur, old, ref = [], [], []
    for r in range(B):
        cur_row, old_row, ref_row = [], [], []
        for t in range(T):
            lr = LOG_RATIO[r][t]
            hi = min(-0.01, lr - 0.01)  # keeps old = cur - lr <= -0.01
            lo = -4.0 + max(lr, 0.0)  # keeps old >= -4
            c = round(hi - (hi - lo) * rng.random() ** 2, 4)  # denser near hi: confident tokens are common
            cur_row.append(c)
            old_row.append(round(c - lr, 4))
            ref_row.append(round(min(-0.005, max(-4.0, c + rng.uniform(-0.5, 0.5))), 4))
        cur.append(cur_row)
        old.append(old_row)
        ref.append(ref_row)
    # Entropies: distinct multiples of 1/64, exact in float32 (TRL takes the entropy quantile in float32).
    ks = rng.sample(range(8, 200), B * T)
    ent = [[ks[r * T + t] / 64 for t in range(T)] for r in range(B)]
    return cur, old, ref, ent


def loss_case_specs():
    # (name, config overrides, old log-probs present, ref log-probs present, num_items_in_batch, current GA or None)
    # Old log-probs are present exactly when TRL computes them (without vLLM):
    # gradient_accumulation_steps % (steps_per_generation * num_iterations) != 0. The micro-batch has 18 active
    # tokens; with steps_per_generation s the generation batch has s micro-batches, and num_items_in_batch counts them
    # all (18 / 35 / 69 tokens for s = 1 / 2 / 4).
    it2 = {"num_iterations": 2}
    ga4s4 = {"gradient_accumulation_steps": 4, "steps_per_generation": 4}
    ga4s2 = {"gradient_accumulation_steps": 4, "steps_per_generation": 2}
    ga1s2 = {"gradient_accumulation_steps": 1, "steps_per_generation": 2}
    beta = {"beta": 0.04}
    S = {"importance_sampling_level": "sequence"}
    cases = [
        ("grpo_token_old", {"loss_type": "grpo", **it2}, True, False, 18, None),
        ("grpo_token_no_old", {"loss_type": "grpo"}, False, False, 18, None),
        ("grpo_eps_high_0.28", {"loss_type": "grpo", "epsilon_high": 0.28, **it2}, True, False, 18, None),
        ("grpo_delta_1.5", {"loss_type": "grpo", "delta": 1.5, **it2}, True, False, 18, None),
        ("grpo_sequence_old", {"loss_type": "grpo", **S, **it2}, True, False, 18, None),
        ("grpo_beta_biascorr_old", {"loss_type": "grpo", **beta, **it2}, True, True, 18, None),
        (
            "grpo_beta_no_biascorr_old",
            {"loss_type": "grpo", **beta, "use_bias_correction_kl": False, **it2},
            True,
            True,
            18,
            None,
        ),
        ("grpo_beta_biascorr_no_old", {"loss_type": "grpo", **beta}, False, True, 18, None),
        ("grpo_top_entropy_0.5", {"loss_type": "grpo", "top_entropy_quantile": 0.5, **it2}, True, False, 18, None),
        ("grpo_off_policy_0.1", {"loss_type": "grpo", "off_policy_mask_threshold": 0.1, **it2}, True, False, 18, None),
        ("grpo_ga4_spg4_iter2", {"loss_type": "grpo", **ga4s4, **it2}, True, False, 69, None),
        ("bnpo_token_old", {"loss_type": "bnpo", **it2}, True, False, 18, None),
        ("bnpo_sequence_beta_old", {"loss_type": "bnpo", **S, **beta, **it2}, True, True, 18, None),
        ("dr_grpo_token_old", {"loss_type": "dr_grpo", **it2}, True, False, 18, None),
        ("dr_grpo_ga4_spg2_no_old", {"loss_type": "dr_grpo", **ga4s2}, False, False, 35, None),
        ("dapo_ga1_spg1_iter2", {"loss_type": "dapo", **it2}, True, False, 18, None),
        ("dapo_ga1_spg2", {"loss_type": "dapo", **ga1s2}, True, False, 35, None),
        ("dapo_ga4_spg2_no_old", {"loss_type": "dapo", **ga4s2}, False, False, 35, None),
        ("dapo_ga4_spg4_iter2", {"loss_type": "dapo", **ga4s4, **it2}, True, False, 69, None),
        ("dapo_ga4_current_ga3", {"loss_type": "dapo", **ga4s4, **it2}, True, False, 69, 3),
        ("dapo_sequence_old", {"loss_type": "dapo", **S, **it2}, True, False, 18, None),
        ("dapo_beta_biascorr_old", {"loss_type": "dapo", **beta, **it2}, True, True, 18, None),
        (
            "dapo_entropy_0.5_off_policy_0.1",
            {"loss_type": "dapo", "top_entropy_quantile": 0.5, "off_policy_mask_threshold": 0.1, **it2},
            True,
            False,
            18,
            None,
        ),
        (
            "dapo_eps_high_0.28_delta_1.5",
            {"loss_type": "dapo", "epsilon_high": 0.28, "delta": 1.5, **it2},
            True,
            False,
            18,
            None,
        ),
        ("cispo_default_eps_high", {"loss_type": "cispo", **it2}, True, False, 18, None),
        ("cispo_eps_high_1.3_ga1_spg2", {"loss_type": "cispo", "epsilon_high": 1.3, **ga1s2}, True, False, 35, None),
        ("cispo_eps_high_5_beta_no_old", {"loss_type": "cispo", "epsilon_high": 5.0, **beta}, False, True, 18, None),
        ("sapo_default_temps_old", {"loss_type": "sapo", **it2}, True, False, 18, None),
        (
            "sapo_custom_temps_old",
            {"loss_type": "sapo", "sapo_temperature_pos": 0.5, "sapo_temperature_neg": 2.0, **it2},
            True,
            False,
            18,
            None,
        ),
        ("sapo_sequence_beta_old", {"loss_type": "sapo", **S, **beta, **it2}, True, True, 18, None),
        ("luspo_token_old", {"loss_type": "luspo", **it2}, True, False, 18, None),
        ("luspo_sequence_beta_ga4_iter2", {"loss_type": "luspo", **S, **beta, **ga4s4, **it2}, True, True, 69, None),
        ("vespo_defaults_old", {"loss_type": "vespo", **it2}, True, False, 18, None),
        (
            "vespo_custom_k_lambda_old",
            {
                "loss_type": "vespo",
                "vespo_k_pos": 1.0,
                "vespo_lambda_pos": 2.0,
                "vespo_k_neg": 4.0,
                "vespo_lambda_neg": 1.5,
                **it2,
            },
            True,
            False,
            18,
            None,
        ),
        (
            "vespo_beta_entropy_0.5_ga1_spg2",
            {"loss_type": "vespo", **beta, "top_entropy_quantile": 0.5, **ga1s2},
            True,
            True,
            35,
            None,
        ),
    ]
    return cases


LOSS_CONFIG_FIELDS = [
    "loss_type",
    "beta",
    "epsilon",
    "epsilon_high",
    "delta",
    "importance_sampling_level",
    "use_bias_correction_kl",
    "top_entropy_quantile",
    "off_policy_mask_threshold",
    "max_completion_length",
    "gradient_accumulation_steps",
    "steps_per_generation",
    "num_iterations",
    "sapo_temperature_pos",
    "sapo_temperature_neg",
    "vespo_k_pos",
    "vespo_lambda_pos",
    "vespo_k_neg",
    "vespo_lambda_neg",
    "per_device_train_batch_size",
    "num_generations",
]


def run_loss_case(env, tables, name, overrides, has_old, has_ref, num_items, current_ga):
    cur, old, ref, ent = tables
    config = {"max_completion_length": 8, "per_device_train_batch_size": B, "num_generations": B, **overrides}
    trainer = make_trainer(env, [lambda **kw: [0.0] * len(kw["prompts"])], **config)
    args = trainer.args
    # TRL's own rule for whether _generate_and_score_completions computes old log-probs (no vLLM here).
    old_computed = args.gradient_accumulation_steps % (args.steps_per_generation * trainer.num_iterations) != 0
    assert old_computed == has_old, (name, "old log-prob presence must match what TRL would do")
    assert (trainer.beta != 0.0) == has_ref, name

    trainer.current_gradient_accumulation_steps = current_ga or args.gradient_accumulation_steps
    logps = torch.tensor(cur, dtype=torch.float64, requires_grad=True)
    entropies = torch.tensor(ent, dtype=torch.float64)

    def fake_logps_and_entropies(model, input_ids, attention_mask, logits_to_keep, *a, **kw):
        assert logits_to_keep == T and kw.get("compute_entropy") is True
        return logps, entropies, None

    trainer._get_per_token_logps_and_entropies = fake_logps_and_entropies
    mask = torch.tensor(MASK, dtype=torch.long)
    inputs = {
        "prompt_ids": torch.full((B, 3), 2, dtype=torch.long),
        "prompt_mask": torch.ones((B, 3), dtype=torch.long),
        "completion_ids": torch.where(mask.bool(), torch.full((B, T), 3), torch.full((B, T), PAD_ID)),
        "completion_mask": mask,
        "advantages": torch.tensor(ADVANTAGES, dtype=torch.float64),
        "num_items_in_batch": torch.tensor(num_items),
    }
    if has_old:
        inputs["old_per_token_logps"] = torch.tensor(old, dtype=torch.float64)
    if has_ref:
        inputs["ref_per_token_logps"] = torch.tensor(ref, dtype=torch.float64)
    loss = trainer._compute_loss(trainer.model, inputs)
    loss.backward()
    return {
        "name": name,
        "config": {k: getattr(args, k) for k in LOSS_CONFIG_FIELDS},
        "current_gradient_accumulation_steps": trainer.current_gradient_accumulation_steps,
        "inputs": {
            "per_token_logps": cur,
            "old_per_token_logps": old if has_old else None,
            "ref_per_token_logps": ref if has_ref else None,
            "entropies": ent,
            "completion_mask": MASK,
            "advantages": ADVANTAGES,
            "num_items_in_batch": num_items,
        },
        "outputs": {
            "loss": clean(loss.item()),
            "grad_per_token_logps": clean(logps.grad),
            "metrics": metrics_of(trainer),
        },
    }


# ---------------------------------------------------------------------------------------------------------------------
# 2. _generate_and_score_completions (rewards, advantages, completion mask, logged metrics)
# ---------------------------------------------------------------------------------------------------------------------

MAX_COMPLETION_LENGTH = 5
# Completions as TRL's _generate returns them: cut after the first eos; truncated ones (no eos) are exactly
# max_completion_length long.
COMPLETIONS_G4 = [
    [5, 7, EOS_ID],  # terminated, length 3
    [4, 4, 6, 8, 9],  # truncated
    [3, EOS_ID],
    [6, 2, 2, 3, EOS_ID],  # terminated exactly at max_completion_length
    [7, 8, 9, 10, 11],  # truncated
    [EOS_ID],  # eos straight away
    [2, 3, 4, EOS_ID],
    [9, 9, 9, 9, 9],  # truncated
]
COMPLETIONS_G2 = [
    [2, 3, EOS_ID],
    [4, 5, 6, 7, 8],  # truncated
    [9, EOS_ID],
    [10, 11, 12, EOS_ID],
    [13, 14, 15, 16, 17],  # truncated
    [2, 2, 2, 2, EOS_ID],
]
COMPLETIONS_G2_ALL_TRUNCATED = [[2 + (i + j) % 16 for j in range(MAX_COMPLETION_LENGTH)] for i in range(6)]
PROMPTS_2 = ["a b", "c d e"]
PROMPTS_3 = ["a b", "c d e", "f"]
N = None
# rows: completions (grouped by prompt, num_generations consecutive rows each); columns: grounding, format
REWARDS_G4 = [
    [1.0, 1.0],
    [0.0, 1.0],
    [N, N],  # unscorable: every reward None
    [1.0, N],  # one of two rewards None
    [0.5, 1.0],  # group 2: all equal (zero std)
    [0.5, 1.0],
    [0.5, 1.0],
    [0.5, 1.0],
]
REWARDS_G2 = [
    [0.8, 1.0],
    [0.3, 0.0],
    [0.0, 1.0],  # group 2: equal
    [0.0, 1.0],
    [N, 1.0],  # group 3: one reward None in each completion
    [0.9, N],
]
REWARDS_G2_UNSCORABLE = [
    [N, N],  # group 1: one unscorable of two -> a single scored completion, its std is NaN
    [1.0, 1.0],
    [0.2, 0.0],
    [0.7, 1.0],
    [1.0, 1.0],
    [0.0, 0.0],
]


def reward_func(name, column):
    def f(prompts, completions, completion_ids, **kwargs):
        return [row[column] for row in f.table]

    f.__name__ = name
    return f


def advantage_case_specs():
    g4 = (PROMPTS_2, 4, COMPLETIONS_G4, REWARDS_G4)
    g2 = (PROMPTS_3, 2, COMPLETIONS_G2, REWARDS_G2)
    g2u = (PROMPTS_3, 2, COMPLETIONS_G2, REWARDS_G2_UNSCORABLE)
    g2t = (PROMPTS_3, 2, COMPLETIONS_G2_ALL_TRUNCATED, REWARDS_G2)
    S2N, N2S = "sum_then_normalize", "normalize_then_sum"
    # (name, data, scale_rewards, aggregation, reward_weights, mask_truncated_completions)
    return [
        ("g4_group", g4, "group", S2N, None, False),
        ("g4_batch", g4, "batch", S2N, None, False),
        ("g4_none", g4, "none", S2N, None, False),
        ("g4_true_alias", g4, True, S2N, None, False),
        ("g4_false_alias", g4, False, S2N, None, False),
        ("g4_group_weights", g4, "group", S2N, [1.0, 0.5], False),
        ("g4_group_mask_truncated", g4, "group", S2N, None, True),
        ("g4_normalize_then_sum", g4, "group", N2S, None, False),
        ("g4_normalize_then_sum_weights_scale_none", g4, "none", N2S, [1.0, 0.5], True),
        ("g2_group", g2, "group", S2N, None, False),
        ("g2_batch_weights_mask_truncated", g2, "batch", S2N, [1.0, 0.5], True),
        ("g2_none", g2, "none", S2N, None, False),
        ("g2_normalize_then_sum", g2, "batch", N2S, None, False),
        ("g2_unscorable_group", g2u, "group", S2N, None, False),
        ("g2_unscorable_none_mask_truncated", g2u, "none", S2N, None, True),
        ("g2_unscorable_normalize_then_sum", g2u, "group", N2S, [1.0, 0.5], True),
        ("g2_all_truncated_mask_truncated", g2t, "group", S2N, None, True),
    ]


def run_advantage_case(env, name, data, scale_rewards, aggregation, weights, mask_truncated):
    prompts, G, completions, rewards = data
    n = len(prompts) * G
    assert len(completions) == n and len(rewards) == n
    funcs = [reward_func("grounding", 0), reward_func("format", 1)]
    for f in funcs:
        f.table = rewards
    config = {
        "num_generations": G,
        "per_device_train_batch_size": n,  # one generation batch = one micro-batch (GA 1, steps_per_generation 1)
        "max_completion_length": MAX_COMPLETION_LENGTH,
        "scale_rewards": scale_rewards,
        "multi_objective_aggregation": aggregation,
        "reward_weights": weights,
        "mask_truncated_completions": mask_truncated,
        "beta": 0.0,
    }
    trainer = make_trainer(env, funcs, **config)
    trainer._get_per_token_logps_and_entropies = no_model_forward

    tok = env["tok"]
    rows = [{"prompt": p} for p in prompts for _ in range(G)]  # what TRL's RepeatSampler feeds one generation batch
    prompt_ids = [tok(text=r["prompt"])["input_ids"] for r in rows]

    def fake_generate(input_ids=None, attention_mask=None, **kwargs):
        # Stands in for HF generate: prompt (left-padded, as TRL passes it) + sampled tokens, finished rows padded.
        assert input_ids.shape[0] == n
        width = max(len(c) for c in completions)
        tail = torch.tensor([c + [PAD_ID] * (width - len(c)) for c in completions], dtype=input_ids.dtype)
        return torch.cat([input_ids, tail], dim=1)

    trainer.model.generate = fake_generate
    out = trainer._generate_and_score_completions(rows)
    for row, ids in zip(out["completion_ids"].tolist(), completions):  # TRL's eos cut gives back our lists, padded
        assert row == ids + [PAD_ID] * (len(row) - len(ids)), (name, row, ids)
    return {
        "name": name,
        "config": {
            "num_generations": G,
            "scale_rewards": scale_rewards,
            "scale_rewards_resolved": trainer.args.scale_rewards,
            "multi_objective_aggregation": aggregation,
            "reward_weights": weights,
            "reward_func_names": list(trainer.reward_func_names),
            "mask_truncated_completions": mask_truncated,
            "max_completion_length": MAX_COMPLETION_LENGTH,
        },
        "eos_token_id": EOS_ID,
        "pad_token_id": PAD_ID,
        "max_completion_length": MAX_COMPLETION_LENGTH,
        "prompt_ids": prompt_ids,
        "completion_ids": completions,
        "rewards_per_func": rewards,
        "outputs": {
            "advantages": clean(out["advantages"]),
            "completion_mask": clean(out["completion_mask"]),
            "num_items_in_batch": clean(out["num_items_in_batch"]),
            "old_per_token_logps_computed": "old_per_token_logps" in out,
            "metrics": metrics_of(trainer),
        },
    }


# ---------------------------------------------------------------------------------------------------------------------
# 3. Config defaults and validation rules
# ---------------------------------------------------------------------------------------------------------------------

GRPO_FIELDS = [
    "num_generations",
    "num_generations_eval",
    "max_completion_length",
    "max_prompt_length",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "beta",
    "epsilon",
    "epsilon_high",
    "delta",
    "loss_type",
    "scale_rewards",
    "multi_objective_aggregation",
    "reward_weights",
    "importance_sampling_level",
    "use_bias_correction_kl",
    "num_iterations",
    "steps_per_generation",
    "generation_batch_size",
    "mask_truncated_completions",
    "top_entropy_quantile",
    "off_policy_mask_threshold",
    "sapo_temperature_pos",
    "sapo_temperature_neg",
    "vespo_k_pos",
    "vespo_lambda_pos",
    "vespo_k_neg",
    "vespo_lambda_neg",
    "entropy_coef",
    "disable_dropout",
    "shuffle_dataset",
    "learning_rate",
    "logging_steps",
    "gradient_checkpointing",
    "bf16",
]
TRAINING_ARGS_FIELDS = [
    "lr_scheduler_type",
    "warmup_ratio",
    "warmup_steps",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "max_grad_norm",
    "weight_decay",
    "adam_beta1",
    "adam_beta2",
    "adam_epsilon",
    "optim",
    "seed",
    "max_steps",
    "num_train_epochs",
    "eval_strategy",
    "eval_steps",
    "save_strategy",
    "save_steps",
    "logging_strategy",
    "logging_steps",
    "learning_rate",
]


def jsonable(v):
    if v is dataclasses.MISSING:
        return "<required>"
    if hasattr(v, "value") and not isinstance(v, (int, float, str, bool)):  # enums (SchedulerType, ...)
        return v.value
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, (str, int, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return repr(v)


def field_info(cls, name, resolved_obj):
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        return {"exists": False}
    f = fields[name]
    if f.default is not dataclasses.MISSING:
        default = f.default
    elif f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = dataclasses.MISSING
    info = {"exists": True, "type": getattr(f.type, "__name__", str(f.type)), "default": jsonable(default)}
    if resolved_obj is not None:
        info["resolved"] = jsonable(getattr(resolved_obj, name))
    return info


def config_errors(env):
    base = {"output_dir": os.path.join(env["tmp"], "cfg"), "use_cpu": True, "report_to": "none"}
    attempts = [
        {"per_device_train_batch_size": 3, "num_generations": 2},
        {"per_device_train_batch_size": 8, "num_generations": 3},
        {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "num_generations": 3},
        {"per_device_train_batch_size": 4, "num_generations": 1},
        {"per_device_train_batch_size": 4, "num_generations": 2, "generation_batch_size": 6},
        {"per_device_train_batch_size": 4, "num_generations": 2, "generation_batch_size": 8, "steps_per_generation": 2},
        {"per_device_train_batch_size": 4, "num_generations": 3, "steps_per_generation": 2},
        {"per_device_train_batch_size": 8, "num_generations": 8, "do_eval": True, "eval_strategy": "steps",
         "per_device_eval_batch_size": 6},
        {"per_device_train_batch_size": 8, "num_generations": 8, "do_eval": True, "eval_strategy": "steps",
         "per_device_eval_batch_size": 6, "num_generations_eval": 3},
        {"per_device_train_batch_size": 8, "num_generations": 8, "auto_find_batch_size": True},
        {"per_device_train_batch_size": 8, "num_generations": 8, "vllm_importance_sampling_clip_min": 2.0,
         "vllm_importance_sampling_clip_max": 2.0},
        {"per_device_train_batch_size": 8, "num_generations": 8, "vllm_importance_sampling_mode": "token_truncate",
         "vllm_importance_sampling_clip_max": None},
        {"per_device_train_batch_size": 8, "num_generations": 8, "log_completions_hub_repo": "me/x"},
        {"per_device_train_batch_size": 8, "num_generations": 8, "warmup_steps": -1},
        {"per_device_train_batch_size": 8, "num_generations": 8, "fp16": True, "bf16": True},
        {"per_device_train_batch_size": 8, "num_generations": 8, "use_cpu": False},  # bf16 defaults on, no GPU here
        # Accepted by GRPOConfig: these values are only checked where TRL uses them (see runtime_errors).
        {"per_device_train_batch_size": 8, "num_generations": 8, "loss_type": "ppo"},
        {"per_device_train_batch_size": 8, "num_generations": 8, "scale_rewards": "max"},
        {"per_device_train_batch_size": 8, "num_generations": 8, "importance_sampling_level": "segment"},
        {"per_device_train_batch_size": 8, "num_generations": 8, "multi_objective_aggregation": "max"},
        {"per_device_train_batch_size": 8, "num_generations": 8, "epsilon": -0.5, "beta": -1.0,
         "top_entropy_quantile": 2.0, "num_iterations": 0, "temperature": 0.0},
    ]
    out = []
    for kwargs in attempts:
        all_kwargs = {**base, **kwargs}
        try:
            cfg = GRPOConfig(**all_kwargs)
            error = None
            resolved = {
                k: jsonable(getattr(cfg, k))
                for k in ["steps_per_generation", "generation_batch_size", "scale_rewards", "bf16"]
            }
        except Exception as e:  # noqa: BLE001 - we record whatever TRL / transformers raise
            error = f"{type(e).__name__}: {e}"
            resolved = None
        entry = {"kwargs": {k: v for k, v in kwargs.items()}, "error": error}
        if resolved is not None:
            entry["resolved"] = resolved
        out.append(entry)
    return out


def runtime_errors(env):
    """Values GRPOConfig accepts but the trainer rejects when it reaches them."""
    out = []
    cur, old, ref, ent = loss_tables()
    for kwargs in [{"loss_type": "ppo"}, {"importance_sampling_level": "segment"}]:
        trainer = make_trainer(env, [lambda **kw: [0.0] * len(kw["prompts"])], per_device_train_batch_size=B,
                               num_generations=B, **kwargs)
        logps = torch.tensor(cur, dtype=torch.float64, requires_grad=True)
        trainer._get_per_token_logps_and_entropies = lambda *a, **k: (logps, torch.tensor(ent), None)
        trainer.current_gradient_accumulation_steps = 1
        mask = torch.tensor(MASK)
        inputs = {
            "prompt_ids": torch.ones((B, 1), dtype=torch.long),
            "prompt_mask": torch.ones((B, 1), dtype=torch.long),
            "completion_ids": torch.ones((B, T), dtype=torch.long),
            "completion_mask": mask,
            "advantages": torch.tensor(ADVANTAGES, dtype=torch.float64),
            "num_items_in_batch": torch.tensor(18),
        }
        try:
            trainer._compute_loss(trainer.model, inputs)
            error = None
        except Exception as e:  # noqa: BLE001
            error = f"{type(e).__name__}: {e}"
        out.append({"kwargs": kwargs, "where": "GRPOTrainer._compute_loss", "error": error})
    for kwargs in [{"scale_rewards": "max"}, {"multi_objective_aggregation": "max"}]:
        f = reward_func("grounding", 0)
        f.table = [[1.0], [0.0], [0.5], [0.5]]
        trainer = make_trainer(env, [f], per_device_train_batch_size=4, num_generations=2,
                               max_completion_length=MAX_COMPLETION_LENGTH, **kwargs)
        trainer._get_per_token_logps_and_entropies = no_model_forward
        comps = [[2, EOS_ID], [3, EOS_ID], [4, EOS_ID], [5, EOS_ID]]
        trainer.model.generate = lambda input_ids=None, **k: torch.cat([input_ids, torch.tensor(comps)], dim=1)
        try:
            trainer._generate_and_score_completions([{"prompt": "a b"}] * 2 + [{"prompt": "c"}] * 2)
            error = None
        except Exception as e:  # noqa: BLE001
            error = f"{type(e).__name__}: {e}"
        out.append({"kwargs": kwargs, "where": "GRPOTrainer._generate_and_score_completions", "error": error})
    return out


def config_defaults(env):
    grpo_default = GRPOConfig(output_dir=os.path.join(env["tmp"], "cfg"), use_cpu=True, report_to="none")
    ta_default = TrainingArguments(output_dir=os.path.join(env["tmp"], "cfg"), use_cpu=True, report_to="none")
    resolutions = []
    for kwargs in [
        {"per_device_train_batch_size": 8},
        {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2},
        {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 4, "num_generations": 4},
        {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 4, "steps_per_generation": 2,
         "num_generations": 4},
        {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 1, "steps_per_generation": 4,
         "num_generations": 8},
        {"per_device_train_batch_size": 2, "gradient_accumulation_steps": 8, "generation_batch_size": 16,
         "num_generations": 8},
        {"per_device_train_batch_size": 8, "num_generations": 8, "scale_rewards": True},
        {"per_device_train_batch_size": 8, "num_generations": 8, "scale_rewards": False},
    ]:
        cfg = GRPOConfig(output_dir=os.path.join(env["tmp"], "cfg"), use_cpu=True, report_to="none", **kwargs)
        resolutions.append(
            {
                "kwargs": kwargs,
                "resolved": {
                    k: jsonable(getattr(cfg, k))
                    for k in [
                        "per_device_train_batch_size",
                        "gradient_accumulation_steps",
                        "num_generations",
                        "steps_per_generation",
                        "generation_batch_size",
                        "scale_rewards",
                    ]
                },
            }
        )
    return {
        "trl_version": trl.__version__,
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "note": (
            "'default' is the dataclass field default; 'resolved' is the value after __post_init__ of "
            "GRPOConfig(output_dir=..., use_cpu=True) (use_cpu because bf16 resolves to True and transformers then "
            "rejects a machine without a bf16 GPU), with world_size 1. 'exists': false means the field is gone "
            "from that class. TrainingArguments entries give the plain transformers default and what GRPOConfig "
            "(via TRL's _BaseConfig) makes of it. The derivation rule (GRPOConfig.__post_init__, grpo_config.py "
            "lines 1083-1103): neither generation_batch_size nor steps_per_generation set -> steps_per_generation = "
            "gradient_accumulation_steps, generation_batch_size = per_device_train_batch_size * world_size * "
            "steps_per_generation; only generation_batch_size -> it must be divisible by per_device_train_batch_size "
            "* world_size and steps_per_generation = its quotient; only steps_per_generation -> generation_batch_size "
            "= per_device_train_batch_size * world_size * steps_per_generation; both -> error."
        ),
        "grpo_config": {name: field_info(GRPOConfig, name, grpo_default) for name in GRPO_FIELDS},
        "training_arguments": {
            name: {
                "transformers": field_info(TrainingArguments, name, ta_default),
                "grpo_config": field_info(GRPOConfig, name, grpo_default),
            }
            for name in TRAINING_ARGS_FIELDS
        },
        "derived": resolutions,
        "validation_errors": config_errors(env),
        "runtime_errors": runtime_errors(env),
    }


# ---------------------------------------------------------------------------------------------------------------------


def write_json(path, obj):
    with open(path, "w") as fh:
        json.dump(obj, fh, indent=2, allow_nan=False)
        fh.write("\n")


def main():
    tmp = tempfile.mkdtemp(prefix="trl-grpo-fixtures-")
    try:
        model_dir, tok = build_tiny_model_dir(tmp)
        env = {"tmp": tmp, "model_dir": model_dir, "tok": tok}
        os.makedirs(OUT, exist_ok=True)

        tables = loss_tables()
        loss_cases = [run_loss_case(env, tables, *spec) for spec in loss_case_specs()]
        write_json(
            os.path.join(OUT, "loss-cases.json"),
            {"generator": "scripts/make-trl-grpo-fixtures.py", "trl_version": trl.__version__, "cases": loss_cases},
        )
        print(f"loss-cases.json: {len(loss_cases)} cases")
        for c in loss_cases:
            m = c["outputs"]["metrics"]
            print(f"  {c['name']:<40} loss {c['outputs']['loss']: .6g}  metrics {sorted(m)}")

        adv_cases = [run_advantage_case(env, *spec) for spec in advantage_case_specs()]
        write_json(
            os.path.join(OUT, "advantage-cases.json"),
            {"generator": "scripts/make-trl-grpo-fixtures.py", "trl_version": trl.__version__, "cases": adv_cases},
        )
        print(f"advantage-cases.json: {len(adv_cases)} cases")
        for c in adv_cases:
            adv = ", ".join(f"{a:.4g}" for a in c["outputs"]["advantages"])
            print(f"  {c['name']:<42} A [{adv}]  items {c['outputs']['num_items_in_batch']}")

        defaults = config_defaults(env)
        write_json(os.path.join(OUT, "config-defaults.json"), defaults)
        print(
            f"config-defaults.json: {len(defaults['grpo_config'])} GRPOConfig fields, "
            f"{len(defaults['training_arguments'])} TrainingArguments fields, "
            f"{len(defaults['validation_errors'])} validation attempts, {len(defaults['runtime_errors'])} runtime"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    biome = os.path.join(ROOT, "node_modules", ".bin", "biome")
    files = [os.path.join(OUT, f) for f in ("loss-cases.json", "advantage-cases.json", "config-defaults.json")]
    if os.path.exists(biome):
        subprocess.run([biome, "format", "--write", *files], cwd=ROOT, check=True, capture_output=True)
        print("formatted with biome")
    else:
        print("no node_modules/.bin/biome: run `npx biome format --write test/fixtures/trl-grpo` before committing")
    for f in files:
        print(f"  {os.path.relpath(f, ROOT)}: {os.path.getsize(f)} bytes")


if __name__ == "__main__":
    sys.exit(main())
