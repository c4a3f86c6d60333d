"""Cost of the bridging phase per task, strategy and editor: editor calls, input and output tokens, wall time,
and the money it would cost at the configured price per million tokens (read from the bridging summaries)."""

from __future__ import annotations

from pathlib import Path

from bmc.analysis.common import Analysis
from bmc.config import AnalysisJob, Price
from bmc.io import read_json
from bmc.plan.runs import split_variant

TITLE = "Bridging cost: editor tokens and wall time per pair, per task, strategy and editor"


def cost(prompt_tokens: int, completion_tokens: int, price: Price | None) -> float | None:
    """Money for the tokens at `price` = {input, output} per million tokens (None without a price)."""
    if not price:
        return None
    return (prompt_tokens * price.input + completion_tokens * price.output) / 1e6


def row_of(path: str, prices: dict[str, Price]) -> dict:
    """One summary.json (results/<scale>/bridged/<task>/<variant>/summary.json) as a cost row."""
    s = read_json(path)
    task, variant = Path(path).parent.parent.name, Path(path).parent.name
    usage, pairs = s.get("editor_usage") or {}, max(int(s.get("pairs", 0)), 1)
    editor = s.get("editor") or {}
    strategy, named_editor = split_variant(variant)
    name = named_editor or "default"
    p_in, p_out = int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))
    money = cost(p_in, p_out, prices.get(name) or prices.get("default"))
    return {
        "task": task,
        "strategy": s.get("strategy", strategy),
        "editor": name,
        "editor_model": str(editor.get("model", "")),
        "pairs": s.get("pairs", 0),
        "edited": (s.get("status") or {}).get("edited", 0),
        "calls": int(usage.get("requests", 0)),
        "cache_hits": int(usage.get("cache_hits", 0)),
        "input_tokens": p_in,
        "output_tokens": p_out,
        "wall_s": float(s.get("wall_s", 0.0)),
        "cost": money,
        "cost_per_1k_pairs": None if money is None else 1000 * money / pairs,
        "input_tokens_per_pair": p_in / pairs,
        "output_tokens_per_pair": p_out / pairs,
        "wall_s_per_pair": float(s.get("wall_s", 0.0)) / pairs,
    }


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `summary`: bridging summary.json files; settings `prices` (by editor name or `default`, per
    million tokens) and `currency`."""
    rows = [row_of(p, settings.prices or {}) for p in inputs["summary"]]
    totals = {
        k: sum(r[k] for r in rows) for k in ("calls", "cache_hits", "input_tokens", "output_tokens", "wall_s")
    }
    costs = [r["cost"] for r in rows if r["cost"] is not None]
    summary = {
        "runs": len(rows),
        **totals,
        "cost": sum(costs) if costs else None,
        "currency": settings.currency,
        "per_run": rows,
    }

    def draw(tokens, wall):
        names = [
            f"{r['task']}/{r['strategy']}" + ("" if r["editor"] == "default" else f"+{r['editor']}")
            for r in rows
        ]
        xs = range(len(rows))
        tokens.bar(xs, [r["input_tokens_per_pair"] for r in rows], color="C0", label="input")
        tokens.bar(
            xs,
            [r["output_tokens_per_pair"] for r in rows],
            bottom=[r["input_tokens_per_pair"] for r in rows],
            color="C1",
            label="output",
        )
        tokens.set_ylabel("editor tokens per pair")
        wall.bar(xs, [r["wall_s_per_pair"] for r in rows], color="C2")
        wall.set_ylabel("bridging wall time per pair (s)")
        for ax in (tokens, wall):
            ax.set_xticks(list(xs), names, rotation=60, ha="right", fontsize=6)
            ax.set_xlim(-0.8, len(rows) - 0.2)

    notes = [
        "Calls and tokens count the editor's work in the run that wrote each summary; a re-run answered "
        "from the cache shows its hits instead."
    ]
    return Analysis(rows, summary, draw, panels=2, notes=notes)
