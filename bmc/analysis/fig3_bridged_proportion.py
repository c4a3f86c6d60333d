"""Figure 3: DPO-BMC trained with a share p of its pairs bridged (the rest keep y_w) → task score.
p = 0 is DPO-MC's run and p = 1 DPO-BMC's; the points in between are trained by the sweep rules."""

from __future__ import annotations

from bmc.analysis.common import Analysis
from bmc.analysis.sweeps import read_scores
from bmc.config import AnalysisJob

TITLE = "Figure 3: share of bridged pairs → score (DPO-BMC)"
SWEEP, XLABEL = "proportion", "share of pairs bridged"


def sweep_curve(inputs: dict[str, list[str]], sweep: str) -> tuple[list[dict], dict]:
    """Rows (task, point, score, n) and per task {point: avg} from inputs `score:<task>:<sweep>:<point>`."""
    rows, summary = [], {}
    for key, paths in sorted(inputs.items()):
        kind, task, name, point = (key.split(":", 3) + ["", "", ""])[:4]
        if kind != "score" or name != sweep:
            continue
        s = read_scores(paths)
        rows.append({"task": task, "point": point, "score": s["avg"], "n": s["n"]})
        summary.setdefault(task, {})[point] = {"score": s["avg"], "n": s["n"]}
    return rows, summary


def draw_curve(rows: list[dict], xlabel: str):
    def draw(ax):
        for i, task in enumerate(sorted({r["task"] for r in rows})):
            points = sorted((float(r["point"]), r["score"]) for r in rows if r["task"] == task)
            ax.plot(*zip(*points, strict=True), "o-", color=f"C{i}", label=task)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("average score (%)")
        ax.legend()

    return draw


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `score:<task>:proportion:<p>`: the scores.json files of the model trained at p."""
    rows, summary = sweep_curve(inputs, SWEEP)
    return Analysis(rows, summary, draw_curve(rows, XLABEL))
