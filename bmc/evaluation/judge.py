"""Pairwise judging of instruction-following answers (AlpacaEval and Arena-Hard style).

Every question is judged twice, the model's answer shown first once and second once, so that a judge's
position bias cancels. The judge (any `bmc.llm.clients` kind: a local model, vLLM, or an
OpenAI-compatible endpoint) answers with a verdict label "[[A>>B]]", "[[A>B]]", "[[A=B]]", "[[B>A]]" or
"[[B>>A]]" (A = the answer shown first; single brackets are read too); a bare "A" or "B" (what small
judges tend to say) counts as a plain preference, a reply that lists three or more labels as none. A
reply with no verdict counts as a tie and is reported (`unparsed`), never dropped silently; so does a request
the judge failed after its retries (`error` gives the reason; it is not cached, a later run asks it again).
Judge outputs are cached by content hash the moment they arrive, so a rerun or a resumed run never asks twice.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from importlib import resources

from bmc.llm.cache import ResponseCache, ask_uncached, content_key
from bmc.llm.clients import ChatClient

# a label in double (or, as small judges write it, single) brackets
VERDICT = re.compile(r"\[\[?\s*(A\s*>>\s*B|A\s*>\s*B|A\s*=\s*B|B\s*>\s*A|B\s*>>\s*A)\s*\]\]?")
# a bare choice at the start: "Answer B", "(b)", or a letter standing alone ("A", "A:", "B) ...", "A is
# better"); not the article of a sentence that merely begins with "A" ("A boy and girl can ...")
BARE = re.compile(
    r"^\W*(?:(?:answer|output|assistant)\s*\(?([AB])\)?(?!\w)|\(([AB])\)|([AB])(?=[ \t]*(?:\n|$)|\s*[^\w\s]|\s+(?:is|wins)\b))",
    re.IGNORECASE,
)
TIE = "A=B"


def load_judge_template(version: str = "v1") -> tuple[str, str]:
    """(name, text) of the packaged judge prompt; placeholders question, answer_a, answer_b."""
    path = resources.files("bmc.evaluation").joinpath("templates", f"pairwise_{version}.txt")
    if not path.is_file():
        raise FileNotFoundError(f"no judge template pairwise_{version}.txt in bmc/evaluation/templates")
    return f"pairwise_{version}", path.read_text(encoding="utf-8")


def parse_verdict(text: str) -> str | None:
    """The verdict label of a judge's reply ("A>>B", ..., "B>>A"), or None when it gives none."""
    found = [re.sub(r"\s+", "", label) for label in VERDICT.findall(text)]
    if len(set(found)) >= 3:  # the list of labels echoed from the prompt, not a choice among them
        return None
    if found:
        return found[-1]
    bare = BARE.match(text.strip())
    if bare:
        letter = next(g for g in bare.groups() if g)
        return "A>B" if letter.upper() == "A" else "B>A"
    return None


def requests_for(items: list[dict], template: str) -> list[dict]:
    """Two judge requests per item (model first, baseline first): {"id", "model_first", "messages"}."""
    out = []
    for it in items:
        for model_first in (True, False):
            a, b = (it["response"], it["baseline"]) if model_first else (it["baseline"], it["response"])
            text = template.format(question=it["question"], answer_a=a, answer_b=b)
            out.append(
                {"id": it["id"], "model_first": model_first, "messages": [{"role": "user", "content": text}]}
            )
    return out


def judge_key(identity: dict, template_name: str, template: str, messages: list[dict]) -> str:
    template_hash = hashlib.sha256(template.encode()).hexdigest()
    return content_key({"judge": identity, "template": [template_name, template_hash], "messages": messages})


def judge_keys(items: list[dict], identity: dict, version: str = "v1") -> list[str]:
    """The cache key of every request `judge` makes for `items` (two per item, in order)."""
    name, template = load_judge_template(version)
    return [judge_key(identity, name, template, r["messages"]) for r in requests_for(items, template)]


def judge(
    items: list[dict],
    identity: dict,
    judge_factory: Callable[[], ChatClient],
    cache: ResponseCache,
    version: str = "v1",
    chunk: int = 16,
    legacy: dict | None = None,
) -> tuple[list[dict], dict]:
    """(one judgment row per request, this run's judge usage with `cache_hits`).

    Items are {"id", "question", "response", "baseline"}. The judge is built only when some request is
    not cached yet; each output is cached as it arrives, so a killed run resumes where it stopped.
    `legacy`: the judge's identity as older cache keys spelled it (their entries are reused).
    """
    name, template = load_judge_template(version)
    requests = requests_for(items, template)
    keys = judge_keys(items, identity, version)
    messages = {key: r["messages"] for key, r in zip(keys, requests, strict=True)}
    aliases = {k: judge_key(legacy, name, template, m) for k, m in messages.items()} if legacy else None
    usage, failures = ask_uncached(messages, judge_factory, cache, name, identity, chunk, "judging", aliases)
    rows = []
    for request, key in zip(requests, keys, strict=True):
        reply = None if key in failures else cache.get(key)
        verdict = parse_verdict(reply) if reply is not None else None
        row = {
            "id": request["id"],
            "model_first": request["model_first"],
            "verdict": verdict or TIE,
            "parsed": verdict is not None,
            "reply": reply,
        }
        if key in failures:
            row["error"] = failures[key]
        rows.append(row)
    return rows, usage


def model_preference(judgment: dict) -> float:
    """1 if the judgment prefers the model's answer, 0 if the baseline's, 0.5 for a tie."""
    first = {"A>>B": 1.0, "A>B": 1.0, "A=B": 0.5, "B>A": 0.0, "B>>A": 0.0}[judgment["verdict"]]
    return first if judgment["model_first"] else 1.0 - first
