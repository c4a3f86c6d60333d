"""The paper's reported values (workflow/resources/paper_values.yaml) as the tables, power statements and figures
read them.

An entry is `{source, values: {row: {field: number}}, unverified: {"row.field": reason}}`. A value listed under
`unverified` could not be checked against the paper's own text; it is shown with that mark and its reason, never
dropped and never shown as a plain number, and so is anything derived from it (a gain, a claimed difference).
"""

from __future__ import annotations

from bmc.io import read_text

UNVERIFIED_MARK = "†"


def load(path: str, table: str | None = None, paper_key: str | None = None) -> dict:
    """paper_values.yaml; with `paper_key`, that entry stands for `table` (e.g. Table 2's Mistral block)."""
    import yaml

    paper = yaml.safe_load(read_text(path)) or {}
    if paper_key and table:
        if paper_key not in paper:
            raise ValueError(f"{path} has no entry {paper_key!r}")
        paper[table] = paper[paper_key]
    return paper


def entry(paper: dict, table: str) -> dict:
    """The table's entry: {source, values, unverified} (empty parts when the paper gives none)."""
    e = paper.get(table) or {}
    return {
        "source": e.get("source", ""),
        "values": e.get("values") or {},
        "unverified": e.get("unverified") or {},
    }


def value(e: dict, row: str, field: str) -> float | None:
    return (e["values"].get(row) or {}).get(field)


def doubt(e: dict, row: str, *fields: str) -> str | None:
    """Why a value (or a number derived from these fields of `row`) is unverified; None if all are verified."""
    reasons = [e["unverified"][f"{row}.{f}"] for f in fields if f"{row}.{f}" in e["unverified"]]
    return "; ".join(reasons) or None


def cell(x: float | None, unverified: str | None = None, sign: bool = False) -> str:
    """A paper value in a Markdown cell: "—" when not given, marked when unverified."""
    if x is None:
        return "—"
    text = f"{x:+.1f}" if sign else f"{x:.1f}"
    return f"{text}{UNVERIFIED_MARK}" if unverified else text


def footnotes(e: dict) -> list[str]:
    """One line per unverified value of the entry, for under the table."""
    return [
        f"{UNVERIFIED_MARK} Paper value {key} is unverified: {reason}"
        for key, reason in sorted(e["unverified"].items())
    ]


def claimed_gain(e: dict, base: str) -> tuple[float | None, str | None]:
    """Table 5: the paper's gain from BMC for `base` (as reported, else with - without when both are given) and
    why it is unverified (None if verified)."""
    if value(e, base, "gain") is not None:
        return value(e, base, "gain"), doubt(e, base, "gain")
    without, with_bmc = value(e, base, "without"), value(e, base, "with")
    if without is None or with_bmc is None:
        return None, None
    return round(with_bmc - without, 2), doubt(e, base, "without", "with")
