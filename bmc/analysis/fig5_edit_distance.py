"""Figure 5: pairs split into bins by the token edit distance between chosen and rejected; per bin the
gradient norm at the first training step of DPO and DPO-BMC (logged by the trainer, `token_dynamics.jsonl`)
and the score of DPO trained on that bin, graded by the released rule (the paper's) with the corrected rule
beside it.

Like with like: the paper's Figure 5 is on instruction following. Its gradient norms (paper_values.yaml
`fig5_edit_distance.values`: DPO and DPO-BMC, first and last split) are the quantity of the left panel and are
drawn there, labelled as the paper's; its scores are AlpacaEval 2 LC win rates, another quantity than the QA or
math accuracy of the suite's bins, so they are never drawn beside ours: the entry's `apart` item is quoted in the
figure's caption and its JSON notes."""

from __future__ import annotations

from pathlib import Path

from bmc.analysis.common import METHOD_COLORS, Analysis, PaperEnds, rule_curves, rules_note
from bmc.analysis.sweeps import flat_cell, point_cell
from bmc.config import AnalysisJob
from bmc.io import read_jsonl

TITLE = (
    "Figure 5: edit distance between chosen and rejected → first-step gradient norm, and DPO's score per bin"
)
METHODS = ("DPO", "DPO-BMC")
TASK_MARKERS = "o^vs"


def first_grad_norm(model_dir: str) -> float | None:
    """The gradient norm the trainer logged at its first step."""
    rows = [r for r in read_jsonl(Path(model_dir) / "token_dynamics.jsonl") if r.get("grad_norm") is not None]
    return rows[0]["grad_norm"] if rows else None


def bin_rows(inputs: dict[str, list[str]]) -> tuple[list[dict], dict, list[dict]]:
    """Rows (task, method, bin, grad_norm and, for a scored bin, `flat_cell`'s columns), per task, method and
    bin {grad_norm, n, released_rule, released, corrected}, and the scored cells."""
    rows, summary, cells = [], {}, []
    for key, paths in sorted(inputs.items()):
        kind, task, method, b = key.split(":", 3)
        if kind != "model":
            continue
        row = {"task": task, "method": method, "bin": int(b), "grad_norm": first_grad_norm(paths[0])}
        entry = {"grad_norm": row["grad_norm"]}
        if f"score:{task}:{method}:{b}" in inputs:
            cell = point_cell(inputs[f"score:{task}:{method}:{b}"])
            row |= flat_cell(cell)
            entry |= cell
            cells.append(cell)
        rows.append(row)
        summary.setdefault(task, {}).setdefault(method, {})[f"bin{b}"] = entry
    return rows, summary, cells


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `model:<task>:<method>:<bin>` (models trained on a bin) and `score:<task>:DPO:<bin>`."""
    rows, summary, cells = bin_rows(inputs)
    bins = sorted({r["bin"] for r in rows})

    def draw(norms, scores):
        for i, task in enumerate(sorted(summary)):
            marker = TASK_MARKERS[i % len(TASK_MARKERS)]
            for method in METHODS:
                by_bin = summary[task].get(method, {})
                pts = [(b, by_bin[f"bin{b}"]["grad_norm"]) for b in bins if f"bin{b}" in by_bin]
                pts = [p for p in pts if p[1] is not None]
                if pts:
                    norms.plot(*zip(*pts, strict=True), f"{marker}-", color=METHOD_COLORS[method],
                               label=f"{task} {method}")  # fmt: skip
            dpo = summary[task].get("DPO", {})
            scored = [(b, dpo[f"bin{b}"]) for b in bins if "released" in dpo.get(f"bin{b}", {})]
            if scored:
                xs, kept = [b for b, _ in scored], [c for _, c in scored]
                n = "/".join(sorted({str(c["n"]) for c in kept}))
                rule_curves(scores, xs, kept, f"C{i}", f"{task} DPO (n {n})", shift=0.04)
        norms.set_ylabel("gradient norm, first step")
        scores.set_ylabel("average QA/math score (%, 95% interval)")
        for ax in (norms, scores):
            ax.set_xticks(bins)
            ax.set_xlabel("edit-distance bin (0 = closest pairs)")

    paper = [
        PaperEnds(
            0, f"{m}.grad_norm", f"paper {m}, instruction following: first, last split", METHOD_COLORS[m]
        )
        for m in METHODS
    ]
    return Analysis(rows, summary, draw, panels=2, notes=rules_note(cells), paper_lines=paper if bins else [])
