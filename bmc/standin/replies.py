"""What the stand-in OpenAI endpoint (`bmc.standin.openai_server`) answers to each of the suite's clients.

Every reply is a function of the request alone (a sha256 of its messages), so a rerun gets the same bytes:
- the bridging editor (a prompt rendered from one of `bmc/bridging/templates`): a targeted edit of the
  response it was given, in the form its strategy asks for. y_l → ỹ_w (`targeted`): y_l with its last line
  replaced by y_w's (for QA and math the final-answer line, so the bridged pair grades as correct); without y_w
  (`targeted_no_ref`): y_l with a closing remark (a QA or math edit then fails validation and falls back);
  `inverse`: y_w with its final answer changed; `free`: y_w under an opening sentence;
- the pairwise judge (a prompt naming the labels [[A>>B]] ... [[B>>A]]: the suite's or Arena-Hard's): a short
  judgment ending in one label drawn from the hash; one request in `unparsed_every` gets a reply without a
  verdict instead, alternately no label (Arena-Hard then asks again, and the follow-up turn gets a label) and
  two conflicting labels (unparsed for good);
- alpaca_eval's weighted annotator (its prompt asks for the identifier "m" or "M" with `logprobs`): one token
  and the top log-probabilities, with P(m) drawn from the hash; one request in `unparsed_every` gets top tokens
  without "m" or "M" (the library then has no preference);
- anything else: a short fixed sentence with the request's hash.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from dataclasses import dataclass
from functools import cache
from importlib import resources

LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
ANSWER_LINE = re.compile(r"(?im)^.*the answer is.*$")


@dataclass(frozen=True)
class Reply:
    text: str
    logprobs: dict | None = None  # the OpenAI chat format's `logprobs` ({"content": [...]})
    finish_reason: str = "stop"


def request_hash(messages: list[dict]) -> int:
    return int(hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest(), 16)


def reply_to(body: dict, unparsed_every: int = 40) -> Reply:
    """The stand-in's reply to a chat completions request body."""
    messages = body.get("messages") or []
    texts = [m.get("content") if isinstance(m.get("content"), str) else "" for m in messages]
    h = request_hash(messages)
    odd = unparsed_every > 0 and (h // 7919) % unparsed_every == 0
    joined = "\n".join(texts)
    if body.get("logprobs") and '"model_identifier": "m"' in joined:
        return annotator_reply(h, odd, int(body.get("top_logprobs") or 5))
    if "[[A>>B]]" in joined and "[[B>>A]]" in joined:
        follow_up = any(m.get("role") == "assistant" for m in messages)
        return judge_reply(h, odd and not follow_up, h % 2 == 0)
    user = next((t for m, t in zip(messages, texts, strict=True) if m.get("role") == "user"), "")
    edit = editor_reply(user)
    if edit is not None:
        return Reply(edit)
    return Reply(f"Stand-in reply {h % 10**8:08d}.")


def judge_reply(h: int, unparsed: bool, no_label: bool) -> Reply:
    if unparsed and no_label:
        return Reply("Both answers address the question; I cannot tell them apart yet.")
    if unparsed:
        return Reply("Assistant A is clearer: [[A>B]]. On reflection, Assistant B is better: [[B>A]].")
    label = LABELS[h % len(LABELS)]
    return Reply(f"Both answers were compared with the prompt.\n\nMy final verdict is: [[{label}]]")


def annotator_reply(h: int, unparsed: bool, top: int) -> Reply:
    """One token and its top log-probabilities, as OpenAI returns them with `logprobs` and `top_logprobs`."""
    if unparsed:
        tokens = {"Both": -0.2, "The": -2.0, "Neither": -3.0, "I": -4.0, "Based": -5.0}
    else:
        p_m = 0.05 + 0.9 * ((h % 10007) / 10006)
        tokens = {"m": math.log(0.98 * p_m), "M": math.log(0.98 * (1 - p_m)), "Both": -6.0, "The": -7.0}
        tokens["Based"] = -8.0
    ranked = sorted(tokens.items(), key=lambda kv: -kv[1])[: max(top, 1)]

    def entry(token: str, logprob: float) -> dict:
        return {"token": token, "logprob": logprob, "bytes": list(token.encode())}

    best = ranked[0][0]
    content = [{**entry(best, tokens[best]), "top_logprobs": [entry(t, lp) for t, lp in ranked]}]
    return Reply(best, {"content": content}, "length")


@dataclass(frozen=True)
class EditorPrompt:
    task: str
    strategy: str
    pattern: re.Pattern


@cache
def editor_prompts() -> tuple[EditorPrompt, ...]:
    """Every packaged bridging template as a pattern capturing its placeholders."""
    from bmc.bridging.prompts import STRATEGIES

    found = []
    root = resources.files("bmc.bridging").joinpath("templates")
    for task_dir in sorted(root.iterdir(), key=lambda p: p.name):
        if not task_dir.is_dir():
            continue
        for path in sorted(task_dir.iterdir(), key=lambda p: p.name):
            strategy = path.name.rsplit("_", 1)[0]
            if strategy in STRATEGIES and path.name.endswith(".txt"):
                found.append(EditorPrompt(task_dir.name, strategy, template_pattern(path.read_text("utf-8"))))
    return tuple(found)


def template_pattern(text: str) -> re.Pattern:
    """A pattern matching the template rendered with any values, one named group per placeholder."""
    parts = []
    for literal, field, _, _ in string.Formatter().parse(text):
        parts.append(re.escape(literal))
        if field:
            parts.append(f"(?P<{field}>.*?)")
    return re.compile("".join(parts), re.DOTALL)


def editor_reply(user: str) -> str | None:
    """The edit a bridging prompt asks for, or None when `user` is no bridging prompt."""
    for prompt in editor_prompts():
        match = prompt.pattern.fullmatch(user)
        if match:
            fields = match.groupdict()
            return edit(prompt.task, prompt.strategy, fields.get("chosen"), fields.get("rejected"))
    return None


def _lines(text: str) -> list[str]:
    return text.strip().splitlines() or [""]


def edit(task: str, strategy: str, chosen: str | None, rejected: str | None) -> str:
    if strategy == "targeted" and chosen is not None and rejected is not None:
        lines = _lines(rejected)
        lines[-1] = _lines(chosen)[-1]
        out = "\n".join(lines)
        if out.strip() in (chosen.strip(), rejected.strip()):
            out = "Correcting the draft where it went wrong.\n" + _lines(chosen)[-1]
        return out
    if strategy == "targeted_no_ref" and rejected is not None:
        return rejected.strip() + "\nThis revision keeps the draft's wording."
    if strategy == "inverse" and chosen is not None:
        lines = _lines(chosen)
        lines[-1] = wrong_answer(task, lines[-1])
        return "\n".join(lines)
    return "Here is the response in other words.\n" + (chosen or "").strip()


def wrong_answer(task: str, line: str) -> str:
    """The final line with a different final answer (math: the last number plus one)."""
    if task == "math":
        numbers = list(re.finditer(r"-?\d+", line))
        if numbers:
            last = numbers[-1]
            return line[: last.start()] + str(int(last.group()) + 1) + line[last.end() :]
        return "The answer is: $-1$."
    if task == "qa" or ANSWER_LINE.fullmatch(line):
        return "The answer is none of the options"
    return line + " (this may not hold)"
