"""The reward functions of vision-grpo for TRL's GRPOTrainer: the same scores as the in-browser trainer
(src/grpo/rewards/), in pure Python.

grounding: 1 when the answer box's IoU with the ground truth is at least the threshold, else 0.
iou: that IoU (0 without a box). format: 1 when `<think>...</think>` then `<answer>...</answer>` make up
the whole completion (with the prompt's prefill from its last `<think>` in front), else 0.

The answer box may be written `[x1, y1, x2, y2]`, `{"bbox": [...]}`, `{"bbox_2d": [...]}` or
`<|box_start|>(x1,y1),(x2,y2)<|box_end|>`; the earliest in the answer wins. It is read in the run's box
space (pixels of the original image, pixels of the resized model input, 0-1000 or 0-1 normalised) and
mapped to original-image pixels before the IoU. Whitespace is trimmed as JavaScript trims it and digits
are ASCII only, so every completion scores here exactly as it does in the browser.

TRL calls each function with the completions and the dataset's columns: `box` (ground truth, original
pixels), `width`, `height`, `input_width`, `input_height` (the resized model input), and optionally
`box_space` and `prefill` per row.
"""

import math
import re

# JavaScript's whitespace (String.prototype.trim, \s): Python's str.strip() and \s differ from it (they
# take U+001C-U+001F and U+0085, not U+FEFF).
JS_SPACE = (
    "\t\n\x0b\x0c\r \xa0\u1680"
    + "".join(chr(c) for c in range(0x2000, 0x200B))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# Python's \s for str patterns, which the format check is defined by (the tutorial's re.fullmatch).
PY_SPACE = r"\s"

NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
QWEN2VL = re.compile(r"<\|box_start\|>(.*?)<\|box_end\|>", re.DOTALL)
QWEN2VL_POINTS = re.compile(
    rf"[{JS_SPACE}]*\(([^()]*)\)[{JS_SPACE}]*,[{JS_SPACE}]*\(([^()]*)\)[{JS_SPACE}]*"
)
KEYED = re.compile(rf"[\"'](bbox_2d|bbox)[\"'][{JS_SPACE}]*:[{JS_SPACE}]*\[([^\[\]]*)\]")
LIST = re.compile(r"\[([^\[\]]*)\]")
# The Qwen2-VL form with its markers gone: TRL decodes completions with skip_special_tokens, which drops
# <|box_start|> and <|box_end|>. A third point after the two leaves it malformed, as it is with markers.
STRIPPED_POINTS = re.compile(
    rf"[{JS_SPACE}]*\(([^()]*)\)[{JS_SPACE}]*,[{JS_SPACE}]*\(([^()]*)\)((?:[{JS_SPACE}]*,[{JS_SPACE}]*\([^()]*\))*)"
)
FORMAT = re.compile(rf"<think>.*?</think>{PY_SPACE}*<answer>.*?</answer>", re.DOTALL)
TRAILING_STOP = re.compile(r"(?:<\|im_end\|>|<\|endoftext\|>)+\Z")

BOX_SPACES = ("pixels", "input-pixels", "norm1000", "norm1")


def js_trim(text):
    return text.strip(JS_SPACE)


def _read_numbers(items):
    if len(items) != 4:
        return None
    values = []
    for item in items:
        text = js_trim(item)
        if not NUMBER.fullmatch(text):
            return None
        value = float(text)
        if not math.isfinite(value):
            return None
        values.append(value)
    return values


def _split_list(inner):
    return [] if js_trim(inner) == "" else inner.split(",")


def _read_qwen2vl(inner):
    m = QWEN2VL_POINTS.fullmatch(inner)
    points = [_split_list(m.group(1)), _split_list(m.group(2))] if m else []
    if len(points) != 2 or any(len(p) != 2 for p in points):
        return None
    return _read_numbers(points[0] + points[1])


def _answer_text(completion):
    start = completion.find("<answer>")
    end = -1 if start < 0 else completion.find("</answer>", start + len("<answer>"))
    if end < 0:
        return completion
    return completion[start + len("<answer>") : end]


def _read_stripped(m):
    if m.group(3):
        return None
    points = [_split_list(m.group(1)), _split_list(m.group(2))]
    if any(len(p) != 2 for p in points):
        return None
    return _read_numbers(points[0] + points[1])


def parse_answer(completion, markers_stripped=False):
    """The answer's box [x1, y1, x2, y2] as written, or None. With markers_stripped, a bare
    `(x1,y1),(x2,y2)` is read as the Qwen2-VL form whose special-token markers the decoding dropped."""
    text = _answer_text(completion)
    if js_trim(text) == "":
        return None
    found = []
    m = QWEN2VL.search(text)
    if m:
        found.append((m.start(), lambda m=m: _read_qwen2vl(m.group(1))))
    m = KEYED.search(text)
    if m:
        found.append((m.start(), lambda m=m: _read_numbers(_split_list(m.group(2)))))
    m = LIST.search(text)
    if m:
        found.append((m.start(), lambda m=m: _read_numbers(_split_list(m.group(1)))))
    m = STRIPPED_POINTS.search(text) if markers_stripped else None
    if m:
        found.append((m.start(), lambda m=m: _read_stripped(m)))
    if not found:
        return None
    found.sort(key=lambda f: f[0])
    return found[0][1]()


def to_original_pixels(box, space, width, height, input_width, input_height):
    rx, ry = {
        "pixels": ((1, 1), (1, 1)),
        "input-pixels": ((width, input_width), (height, input_height)),
        "norm1000": ((width, 1000), (height, 1000)),
        "norm1": ((width, 1), (height, 1)),
    }[space]
    x1, y1, x2, y2 = box
    return [(x1 * rx[0]) / rx[1], (y1 * ry[0]) / ry[1], (x2 * rx[0]) / rx[1], (y2 * ry[0]) / ry[1]]


def iou(a, b):
    """IoU of [x1, y1, x2, y2] rectangles; an inverted box has area 0, a non-finite one gives 0."""
    if not all(math.isfinite(v) for v in list(a) + list(b)):
        return 0.0

    def area(r):
        return max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1])

    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = area(a) + area(b) - inter
    return min(1.0, inter / union) if union > 0 else 0.0


