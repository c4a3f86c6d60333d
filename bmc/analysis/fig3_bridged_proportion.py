"""Figure 3: DPO-BMC trained with a share p of its pairs bridged (the rest keep y_w) → task score.
p = 0 is DPO-MC's run and p = 1 DPO-BMC's; the points in between are trained by the sweep rules."""

from __future__ import annotations

from bmc.analysis.common import Analysis, interval_errors
from bmc.analysis.sweeps import read_scores
from bmc.config import AnalysisJob

TITLE = "Figure 3: share of bridged pairs → score (DPO-BMC)"
SWEEP, XLABEL = "proportion", "share of pairs bridged"


def sweep_curve(inputs: dict[str, list[str]], sweep: str) -> tuple[list[dict], dict]:
    """Rows (task, point, score, n, 95% interval) and per task {point: the same} from inputs
    `score:<task>:<sweep>:<point>`."""
    rows, summary = [], {}
    for key, paths in sorted(inputs.items()):
        kind, task, name, point = (key.split(":", 3) + ["", "", ""])[:4]
        if kind != "score" or name != sweep:
            continue
        s = read_scores(paths)
        cell = {"score": s["avg"], "n": s["n"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]}
        rows.append({"task": task, "point": point, **cell})
        summary.setdefault(task, {})[point] = cell
    return rows, summary


def draw_curve(rows: list[dict], xlabel: str):
    def draw(ax):
        for i, task in enumerate(sorted({r["task"] for r in rows})):
            points = sorted((float(r["point"]), r) for r in rows if r["task"] == task)
            xs, cells = [x for x, _ in points], [r for _, r in points]
            n = "/".join(sorted({str(r["n"]) for r in cells}))
            ys, errors = [r["score"] for r in cells], interval_errors(cells)
            ax.errorbar(xs, ys, yerr=errors, fmt="o-", capsize=3, color=f"C{i}", label=f"{task} (n {n})")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("average score (%, 95% interval)")
        ax.legend()

    return draw


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `score:<task>:proportion:<p>`: the scores.json files of the model trained at p."""
    rows, summary = sweep_curve(inputs, SWEEP)
    return Analysis(rows, summary, draw_curve(rows, XLABEL))
