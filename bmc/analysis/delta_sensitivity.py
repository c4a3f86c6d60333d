"""δ sensitivity: DPO-BMC trained with each δ of the config's list → task score (the config's δ is the
DPO-BMC run itself), graded by the released rule (the paper's) with the corrected rule beside it."""

from __future__ import annotations

from bmc.analysis.common import Analysis
from bmc.analysis.fig3_bridged_proportion import curve_analysis
from bmc.config import AnalysisJob

TITLE = "δ sensitivity: upper bound δ of the confidence weight → score (DPO-BMC)"


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `score:<task>:delta:<δ>`: the scores.json files of the model trained with δ."""
    return curve_analysis(inputs, "delta", "δ")
