"""What every analysis shares: its named inputs, one matplotlib style, bootstrap CIs, how a graded score is drawn
(the released rule, the paper's, with the corrected rule beside it), the paper's values drawn beside ours, and the
four outputs of a figure (`<name>.png`, `.pdf`, `.csv` with the data behind it, `.json` with our summary beside the
paper's values).

Like with like: a paper value is drawn only beside the same quantity under the same rule. A paper number of
another kind (an entry's `apart` items in paper_values.yaml, e.g. Figure 5's AlpacaEval LC beside the suite's QA
accuracy) is never drawn: the figure's caption and its JSON notes quote it, naming its quantity."""

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


# how a graded score's two rules are drawn (bmc.analysis.sweeps.RULES): the released rule, the paper's, solid; the
# corrected rule beside it, dashed with hollow markers
RULE_STYLES = {
    "released": {"fmt": "o-", "label": "released rule", "alpha": 1.0},
    "corrected": {"fmt": "s--", "label": "corrected", "alpha": 0.6, "mfc": "white"},
}


def rule_curves(
    ax, xs: Sequence[float], cells: Sequence[dict], color: str, label: str, shift: float = 0.0
) -> None:
    """A graded score over `xs` under each rule (`RULE_STYLES`), each point with its 95% interval, from cells
    holding {rule: {score, ci_low, ci_high}}; the corrected curve shifted by `shift` on x so the two intervals
    stay apart. A point without a score is left out."""
    for k, (rule, style) in enumerate(RULE_STYLES.items()):
        points = [
            (x + k * shift, c[rule]) for x, c in zip(xs, cells, strict=True) if c[rule]["score"] is not None
        ]
        if not points:
            continue
        kept = [c for _, c in points]
        ax.errorbar(
            [x for x, _ in points],
            [c["score"] for c in kept],
            yerr=interval_errors(kept),
            fmt=style["fmt"],
            capsize=3,
            color=color,
            mfc=style.get("mfc", color),
            alpha=style["alpha"],
            label=f"{label}, {style['label']}",
        )


def rules_note(cells: Sequence[dict]) -> list[str]:
    """The note naming both rules of the drawn scores and what graded the released one (`released_rule`)."""
    from bmc.reporting.tables import RELEASED_RULES

    graders = sorted({str(c.get("released_rule")) for c in cells if c})
    if not graders:
        return []
    named = ", ".join(
        "not recorded" if g == "None" else "+".join(RELEASED_RULES.get(x, x) for x in g.split("+"))
        for g in graders
    )
    return [
        "Scores: the authors' released rule (the paper's; solid, filled markers), graded by "
        f"{named}; the suite's corrected rule beside it (dashed, hollow markers); 95% intervals."
    ]


@dataclass(frozen=True)
class PaperLine:
    """A horizontal line at one of the paper's values (`values.<key>` of the analysis' paper_values.yaml entry, a
    dotted key reaching into a row: `DPO.accuracy`) on panel `panel`, labelled `label` (which may name
    `{value}`)."""

    panel: int
    key: str
    label: str


@dataclass(frozen=True)
class PaperEnds:
    """The paper's first and last value of a series (`values.<key>`, a list of two, e.g. Figure 5's first and
    last split), drawn at the first and last x tick of panel `panel` in `color`, labelled `label`."""

    panel: int
    key: str
    label: str
    color: str = "grey"


def paper_number(paper: dict | None, key: str, name: str, kind: str = "number"):
    """`values.<key>` of an analysis' paper_values.yaml entry (a dotted key reaches into a row); a value that is
    missing or not a `kind` ("number", or "ends": a list of two numbers) is an error naming it."""
    value = (paper or {}).get("values") or {}
    for part in key.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    ends = isinstance(value, list) and len(value) == 2 and all(isinstance(v, int | float) for v in value)
    if not (ends if kind == "ends" else isinstance(value, int | float)):
        what = "number" if kind == "number" else "pair of numbers (first, last)"
        raise ValueError(f"paper_values.yaml has no {what} {name}.values.{key} for the figure's paper line")
    return value


@dataclass
class Analysis:
    """An analysis' result: the rows behind the figure, its summary, how to draw it on a figure, and the paper's
    values drawn on it (read from paper_values.yaml when the figure is saved, never typed into the module)."""

    rows: list[dict]
    summary: dict
    draw: Callable[..., None]
    panels: int = 1
    notes: list[str] = field(default_factory=list)
    paper_lines: list[PaperLine | PaperEnds] = field(default_factory=list)


