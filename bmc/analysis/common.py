"""What every analysis shares: its named inputs, one matplotlib style, bootstrap CIs, and the four outputs of a
figure (`<name>.png`, `.pdf`, `.csv` with the data behind it, `.json` with our summary beside the paper's
values)."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": True,
    "legend.framealpha": 0.85,
    "legend.fontsize": 7,
    "axes.prop_cycle": "cycler(color=['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'])",
}
# each method's colour in every figure
METHOD_COLORS = {"DPO": "#1f77b4", "DPO-BMC": "#d62728", "difflib": "#2ca02c", "levenshtein": "#ff7f0e"}


def parse_inputs(items: list[str]) -> dict[str, list[str]]:
    """An analysis' inputs from `key=path` items, a key given several times being a list."""
    inputs: dict[str, list[str]] = defaultdict(list)
    for item in items:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise ValueError(f"input {item!r} is not key=path")
        inputs[key].append(path)
    return dict(inputs)


def group_ticks(ax, labels: Sequence[str], groups: int = 2) -> None:
    """Ticks under bars drawn at i + 0.38·j (group j of label i), with room on both sides."""
    ax.set_xticks([i + 0.19 * (groups - 1) for i in range(len(labels))], list(labels))
    ax.set_xlim(-0.8, len(labels) - 0.2 + 0.38 * (groups - 1))


def interval_errors(cells: Sequence[dict]) -> list[list[float]]:
    """matplotlib's `yerr` (below, above) of score cells with `ci_low`/`ci_high`; an empty cell gets none."""
    below = [c["score"] - c["ci_low"] if c else 0.0 for c in cells]
    above = [c["ci_high"] - c["score"] if c else 0.0 for c in cells]
    return [below, above]


@dataclass(frozen=True)
class PaperLine:
    """A horizontal line at one of the paper's values (`values.<key>` of the analysis' paper_values.yaml entry) on
    panel `panel`, labelled `label` (which may name `{value}`)."""

    panel: int
    key: str
    label: str


@dataclass
class Analysis:
    """An analysis' result: the rows behind the figure, its summary, how to draw it on a figure, and the paper's
    values drawn on it (read from paper_values.yaml when the figure is saved, never typed into the module)."""

    rows: list[dict]
    summary: dict
    draw: Callable[..., None]
    panels: int = 1
    notes: list[str] = field(default_factory=list)
    paper_lines: list[PaperLine] = field(default_factory=list)


def draw_paper_lines(axes: Sequence, lines: Sequence[PaperLine], paper: dict | None, name: str) -> None:
    """Each paper line at its value in `paper` (the analysis' paper_values.yaml entry); a value the entry lacks is
    an error naming it."""
    values = (paper or {}).get("values") or {}
    for line in lines:
        if not isinstance(values.get(line.key), int | float):
            raise ValueError(
                f"paper_values.yaml has no number {name}.values.{line.key} for the figure's paper line"
            )
        value = values[line.key]
        ax = axes[line.panel]
        ax.axhline(value, color="grey", ls=":", lw=0.8, label=line.label.format(value=value))
        ax.legend()


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def bootstrap_ci(values: Sequence[float], rounds: int = 1000, seed: int = 0) -> tuple[float, float] | None:
    """95% percentile bootstrap CI of the mean (None for fewer than two values)."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(rounds))
    return means[int(0.025 * (rounds - 1))], means[int(0.975 * (rounds - 1))]


def describe(values: Sequence[float]) -> dict:
    """n, mean and 95% bootstrap CI of a list of numbers."""
    ci = bootstrap_ci(values)
    return {
        "n": len(values),
        "mean": mean(values),
        "ci_low": None if ci is None else ci[0],
        "ci_high": None if ci is None else ci[1],
    }


def save(prefix: str, analysis: Analysis, name: str, title: str, label: str, paper: dict | None) -> None:
    """Write <prefix>.png/.pdf/.csv/.json; the figure carries the title and the scale's label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from bmc.io import write_json, write_text

    out = Path(prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1, analysis.panels, figsize=(max(4.2 * analysis.panels + 0.6, 7.0), 3.6), squeeze=False
        )
        analysis.draw(*axes[0])
        draw_paper_lines(axes[0], analysis.paper_lines, paper, name)
        fig.suptitle(title, fontsize=10)
        fig.text(0.5, 0.005, label, ha="center", va="bottom", fontsize=7, color="#8a6d00", wrap=True)
        fig.tight_layout(rect=(0, 0.06, 1, 0.95))
        for ext in ("png", "pdf"):
            tmp = out.with_name(f".{out.name}.tmp.{ext}")
            fig.savefig(tmp, format=ext)
            tmp.replace(out.with_name(f"{out.name}.{ext}"))
        plt.close(fig)
    write_text(f"{prefix}.csv", pd.DataFrame(analysis.rows).to_csv(index=False))
    write_json(
        f"{prefix}.json",
        {
            "name": name,
            "title": title,
            "label": label,
            "ours": analysis.summary,
            "paper": paper,
            "notes": analysis.notes,
        },
    )
