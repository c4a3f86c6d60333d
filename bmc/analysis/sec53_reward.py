"""§5.3: implicit sequence rewards r(y) = β·(log π(y) − log π_ref(y)) on held-out pairs, DPO vs DPO-BMC.

Held-out pairs are made from the test questions, which no model trained on: y_w = the gold solution, y_l =
the SFT model's answer where the grader marked it wrong (a test set without gold solutions is skipped).
Per method: accuracy (share of pairs with r(y_w) > r(y_l)) and mean margin r(y_w) − r(y_l); for DPO-BMC
minus DPO a paired bootstrap CI. Paper: accuracy 72.19% vs 73.60%, margin 0.54 vs 0.74.
"""

from __future__ import annotations

from bmc.analysis.common import Analysis, describe, group_ticks
from bmc.config import AnalysisJob
from bmc.io import read_jsonl
from bmc.reporting.power import paired_bootstrap

TITLE = "§5.3: implicit reward accuracy and margin on held-out pairs, DPO vs DPO-BMC"
METHODS = ("DPO", "DPO-BMC")


def reward_stats(policy: list[tuple[float, float]], ref: list[tuple[float, float]], beta: float) -> dict:
    """From (log π(y_w), log π(y_l)) and the reference's, per pair: the accuracy (%) and mean margin."""
    margins = [beta * ((pw - rw) - (pl - rl)) for (pw, pl), (rw, rl) in zip(policy, ref, strict=True)]
    wins = [float(m > 0) for m in margins]
    return {
        "accuracy": 100 * sum(wins) / len(wins),
        "margin": sum(margins) / len(margins),
        "margins": margins,
    }


def held_out_pairs(tests: list[str], generations: list[str], records: list[str]) -> list[dict]:
    """(prompt, y_w = gold solution, y_l = the SFT model's wrong answer) for every test question it got wrong."""
    gold = {r["id"]: r for path in tests for r in read_jsonl(path)}
    wrong = {r["id"] for path in records for r in read_jsonl(path) if not r["correct"]}
    pairs = []
    for path in generations:
        for g in read_jsonl(path):
            solution = gold.get(g["id"], {}).get("solution")
            if g["id"] in wrong and solution and g["response"]:  # the answer as generated, even blank
                pairs.append(
                    {
                        "id": g["id"],
                        "user": gold[g["id"]]["question"],
                        "chosen": solution,
                        "rejected": g["response"],
                    }
                )
    return pairs


def sequence_logps(path: str, pairs: list[dict], fmt: str) -> list[tuple[float, float]]:
    from bmc.analysis.scoring import encode, load, response_logps

    model, tokenizer = load(path)
    out = []
    for p in pairs:
        sums = []
        for reply in (p["chosen"], p["rejected"]):
            prompt, ids = encode(tokenizer, p["user"], reply, fmt)
            sums.append(sum(response_logps(model, prompt, ids)))
        out.append((sums[0], sums[1]))
    return out


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs per task `ref:<task>`, `DPO:<task>`, `DPO-BMC:<task>` (model folders), `test:<task>`,
    `generations:<task>`, `records:<task>` (the SFT model's answers and their grades); settings per task
    `beta` and `prompt_format`, and `max_pairs`."""
    rows, summary = [], {}
    tasks = sorted(k.split(":", 1)[1] for k in inputs if k.startswith("ref:"))
    for task in tasks:
        train = settings.task(task)
        pairs = held_out_pairs(
            inputs[f"test:{task}"], inputs[f"generations:{task}"], inputs[f"records:{task}"]
        )
        pairs = pairs[: settings.max_pairs]
        if not pairs:
            summary[task] = {"pairs": 0}
            continue
        fmt, beta = train.prompt_format, train.beta
        ref = sequence_logps(inputs[f"ref:{task}"][0], pairs, fmt)
        stats = {
            m: reward_stats(sequence_logps(inputs[f"{m}:{task}"][0], pairs, fmt), ref, beta) for m in METHODS
        }
        for i, p in enumerate(pairs):
            rows.append(
                {"task": task, "id": p["id"], **{f"margin_{m}": stats[m]["margins"][i] for m in METHODS}}
            )
        win = {m: [float(x > 0) for x in stats[m]["margins"]] for m in METHODS}
        acc_diff = paired_bootstrap(win["DPO"], win["DPO-BMC"])
        margin_diff = paired_bootstrap(stats["DPO"]["margins"], stats["DPO-BMC"]["margins"])
        summary[task] = {
            "pairs": len(pairs),
            "beta": beta,
            **{
                m: {"accuracy": stats[m]["accuracy"], "margin": describe(stats[m]["margins"])}
                for m in METHODS
            },
            "accuracy_diff": {k: 100 * v if k != "p" else v for k, v in acc_diff.items()},
            "margin_diff": margin_diff,
        }

    def draw(acc, margin):
        done = [t for t in tasks if summary[t]["pairs"]]
        if not done:
            acc.text(0.5, 0.5, "no held-out pair", ha="center", transform=acc.transAxes)
        for j, m in enumerate(METHODS):
            xs = [i + 0.38 * j for i in range(len(done))]
            acc.bar(xs, [summary[t][m]["accuracy"] for t in done], 0.36, color=f"C{j}", label=m)
            margin.bar(xs, [summary[t][m]["margin"]["mean"] for t in done], 0.36, color=f"C{j}", label=m)
        for ax, ylabel in ((acc, "reward accuracy (%)"), (margin, "mean reward margin")):
            group_ticks(ax, done)
            ax.set_ylabel(ylabel)
        acc.axhline(50, color="grey", lw=0.8, ls=":")

    notes = [
        f"{t}: no held-out pair (no gold solutions or no wrong SFT answer)"
        for t in tasks
        if not summary[t]["pairs"]
    ]
    return Analysis(rows, summary, draw, panels=2, notes=notes)
