"""Token-level training dynamics: the mean log-prob of the varied and unvaried tokens of chosen and rejected
responses at every logging step, DPO vs DPO-BMC, as the trainer logged them from its own forward passes
(`token_dynamics.jsonl` in each model folder, see bmc.alignment.trainer)."""

from __future__ import annotations

from pathlib import Path

from bmc.analysis.common import Analysis
from bmc.config import AnalysisJob
from bmc.io import read_jsonl

TITLE = "Token dynamics: log-prob of varied / unvaried tokens during training, DPO vs DPO-BMC"
GROUPS = ("chosen_varied_logp", "chosen_unvaried_logp", "rejected_varied_logp", "rejected_unvaried_logp")
METHODS = ("DPO", "DPO-BMC")


def endpoints(rows: list[dict], key: str) -> dict:
    """First and last logged value of `key` and their difference (None when never logged)."""
    values = [r[key] for r in rows if r.get(key) is not None]
    if not values:
        return {"first": None, "last": None, "change": None}
    return {"first": values[0], "last": values[-1], "change": values[-1] - values[0]}


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `<method>:<task>`: the model folder of each method (first seed) per task."""
    rows, summary = [], {}
    tasks = sorted({k.split(":", 1)[1] for k in inputs})
    for task in tasks:
        for method in METHODS:
            log = read_jsonl(Path(inputs[f"{method}:{task}"][0]) / "token_dynamics.jsonl")
            rows += [{"task": task, "method": method, **r} for r in log]
            summary.setdefault(task, {})[method] = {
                "steps": len(log),
                **{g: endpoints(log, g) for g in GROUPS},
            }

    def draw(*axes):
        from matplotlib.lines import Line2D

        styles, markers = {"DPO": "--", "DPO-BMC": "-"}, dict(zip(tasks, "o^sv", strict=False))
        for ax, group in zip(axes, ("chosen", "rejected"), strict=True):
            for task in tasks:
                for method in METHODS:
                    for k, kind in enumerate(("varied", "unvaried")):
                        points = [
                            (r["step"], r.get(f"{group}_{kind}_logp"))
                            for r in rows
                            if r["task"] == task and r["method"] == method
                        ]
                        points = [(s, v) for s, v in points if v is not None]
                        if points:
                            ax.plot(
                                *zip(*points, strict=True),
                                styles[method],
                                marker=markers.get(task, "o"),
                                ms=4,
                                color=f"C{k}",
                                lw=1,
                            )
            ax.set_xlabel("training step")
            ax.set_ylabel(f"{group} response: mean token log-prob")
        # one key for the styles: line style = method, colour = token kind, marker = task
        keys = [Line2D([], [], ls=styles[m], color="grey", label=m) for m in METHODS]
        keys += [
            Line2D([], [], color=f"C{k}", label=f"{kind} tokens")
            for k, kind in enumerate(("varied", "unvaried"))
        ]
        keys += [
            Line2D([], [], ls="", marker=markers[t], color="grey", label=t) for t in tasks if t in markers
        ]
        axes[0].legend(handles=keys)

    notes = [
        "The implicit token reward needs the reference's per-token log-probs, which precomputed reference"
        " sums do not keep; the sequence-level implicit rewards per step are in the CSV (rewards_*)."
    ]
    return Analysis(rows, summary, draw, panels=2, notes=notes)
