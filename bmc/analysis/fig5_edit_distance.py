"""Figure 5: pairs split into bins by the token edit distance between chosen and rejected; per bin the
gradient norm at the first training step of DPO and DPO-BMC (logged by the trainer, `token_dynamics.jsonl`)
and the score of DPO trained on that bin. Paper: DPO 3.31 → 4.85 across splits, DPO-BMC 5.26 → 8.75; DPO LC
7.68 → 15.00."""

from __future__ import annotations

from pathlib import Path

from bmc.analysis.common import Analysis, interval_errors
from bmc.analysis.sweeps import read_scores
from bmc.config import AnalysisJob
from bmc.io import read_jsonl

TITLE = "Figure 5: edit distance between chosen and rejected → first-step gradient norm and score"
METHODS = ("DPO", "DPO-BMC")


def first_grad_norm(model_dir: str) -> float | None:
    """The gradient norm the trainer logged at its first step."""
    rows = [r for r in read_jsonl(Path(model_dir) / "token_dynamics.jsonl") if r.get("grad_norm") is not None]
    return rows[0]["grad_norm"] if rows else None


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `model:<task>:<method>:<bin>` (models trained on a bin) and `score:<task>:DPO:<bin>`."""
    rows, summary = [], {}
    for key, paths in sorted(inputs.items()):
        kind, task, method, b = key.split(":", 3)
        if kind == "model":
            row = {"task": task, "method": method, "bin": int(b), "grad_norm": first_grad_norm(paths[0])}
            if f"score:{task}:{method}:{b}" in inputs:
                s = read_scores(inputs[f"score:{task}:{method}:{b}"])
                row |= {"score": s["avg"], "n": s["n"], "ci_low": s["ci_low"], "ci_high": s["ci_high"]}
            rows.append(row)
            summary.setdefault(task, {}).setdefault(method, {})[f"bin{b}"] = {
                k: v for k, v in row.items() if k not in ("task", "method", "bin")
            }

    def draw(norms, scores):
        for i, task in enumerate(sorted(summary)):
            for j, method in enumerate(METHODS):
                pts = sorted(
                    (r["bin"], r["grad_norm"]) for r in rows if r["task"] == task and r["method"] == method
                )
                pts = [p for p in pts if p[1] is not None]
                if pts:
                    norms.plot(*zip(*pts, strict=True), "o-", color=f"C{j}", label=f"{task} {method}")
            scored = sorted((r["bin"], r) for r in rows if r["task"] == task and r.get("score") is not None)
            if scored:
                bins, cells = [b for b, _ in scored], [r for _, r in scored]
                n = "/".join(sorted({str(r["n"]) for r in cells}))
                scores.errorbar(
                    bins, [r["score"] for r in cells], yerr=interval_errors(cells), fmt="o-", capsize=3,
                    color=f"C{i}", label=f"{task} DPO (n {n})",
                )  # fmt: skip
        norms.set_ylabel("gradient norm, first step")
        scores.set_ylabel("average score (%, 95% interval)")
        for ax in (norms, scores):
            ax.set_xticks(sorted({r["bin"] for r in rows}))
            ax.set_xlabel("edit-distance bin (0 = closest pairs)")
            ax.legend()

    return Analysis(rows, summary, draw, panels=2)