def answer_iou(completion, box, space, width, height, input_width, input_height, markers_stripped=False):
    parsed = parse_answer(completion, markers_stripped)
    if parsed is None:
        return 0.0
    return iou(to_original_pixels(parsed, space, width, height, input_width, input_height), box)


def format_score(completion, prefill):
    think = prefill.rfind("<think>")
    head = "" if think < 0 else prefill[think:]
    return 1.0 if FORMAT.fullmatch(head + TRAILING_STOP.sub("", completion, count=1)) else 0.0


def _text(completion):
    """TRL passes a string, or for conversational data a list of messages."""
    if isinstance(completion, str):
        return completion
    return "".join(m["content"] if isinstance(m["content"], str) else "" for m in completion)


def make_rewards(iou_threshold=0.5, prefill="", box_space="pixels", answer_form="list"):
    """The reward functions for GRPOTrainer(reward_funcs=...), named as our metrics name them. With
    answer_form 'qwen2vl', answers whose <|box_start|> / <|box_end|> TRL's decoding dropped still count."""
    stripped = answer_form == "qwen2vl"

    def rows(completions, kwargs):
        n = len(completions)
        spaces = kwargs.get("box_space") or [box_space] * n
        prefills = kwargs.get("prefill") or [prefill] * n
        for i, c in enumerate(completions):
            frame = (kwargs["width"][i], kwargs["height"][i], kwargs["input_width"][i], kwargs["input_height"][i])
            yield _text(c), kwargs["box"][i], spaces[i], frame, prefills[i]

    def grounding(completions, **kwargs):
        return [
            1.0 if answer_iou(t, box, space, *frame, stripped) >= iou_threshold else 0.0
            for t, box, space, frame, _ in rows(completions, kwargs)
        ]

    def iou_reward(completions, **kwargs):
        return [answer_iou(t, box, space, *frame, stripped) for t, box, space, frame, _ in rows(completions, kwargs)]

    def format_reward(completions, **kwargs):
        return [format_score(t, p) for t, _, _, _, p in rows(completions, kwargs)]

    iou_reward.__name__ = "iou"
    format_reward.__name__ = "format"
    return {"grounding": grounding, "iou": iou_reward, "format": format_reward}
