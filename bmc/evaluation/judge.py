"""Pairwise judging of instruction-following answers (AlpacaEval and Arena-Hard style).

Every question is judged twice, the model's answer shown first once and second once, so that a judge's
position bias cancels. The judge (any `bmc.llm.clients` kind: a local model, vLLM, or an OpenAI-compatible
endpoint) is asked with a `JudgePrompt`: Arena-Hard v0.1's own (its system prompt, user template, verdict
pattern and second attempt, read from the files the `arena_hard_judge` rule fetches) or the suite's
(`templates/pairwise_<version>.txt`, one user turn, the same labels). A verdict is read only from the
prompt's explicit labels, with Arena-Hard's semantics: every match of the pattern (`[[A>>B]]`, `[[A>B]]`,
`[[A=B]]`, `[[B>A]]`, `[[B>>A]]`; A = the answer shown first) is collected, and the reply has a verdict only
when they are all the same label of that scale. Anything else (no label, conflicting labels, a label off the
scale, a request that failed after its retries) is unparsed: `verdict` None, excluded from every rate and
reported. With two attempts (Arena-Hard), a reply holding no label at all is followed by the prompt's
follow-up turn and the verdict is read from both replies together, as Arena-Hard does. With
`judge.verdict_from: label_likelihood` a local judge writes nothing: its reply is the label of the scale it
finds most likely after the prompt (`label_texts`, `bmc.llm.label_choice`), read as a written one.
Judge outputs are cached by content hash the moment they arrive, so a rerun or a resumed run never asks twice.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from bmc.io import InputError
from bmc.llm.cache import ResponseCache, ask_uncached, content_key
from bmc.llm.clients import ChatClient

LABELS = ("A>>B", "A>B", "A=B", "B>A", "B>>A")
SUITE_PATTERN = r"\[\[([AB<>=]+)\]\]"  # Arena-Hard v0.1's pattern, for the suite's prompt too
# the files of Arena-Hard v0.1 the `arena_hard_judge` rule lays out (workflow/resources/arena_hard_judge.yaml)
ARENA_HARD_CONFIG, ARENA_HARD_SCRIPT = "judge_config.yaml", "gen_judgment.py"


@dataclass(frozen=True)
class JudgePrompt:
    """How the judge is asked. `user` has the placeholders `question`, `answer_a`, `answer_b`; `source` says
    where the prompt comes from (shown in scores.json and the tables)."""

    name: str
    user: str
    source: str
    system: str | None = None
    pattern: str = SUITE_PATTERN
    attempts: int = 1
    follow_up: str | None = None
    settings: dict | None = None  # the judge settings the prompt's protocol names (model, temperature, ...)

    @property
    def sha256(self) -> str:
        parts = [self.system or "", self.user, self.pattern, str(self.attempts), self.follow_up or ""]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def messages(self, question: str, answer_a: str, answer_b: str) -> list[dict]:
        user = self.user.format(question=question, answer_a=answer_a, answer_b=answer_b)
        head = [{"role": "system", "content": self.system}] if self.system else []
        return [*head, {"role": "user", "content": user}]

    def record(self) -> dict:
        """What scores.json says of the prompt."""
        return {"name": self.name, "source": self.source, "sha256": self.sha256}


def suite_prompt(version: str = "v1") -> JudgePrompt:
    """The suite's own prompt `templates/pairwise_<version>.txt` (placeholders question, answer_a, answer_b)."""
    path = resources.files("bmc.evaluation").joinpath("templates", f"pairwise_{version}.txt")
    if not path.is_file():
        raise FileNotFoundError(f"no judge template pairwise_{version}.txt in bmc/evaluation/templates")
    name = f"pairwise_{version}"
    return JudgePrompt(name, path.read_text(encoding="utf-8"), f"the suite's prompt {name}")


def arena_hard_prompt(folder: str | Path) -> JudgePrompt:
    """Arena-Hard v0.1's judge prompt from the folder the `arena_hard_judge` rule lays out: the system prompt,
    the single-turn user template, the verdict pattern and the number of attempts of `judge_config.yaml`, and
    the follow-up turn that `gen_judgment.py` sends when a reply holds no label."""
    folder = Path(folder)
    path = folder / ARENA_HARD_CONFIG
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    missing = [k for k in ("system_prompt", "prompt_template", "regex_pattern") if not config.get(k)]
    if missing:
        raise InputError(path, None, f"missing {missing}")
    templates = config["prompt_template"]
    if not isinstance(templates, list) or len(templates) != 1:
        raise InputError(path, None, "prompt_template should hold exactly one (single-turn) user template")
    # Arena-Hard's placeholders (question_1, answer_1 = shown first, answer_2) in the suite's names
    user = templates[0].replace("{", "{{").replace("}", "}}")
    for theirs, ours in (("question_1", "question"), ("answer_1", "answer_a"), ("answer_2", "answer_b")):
        if "{{" + theirs + "}}" not in user:
            raise InputError(path, None, f"prompt_template has no {{{theirs}}}")
        user = user.replace("{{" + theirs + "}}", "{" + ours + "}")
    attempts = int(config.get("number_of_judgment_attempts", 1))
    record = folder / "release.json"
    pinned = yaml.safe_load(record.read_text(encoding="utf-8")) if record.exists() else {}
    source = f"Arena-Hard v0.1's judge prompt ({pinned.get('url', folder)} at {pinned.get('commit', '?')})"
    return JudgePrompt(
        name=str(config.get("bench_name", "arena-hard-v0.1")),
        user=user,
        source=source,
        system=config["system_prompt"],
        pattern=config["regex_pattern"],
        attempts=attempts,
        follow_up=follow_up_turn(folder / ARENA_HARD_SCRIPT) if attempts > 1 else None,
        settings={k: config.get(k) for k in ("judge_model", "temperature", "max_tokens")},
    )


