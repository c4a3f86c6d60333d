"""δ sensitivity: DPO-BMC trained with each δ of the config's list → task score (the config's δ is the
DPO-BMC run itself)."""

from __future__ import annotations

from bmc.analysis.common import Analysis
from bmc.analysis.fig3_bridged_proportion import draw_curve, sweep_curve
from bmc.config import AnalysisJob

TITLE = "δ sensitivity: upper bound δ of the confidence weight → score (DPO-BMC)"


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `score:<task>:delta:<δ>`: the scores.json files of the model trained with δ."""
    rows, summary = sweep_curve(inputs, "delta")
    return Analysis(rows, summary, draw_curve(rows, "δ"))
