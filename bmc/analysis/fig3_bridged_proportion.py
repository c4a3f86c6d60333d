"""Figure 3: DPO-BMC trained with a share p of its pairs bridged (the rest keep y_w) → task score.
p = 0 is DPO-MC's run and p = 1 DPO-BMC's; the points in between are trained by the sweep rules. Each point is
graded by the released rule (the paper's) with the corrected rule beside it (`bmc.analysis.sweeps.read_scores`)."""

from __future__ import annotations

from bmc.analysis.common import Analysis, rule_curves, rules_note
from bmc.analysis.sweeps import flat_cell, point_cell
from bmc.config import AnalysisJob

TITLE = "Figure 3: share of bridged pairs → score (DPO-BMC)"
SWEEP, XLABEL = "proportion", "share of pairs bridged"


def sweep_curve(inputs: dict[str, list[str]], sweep: str) -> tuple[list[dict], dict]:
    """Rows (task, point, n, released_rule and per rule score and 95% interval) and per task {point: cell
    (`point_cell`)} from inputs `score:<task>:<sweep>:<point>`."""
    rows, summary = [], {}
    for key, paths in sorted(inputs.items()):
        kind, task, name, point = (key.split(":", 3) + ["", "", ""])[:4]
        if kind != "score" or name != sweep:
            continue
        cell = point_cell(paths)
        rows.append({"task": task, "point": point, **flat_cell(cell)})
        summary.setdefault(task, {})[point] = cell
    return rows, summary


def draw_curve(summary: dict[str, dict[str, dict]], xlabel: str):
    """Each task's curve over its numeric points under both rules, the n of its points in the legend."""

    def draw(ax):
        for i, task in enumerate(sorted(summary)):
            points = sorted((float(p), c) for p, c in summary[task].items())
            xs, cells = [x for x, _ in points], [c for _, c in points]
            n = "/".join(sorted({str(c["n"]) for c in cells}))
            shift = 0.01 * ((max(xs) - min(xs)) or 1.0)
            rule_curves(ax, xs, cells, f"C{i}", f"{task} (n {n})", shift)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("average score (%, 95% interval)")

    return draw


def curve_analysis(inputs: dict[str, list[str]], sweep: str, xlabel: str) -> Analysis:
    rows, summary = sweep_curve(inputs, sweep)
    cells = [c for by_point in summary.values() for c in by_point.values()]
    return Analysis(rows, summary, draw_curve(summary, xlabel), notes=rules_note(cells))


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `score:<task>:proportion:<p>`: the scores.json files of the model trained at p."""
    return curve_analysis(inputs, SWEEP, XLABEL)
