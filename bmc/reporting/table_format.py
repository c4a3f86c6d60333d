"""What every table shares: the order of its method rows, its rounded cells, its Markdown."""

from __future__ import annotations

ROW_ORDER = [
    "SFT",
    "FIGA",
    "TDPO",
    "IPO",
    "ORPO",
    "R-DPO",
    "SimPO",
    "DPO",
    "DPO-MC",
    "DPO-BC",
    "DPO-BMC",
    "IPO-BMC",
    "ORPO-BMC",
    "R-DPO-BMC",
    "SimPO-BMC",
]


def rounded(name: str, mean_half: tuple[float, float | None]) -> dict:
    """{name: mean, name_ci95: half-width} rounded to two decimals."""
    mean, half = mean_half
    return {name: round(mean, 2), f"{name}_ci95": None if half is None else round(half, 2)}


def ordered(methods) -> list[str]:
    return sorted(methods, key=lambda m: (ROW_ORDER.index(m) if m in ROW_ORDER else len(ROW_ORDER), m))


def markdown(header: list[str], lines: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return out + ["| " + " | ".join(cells) + " |" for cells in lines]
