"""How many of a row's training pairs were actually bridged, from the bridging summary of the pairs it trained on.

An invalid edit keeps the original pair (status `fallback`), so a row named DPO-BC or DPO-BMC may have trained on
few or no edited pairs; every table shows the count beside such a row. The authors' released pairs (status
`given`) are counted as given: the release holds no y_w to tell an edit from a copy.
"""

from __future__ import annotations

from bmc.io import read_json


def read(summaries: dict[str, str]) -> dict[tuple[str, str], dict]:
    """{"<task>:<method>": summary.json} -> {(task, method): {edited, given, pairs}} from each summary's `status`
    counts."""
    shares = {}
    for key, path in summaries.items():
        task, sep, method = key.partition(":")
        if not sep or not task or not method:
            raise ValueError(f"bridging summary key {key!r} is not <task>:<method>")
        status = read_json(path).get("status")
        if not isinstance(status, dict) or not status:
            raise ValueError(f"{path} has no `status` counts")
        shares[(task, method)] = {
            "edited": int(status.get("edited", 0)),
            "given": int(status.get("given", 0)),
            "pairs": sum(int(n) for n in status.values()),
        }
    return shares


def cell(share: dict | None) -> str:
    """A share as a cell: edited of all pairs ("31/94 (33%)"), "given 1000/1000" for the released pairs, "—" for
    a row on the original pairs."""
    if share is None:
        return "—"
    if share["given"]:
        return f"given {share['given']}/{share['pairs']}"
    pct = 100 * share["edited"] / share["pairs"] if share["pairs"] else 0.0
    return f"{share['edited']}/{share['pairs']} ({pct:.0f}%)"


def fields(share: dict | None, prefix: str = "") -> dict:
    """The CSV columns of a share: pairs edited (or given) and pairs in all; None for a row on original pairs."""
    if share is None:
        return {f"{prefix}pairs_edited": None, f"{prefix}pairs": None}
    return {f"{prefix}pairs_edited": share["edited"] or share["given"], f"{prefix}pairs": share["pairs"]}


def unbridged_note(shares: dict[tuple[str, str], dict]) -> list[str]:
    """A warning line per row whose bridging edited no pair: it trained on the original pairs under its name."""
    return [
        f"**{method} ({task}) trained on no edited pair** (0 of {s['pairs']} edits validated): its pairs are the"
        " original ones, so its row measures the objective without bridging."
        for (task, method), s in sorted(shares.items())
        if not s["edited"] and not s["given"]
    ]


def require(rows: set[tuple[str, str]], shares: dict[tuple[str, str], dict]) -> None:
    """Every (task, method) row trained on bridged pairs has its bridging summary, else ValueError naming them."""
    from bmc.alignment.methods import uses_bridged_data
    from bmc.plan.runs import SFT

    missing = sorted(
        f"{t}:{m}" for t, m in rows if m != SFT and uses_bridged_data(m) and (t, m) not in shares
    )
    if missing:
        raise ValueError(f"no bridging summary for the rows trained on bridged pairs: {missing}")
