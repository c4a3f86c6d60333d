"""Figure 2: how surprising y_l's varied spans are to the reference (SFT) model.

A span is a maximal run of y_l tokens that the diff against ỹ_w marks as varied (no stop-word filter: the
span as the diff finds it). −log p of each span's first token is compared with that of the tokens after it
in the same span. Paper (Llama-2-7B, QA): 13.79 for the first token vs 1.81 for the following ones.
"""

from __future__ import annotations

from bmc.analysis.common import Analysis, describe, group_ticks
from bmc.config import AnalysisJob
from bmc.io import read_jsonl

TITLE = "Figure 2: −log p (SFT model) of y_l's varied spans: first token vs the tokens after it"


def span_split(nll: list[float], mask: list[int]) -> tuple[list[float], list[float]]:
    """(first token of each run of 1s in `mask`, every later token of a run): their values in `nll`."""
    if len(nll) != len(mask):
        raise ValueError(f"{len(nll)} values for a mask of {len(mask)} tokens")
    first, following = [], []
    for i, m in enumerate(mask):
        if m:
            (following if i > 0 and mask[i - 1] else first).append(nll[i])
    return first, following


def pair_tokens(model, tokenizer, pair: dict, fmt: str, algorithm: str) -> tuple[list[float], list[float]]:
    """(first, following) −log p of one pair's y_l spans under `model`."""
    from bmc.analysis.scoring import encode, response_logps, response_masks

    user = pair["prompt"][0]["content"]
    prompt, chosen = encode(tokenizer, user, pair["chosen"], fmt)
    _, rejected = encode(tokenizer, user, pair["rejected"], fmt)
    _, mask = response_masks(prompt, chosen, rejected, frozenset(), algorithm)
    nll = [-lp for lp in response_logps(model, prompt, rejected)]
    return span_split(nll, mask)


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `model:<task>` (SFT folder) and `pairs:<task>` (bridged pairs) per task; settings per task
    `prompt_format` and `diff_algorithm`, and `max_pairs`."""
    from bmc.analysis.scoring import load

    rows, summary = [], {}
    tasks = sorted(k.split(":", 1)[1] for k in inputs if k.startswith("model:"))
    for task in tasks:
        model, tokenizer = load(inputs[f"model:{task}"][0])
        train = settings.task(task)
        pairs = read_jsonl(inputs[f"pairs:{task}"][0])[: settings.max_pairs]
        first_all, following_all = [], []
        for pair in pairs:
            first, following = pair_tokens(
                model,
                tokenizer,
                pair,
                train.prompt_format,
                train.diff_algorithm,
            )
            rows += [{"task": task, "id": pair["id"], "position": "first", "nll": v} for v in first]
            rows += [{"task": task, "id": pair["id"], "position": "following", "nll": v} for v in following]
            first_all += first
            following_all += following
        summary[task] = {
            "pairs": len(pairs),
            "first": describe(first_all),
            "following": describe(following_all),
        }

    def draw(bars, hist):
        for i, task in enumerate(tasks):
            for j, position in enumerate(("first", "following")):
                d = summary[task][position]
                if d["mean"] is None:
                    continue
                err = None
                if d["ci_low"] is not None:
                    err = [[d["mean"] - d["ci_low"]], [d["ci_high"] - d["mean"]]]
                bars.bar(
                    i + 0.38 * j,
                    d["mean"],
                    0.36,
                    yerr=err,
                    capsize=3,
                    color=f"C{j}",
                    label=position if i == 0 else None,
                )
        group_ticks(bars, tasks)
        bars.set_ylabel("mean −log p (95% bootstrap CI)")
        for j, position in enumerate(("first", "following")):
            values = [r["nll"] for r in rows if r["position"] == position]
            if values:
                hist.hist(values, bins=30, alpha=0.5, density=True, color=f"C{j}", label=position)
        hist.set_xlabel("−log p of a span token")
        hist.set_ylabel("density")

    return Analysis(rows, summary, draw, panels=2)
