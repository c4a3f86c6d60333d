"""Diff algorithm: the masks of difflib (the released code) and Levenshtein (the paper's text) on the same
bridged pairs: the share of response tokens each marks as varied, and how far the two masks agree; with
`analysis.diff_training`, DPO-BMC's score per algorithm under the released rule (the paper's) with the corrected
rule beside it."""

from __future__ import annotations

from bmc.analysis.common import RULE_STYLES, Analysis, describe, group_ticks, interval_errors, rules_note
from bmc.config import AnalysisJob
from bmc.io import read_jsonl

TITLE = "Diff algorithm: tokens marked varied by difflib vs Levenshtein, and their agreement"
ALGORITHMS = ("difflib", "levenshtein")


def agreement(a: list[int], b: list[int]) -> dict:
    """Share of positions where two masks agree, and the Jaccard overlap of their marked positions."""
    if len(a) != len(b):
        raise ValueError("masks of different lengths")
    same = sum(x == y for x, y in zip(a, b, strict=True))
    both = sum(x and y for x, y in zip(a, b, strict=True))
    either = sum(x or y for x, y in zip(a, b, strict=True))
    return {"agreement": same / len(a) if a else 1.0, "jaccard": both / either if either else 1.0}


def pair_row(tokenizer, stop_ids, pair: dict, fmt: str) -> dict:
    from bmc.analysis.scoring import encode, response_masks

    user = pair["prompt"][0]["content"]
    prompt, chosen = encode(tokenizer, user, pair["chosen"], fmt)
    _, rejected = encode(tokenizer, user, pair["rejected"], fmt)
    masks = {a: response_masks(prompt, chosen, rejected, stop_ids, a) for a in ALGORITHMS}
    row = {"id": pair["id"], "chosen_tokens": len(chosen), "rejected_tokens": len(rejected)}
    for a, (cm, rm) in masks.items():
        row[f"{a}_marked_share"] = (sum(cm) + sum(rm)) / max(len(cm) + len(rm), 1)
    whole = [m[0] + m[1] for m in masks.values()]
    return row | agreement(*whole)


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `model:<task>` (a folder with the tokenizer) and `pairs:<task>` (bridged pairs); settings per task
    `prompt_format` and `stopword_forms`."""
    from bmc.alignment.stopwords import stopword_ids
    from bmc.models.prepare import load_tokenizer

    rows, summary = [], {}
    tasks = sorted(k.split(":", 1)[1] for k in inputs if k.startswith("model:"))
    for task in tasks:
        train = settings.task(task)
        tokenizer = load_tokenizer(inputs[f"model:{task}"][0])
        stop_ids = stopword_ids(tokenizer, train.stopword_forms == "with_leading_space")
        task_rows = [
            {"task": task} | pair_row(tokenizer, stop_ids, p, train.prompt_format)
            for p in read_jsonl(inputs[f"pairs:{task}"][0])
        ]
        rows += task_rows
        summary[task] = {
            "pairs": len(task_rows),
            **{
                f"{a}_marked_share": describe([r[f"{a}_marked_share"] for r in task_rows]) for a in ALGORITHMS
            },
            "agreement": describe([r["agreement"] for r in task_rows]),
            "jaccard": describe([r["jaccard"] for r in task_rows]),
        }

    from bmc.analysis.fig3_bridged_proportion import sweep_curve

    score_rows, scores = sweep_curve(inputs, "diff")  # DPO-BMC trained on each algorithm's masks, if asked
    for task, by_algorithm in scores.items():
        summary.setdefault(task, {})["score"] = by_algorithm

    def draw(shares, agree, *score_ax):
        for j, a in enumerate(ALGORITHMS):
            xs = [i + 0.38 * j for i in range(len(tasks))]
            shares.bar(
                xs,
                [100 * summary[t][f"{a}_marked_share"]["mean"] for t in tasks],
                0.36,
                color=f"C{j}",
                label=a,
            )
        group_ticks(shares, tasks)
        shares.set_ylabel("response tokens marked varied (%)")
        for j, key in enumerate(("agreement", "jaccard")):
            xs = [i + 0.38 * j for i in range(len(tasks))]
            agree.bar(xs, [summary[t][key]["mean"] for t in tasks], 0.36, color=f"C{j + 2}", label=key)
        group_ticks(agree, tasks)
        agree.set_ylabel("mask agreement, difflib vs Levenshtein")
        agree.set_ylim(0, 1.05)
        for ax in score_ax:
            score_bars(ax, tasks, scores)

    cells = [c for by_algorithm in scores.values() for c in by_algorithm.values()]
    return Analysis(rows, summary, draw, panels=3 if score_rows else 2, notes=rules_note(cells))


def score_bars(ax, tasks: list[str], scores: dict[str, dict[str, dict]]) -> None:
    """DPO-BMC's score per task and algorithm: a bar for the released rule (the paper's) and a hollow marker for
    the corrected rule beside it, each with its 95% interval; a missing score is no bar but a label saying so (a
    bar at 0 would read as a measured 0%)."""
    corrected, drawn = RULE_STYLES["corrected"], False  # the corrected markers are labelled once
    for j, a in enumerate(ALGORITHMS):
        xs = [i + 0.38 * j for i in range(len(tasks))]
        cells = [scores.get(t, {}).get(a) or {} for t in tasks]
        scored = [
            (x, c)
            for x, c in zip(xs, cells, strict=True)
            if (c.get("released") or {}).get("score") is not None
        ]
        if scored:
            released = [c["released"] for _, c in scored]
            ax.bar(
                [x for x, _ in scored],
                [c["score"] for c in released],
                0.36,
                yerr=interval_errors(released),
                capsize=3,
                color=f"C{j}",
                label=f"{a}, {RULE_STYLES['released']['label']}",
            )
            graded = [(x, c["corrected"]) for x, c in scored if c["corrected"]["score"] is not None]
            if graded:
                ax.errorbar(
                    [x + 0.09 for x, _ in graded],
                    [c["score"] for _, c in graded],
                    yerr=interval_errors([c for _, c in graded]),
                    fmt="s",
                    capsize=2,
                    color="black",
                    mfc=corrected["mfc"],
                    label=None if drawn else corrected["label"],
                )
                drawn = True
        for x, c in zip(xs, cells, strict=True):
            if (c.get("released") or {}).get("score") is None:
                ax.text(
                    x, 0, f"{a}: no score", rotation=90, ha="center", va="bottom", fontsize=7, color=f"C{j}"
                )
    group_ticks(ax, tasks)
    ax.set_ylabel("DPO-BMC average score (%, 95% interval)")
