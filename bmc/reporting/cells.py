"""How the report writes a number, an interval and a small table, and reads a table's CSV back."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

MISSING = "—"


def num(x: float | None, digits: int = 1, sign: bool = False) -> str:
    """`x` to `digits` decimals (with its sign when `sign`), never "-0.0"; a number that is not zero yet rounds to
    zero with two significant digits instead; "—" for None."""
    if x is None:
        return MISSING
    if x and not round(float(x), digits):  # not zero, yet zero at these decimals: two significant digits
        return f"{x:+.2g}" if sign else f"{x:.2g}"
    x = round(float(x), digits) + 0.0  # -0.0 -> 0.0
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def interval(low: float | None, high: float | None, digits: int = 1, sign: bool = False) -> str:
    """A 95% interval as "[low, high]"; "" when it has no bounds."""
    if low is None or high is None:
        return ""
    return f"[{num(low, digits, sign)}, {num(high, digits, sign)}]"


def with_interval(x, low=None, high=None, digits: int = 1, sign: bool = False) -> str:
    """ "x [low, high]", or "x" alone when there are no bounds."""
    bounds = interval(low, high, digits, sign)
    return f"{num(x, digits, sign)} {bounds}" if bounds and x is not None else num(x, digits, sign)


def described(d: dict | None, digits: int = 2, scale: float = 1.0) -> str:
    """An analysis' `describe` dict ({n, mean, ci_low, ci_high}) as "mean [low, high]", times `scale`."""
    if not d or d.get("mean") is None:
        return MISSING
    bounds = [None if d.get(k) is None else scale * d[k] for k in ("ci_low", "ci_high")]
    return with_interval(scale * d["mean"], *bounds, digits=digits)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table; a "|" inside a cell is escaped."""

    def line(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + " --- |" * len(header), *(line(r) for r in rows)]


def _value(text: str):
    """A CSV cell as the table stage wrote it: empty -> None, True/False, a number, else the text."""
    if text == "":
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        return int(text) if text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return text


def read_csv(path: str | Path) -> list[dict]:
    """A table's CSV rows with typed cells (`_value`); a missing file is an error naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: the table's CSV is missing (the `table` stage writes it beside the .md)"
        )
    with path.open(encoding="utf-8", newline="") as f:
        return [{k: _value(v) for k, v in row.items()} for row in csv.DictReader(f)]