def follow_up_turn(script: Path) -> str:
    """The one user turn with a literal text that Arena-Hard's `judgment` function appends to a conversation:
    the request to finish with a verdict label, sent when a reply holds none."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    found = [
        text
        for fn in ast.walk(tree)
        if isinstance(fn, ast.FunctionDef) and fn.name == "judgment"
        for node in ast.walk(fn)
        if isinstance(node, ast.Dict) and (text := _literal_user_turn(node)) is not None
    ]
    if len(found) != 1:
        raise InputError(script, None, f"expected one literal user turn in judgment(), found {len(found)}")
    return found[0]


def _literal_user_turn(node: ast.Dict) -> str | None:
    """The text of a dict literal {"role": "user", "content": "<text>"}, else None."""
    pairs = {k.value: v for k, v in zip(node.keys, node.values, strict=True) if isinstance(k, ast.Constant)}
    role, content = pairs.get("role"), pairs.get("content")
    if isinstance(role, ast.Constant) and role.value == "user" and isinstance(content, ast.Constant):
        return content.value if isinstance(content.value, str) else None
    return None


def labels_in(text: str, pattern: str = SUITE_PATTERN) -> list[str]:
    """Every non-empty match of the verdict pattern, in order."""
    return [m for m in re.findall(pattern, text) if m != ""]


def parse_verdict(text: str, pattern: str = SUITE_PATTERN) -> str | None:
    """The verdict of a judge's reply: the one label it gives (it may repeat it), if that label is on the
    scale; None for no label, conflicting labels or a label off the scale."""
    found = set(labels_in(text, pattern))
    if len(found) != 1:
        return None
    (label,) = found
    return label if label in LABELS else None


def label_texts(prompt: JudgePrompt) -> list[str]:
    """The scale's labels as a judge writes them (`[[A>B]]`), for a judge that chooses one
    (`judge.verdict_from: label_likelihood`); each must read back as its label under the prompt's pattern."""
    texts = [f"[[{label}]]" for label in LABELS]
    unread = [t for t, label in zip(texts, LABELS, strict=True) if parse_verdict(t, prompt.pattern) != label]
    if unread:
        raise ValueError(
            f"judge.verdict_from label_likelihood writes labels as {texts[0]}, but the prompt {prompt.name}'s "
            f"pattern {prompt.pattern!r} does not read {unread}"
        )
    return texts


def requests_for(items: list[dict], prompt: JudgePrompt) -> list[dict]:
    """Two judge requests per item (model first, baseline first): {"id", "model_first", "messages"}."""
    out = []
    for it in items:
        for model_first in (True, False):
            a, b = (it["response"], it["baseline"]) if model_first else (it["baseline"], it["response"])
            out.append(
                {
                    "id": it["id"],
                    "model_first": model_first,
                    "messages": prompt.messages(it["question"], a, b),
                }
            )
    return out


def judge_key(identity: dict, prompt_name: str, template: str, messages: list[dict]) -> str:
    template_hash = hashlib.sha256(template.encode()).hexdigest()
    return content_key({"judge": identity, "template": [prompt_name, template_hash], "messages": messages})


def _key(identity: dict, prompt: JudgePrompt, messages: list[dict]) -> str:
    # the suite's prompts keep the key they always had (template name and text): caches stay valid
    return judge_key(identity, prompt.name, prompt.user if prompt.system is None else prompt.sha256, messages)