def draw_paper_lines(
    axes: Sequence, lines: Sequence[PaperLine | PaperEnds], paper: dict | None, name: str
) -> None:
    """Each paper line or pair of ends at its value in `paper` (the analysis' paper_values.yaml entry); a value the
    entry lacks is an error naming it."""
    for line in lines:
        ax = axes[line.panel]
        if isinstance(line, PaperEnds):
            first, last = paper_number(paper, line.key, name, "ends")
            ticks = list(ax.get_xticks())
            ax.plot(
                [ticks[0], ticks[-1]],
                [first, last],
                "D:",
                color=line.color,
                mfc="white",
                lw=0.8,
                label=line.label,
            )
        else:
            value = paper_number(paper, line.key, name)
            ax.axhline(value, color="grey", ls=":", lw=0.8, label=line.label.format(value=value))


def _numbers(values: dict, prefix: str = "") -> list[str]:
    """ "row field value" of an entry's values, a list of numbers as "first → last"."""
    out = []
    for key, value in values.items():
        if isinstance(value, dict):
            out += _numbers(value, f"{prefix}{key} ")
        else:
            shown = " → ".join(f"{v:g}" for v in value) if isinstance(value, list) else f"{value:g}"
            out.append(f"{prefix}{key} {shown}")
    return out


def apart_notes(paper: dict | None) -> list[str]:
    """The caption lines quoting the paper's numbers of another kind than ours (the entry's `apart` items:
    `quantity`, `values`, `why`), which no figure draws."""
    return [
        f"Not drawn, another quantity than ours: paper, {item['quantity']}: "
        + "; ".join(_numbers(item.get("values") or {}))
        + (f" ({item['why']})" if item.get("why") else "")
        + "."
        for item in (paper or {}).get("apart") or []
    ]


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


def _legend_entries(ax) -> tuple[list, list[str]]:
    """(handles, labels) of a panel: its labelled artists, and the entries of a legend the analysis made itself
    (e.g. style keys drawn with proxy artists), each label once; that legend is removed."""
    handles, labels = ax.get_legend_handles_labels()
    legend = ax.get_legend()
    if legend is not None:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            if text.get_text() not in labels:
                handles.append(handle)
                labels.append(text.get_text())
        legend.remove()
    return handles, labels


def place_legends(axes: Sequence) -> int:
    """Each panel's legend above its axes, where no data is drawn (the report's heading names the figure, so the
    image has no title there); returns the most legend rows of a panel, for the figure's height."""
    rows = 0
    for ax in axes:
        handles, labels = _legend_entries(ax)
        if not handles:
            continue
        longest = max(len(label) for label in labels)
        ncol = min(len(labels), 1 if longest > 34 else 2 if longest > 18 else 3)
        ax.legend(
            handles,
            labels,
            loc="lower left",
            bbox_to_anchor=(0.0, 1.02),
            ncol=ncol,
            frameon=False,
            borderaxespad=0.0,
        )
        rows = max(rows, -(-len(labels) // ncol))
    return rows


def save(prefix: str, analysis: Analysis, name: str, title: str, label: str, paper: dict | None) -> None:
    """Write <prefix>.png/.pdf/.csv/.json. The image carries the scale's label and no title (the report's heading
    and the JSON's `title` name it); each panel's legend stands above it, clear of the data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from bmc.io import write_json, write_text

    out = Path(prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    caption = apart_notes(paper)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(
            1,
            analysis.panels,
            figsize=(max(4.2 * analysis.panels + 0.6, 7.0), 3.4 + 0.3 * len(caption)),
            squeeze=False,
        )
        analysis.draw(*axes[0])
        draw_paper_lines(axes[0], analysis.paper_lines, paper, name)
        legend_rows = place_legends(axes[0])
        fig.set_figheight(fig.get_figheight() + 0.16 * legend_rows)
        fig.text(0.5, 0.005, label, ha="center", va="bottom", fontsize=7, color="#8a6d00", wrap=True)
        for i, line in enumerate(caption):
            fig.text(0.5, 0.05 + 0.06 * i, line, ha="center", va="bottom", fontsize=6.5, wrap=True)
        fig.tight_layout(rect=(0, 0.06 + 0.07 * len(caption), 1, 1))
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
            "notes": analysis.notes + caption,
        },
    )