def _follow_up(prompt: JudgePrompt, messages: list[dict], reply: str) -> list[dict] | None:
    """The second attempt's conversation when the first reply holds no label at all (Arena-Hard), else None."""
    if prompt.attempts < 2 or labels_in(reply, prompt.pattern):
        return None
    return [*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": prompt.follow_up}]


def judge_keys(items: list[dict], identity: dict, prompt: JudgePrompt, cache: ResponseCache) -> list[str]:
    """The cache key of every request `judge` makes for `items`: two per item, and the second attempts the
    cached first replies call for."""
    keys = []
    for r in requests_for(items, prompt):
        keys.append(key := _key(identity, prompt, r["messages"]))
        reply = cache.get(key) if cache.has(key) else None
        if reply is not None and (again := _follow_up(prompt, r["messages"], reply)) is not None:
            keys.append(_key(identity, prompt, again))
    return keys


def judge(
    items: list[dict],
    identity: dict,
    judge_factory: Callable[[], ChatClient],
    cache: ResponseCache,
    prompt: JudgePrompt | None = None,
    chunk: int = 16,
    legacy: dict | None = None,
) -> tuple[list[dict], dict]:
    """(one judgment row per request, this run's judge usage with `cache_hits`).

    Items are {"id", "question", "response", "baseline"}; `prompt` defaults to the suite's. A row is {"id",
    "model_first", "verdict" (a label, or None when unparsed), "parsed", "reply", "attempts"} plus `error`
    when a request failed. The judge is built (once) only when some request is not cached yet; each output is
    cached as it arrives, so a killed run resumes where it stopped. `legacy`: the judge's identity as older
    cache keys spelled it (their entries are reused).
    """
    prompt = prompt or suite_prompt()
    requests = requests_for(items, prompt)
    made: list[ChatClient] = []

    def client() -> ChatClient:  # one judge for both attempts (a served judge starts one server)
        if not made:
            made.append(judge_factory())
        return made[0]

    # requests with the same messages (an answer equal to its baseline, shown in both orders) share one key
    keys = [_key(identity, prompt, r["messages"]) for r in requests]
    first = {key: r["messages"] for key, r in zip(keys, requests, strict=True)}
    aliases = None
    if legacy:
        aliases = {k: _key(legacy, prompt, m) for k, m in first.items()}
    hits = 0
    usage, failures = ask_uncached(first, client, cache, prompt.name, identity, chunk, "judging", aliases)
    hits += usage["cache_hits"]
    replies = {k: None if k in failures else cache.get(k) for k in first}
    second = {}
    for key, messages in first.items():
        again = _follow_up(prompt, messages, replies[key]) if replies[key] is not None else None
        if again is not None:
            second[key] = (_key(identity, prompt, again), again)
    if second:
        asked = dict(second.values())
        usage, failed = ask_uncached(asked, client, cache, prompt.name, identity, chunk, "judging again")
        hits += usage["cache_hits"]
        failures |= failed
    if made:
        usage = dict(made[0].usage)
    usage["cache_hits"] = hits
    rows = []
    for request, key in zip(requests, keys, strict=True):
        reply, error, attempts = replies[key], failures.get(key), 1
        if key in second:
            key2, attempts = second[key][0], 2
            error = failures.get(key2)
            # Arena-Hard reads the verdict from both replies, joined as it joins them
            reply = None if error else f"\n{reply}\n{cache.get(key2)}"
        verdict = parse_verdict(reply, prompt.pattern) if reply is not None else None
        row = {
            "id": request["id"],
            "model_first": request["model_first"],
            "verdict": verdict,
            "parsed": verdict is not None,
            "reply": reply,
            "attempts": attempts,
        }
        if error:
            row["error"] = error
        rows.append(row)
    return rows, usage


# a verdict in the order shown -> the preference for the answer shown first (a strong verdict counts as one)
FIRST_WINS = {"A>>B": 1.0, "A>B": 1.0, "A=B": 0.5, "B>A": 0.0, "B>>A": 0.0}


def model_preference(judgment: dict) -> float | None:
    """The judgment's preference for the model's answer in [0, 1] (1 = the model's, 0 = the baseline's, 0.5 a
    tie), or None for an unparsed judgment. A graded judgment (the `alpaca_eval` library's weighted annotator)
    carries its own `p_model`; a label verdict gives 1, 0.5 or 0."""
    if judgment.get("verdict") is None:
        return None
    if judgment.get("p_model") is not None:
        return float(judgment["p_model"])
    first = FIRST_WINS[judgment["verdict"]]
    return first if judgment["model_first"] else 1.0 - first


def unparsed_counts(judgments: list[dict], bound: float) -> dict:
    """How many judgments have no verdict, their share, and the bound it is held to."""
    unparsed = sum(j["verdict"] is None for j in judgments)
    return {
        "judgments": len(judgments),
        "unparsed": unparsed,
        "unparsed_share": round(unparsed / len(judgments), 4) if judgments else 0.0,
        "max_unparsed_share": bound,
        "failed": sum("error" in j for j in judgments),
    }


def check_unparsed_shares(score_paths: list[str]) -> None:
    """Fail (InputError naming every such file, its share and its bound) when a judged scores file has more
    judgments without a verdict than its `max_unparsed_share`; scores of graded tasks are not judged and pass."""
    over = []
    for path in score_paths:
        scores = json.loads(Path(path).read_text(encoding="utf-8"))
        if "unparsed_share" not in scores:
            continue
        share, bound = float(scores["unparsed_share"]), float(scores.get("max_unparsed_share", 1.0))
        if share > bound:
            over.append(
                f"{path}: {scores['unparsed']} of {scores['judgments']} judgments ({100 * share:.1f}%) have no "
                f"verdict, above judge.max_unparsed_share {100 * bound:.1f}%"
            )
    if over:
        raise InputError(
            over[0].split(": ", 1)[0],
            None,
            "too many judgments without a verdict (unparsed replies or failed requests; see `reply` and "
            "`error` in judgments.jsonl beside each file):\n  " + "\n  ".join(over),
        )
