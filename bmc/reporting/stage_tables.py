"""The report's data, pairs and bridging summaries as three tables, one row per task (bridging: per task and pairs
variant), each row linking its summary.json; a summary of another kind is shown as its own key/value table."""

from __future__ import annotations

from pathlib import Path

from bmc.io import read_json
from bmc.reporting.cells import MISSING, md_table, num


def kind_of(path: str) -> str:
    """ "data", "pairs" or "bridged" from results/<run>/<kind>/<task>[/<variant>]/summary.json; "" otherwise."""
    parts = Path(path).parts
    if len(parts) >= 4 and parts[-4] == "bridged":
        return "bridged"
    return parts[-3] if len(parts) >= 3 and parts[-3] in ("data", "pairs") else ""


def link(path: str) -> str:
    """A summary.json linked from report/ (its path under results/<run>/)."""
    parts = Path(path).parts
    at = max((i for i, part in enumerate(parts) if part == "results"), default=None)
    if at is None or len(parts) <= at + 2:
        return f"[json]({Path(path).as_posix()})"
    return f"[json](../{Path(*parts[at + 2 :]).as_posix()})"


def _counts(split: dict | None) -> str:
    """{set: {n, available}} or {n, available} as "n of available", per set when there are several."""
    if not split:
        return MISSING
    if "n" in split:
        return f"{split['n']} of {split.get('available', '?')}"
    n = sum(s["n"] for s in split.values())
    available = sum(s.get("available", 0) for s in split.values())
    sets = ", ".join(f"{name} {s['n']}" for name, s in split.items())
    return f"{n} of {available}" + (f" ({sets})" if len(split) > 1 else "")


def data_table(paths: list[str]) -> list[str]:
    header = ["task", "SFT examples", "preference prompts", "test items", "from", ""]
    rows = []
    for path in paths:
        s = read_json(path)
        source = s.get("source") or s.get("resources")
        row = [Path(path).parent.name, _counts(s.get("sft")), _counts(s.get("prefs")), _counts(s.get("test"))]
        rows.append([*row, f"`{source}`" if source else MISSING, link(path)])
    note = "Items used of those available (per test set when there are several); seed and pools in each json."
    return ["### Data", "", *md_table(header, rows), "", note, ""]


PAIR_COLUMNS = {  # summary key -> column
    "questions": "questions",
    "asked": "asked",
    "answered": "answered",
    "empty": "empty answer",
    "correct": "correct (no pair)",
    "same as chosen": "same as y_w (no pair)",
    "kept": "pairs kept",
}


def pairs_table(paths: list[str]) -> list[str]:
    summaries = [(Path(p).parent.name, read_json(p), p) for p in paths]
    keys = [k for k in PAIR_COLUMNS if any(k in s for _, s, _ in summaries)]
    header = ["task", *(PAIR_COLUMNS[k] for k in keys), "kept per set", ""]
    rows = []
    for task, s, path in summaries:
        per_set = s.get("per_dataset") or {}
        kept = ", ".join(f"{name} {d.get('kept', MISSING)}" for name, d in per_set.items())
        rows.append([task, *(str(s.get(k, MISSING)) for k in keys), kept or MISSING, link(path)])
    note = "A pair needs a wrong answer of the SFT model (QA, math) or a reply unlike y_w (instruction following)."
    return ["### Pairs", "", *md_table(header, rows), "", note, ""]


def _editor(s: dict) -> str:
    editor = s.get("editor")
    return str(editor.get("model", editor.get("kind", MISSING))) if isinstance(editor, dict) else str(editor)


def _fallbacks(s: dict) -> str:
    n = (s.get("status") or {}).get("fallback", 0)
    if not n:
        return "0"
    reasons = sorted((s.get("fallback_reasons") or {}).items(), key=lambda kv: -kv[1])
    return f"{n} ({reasons[0][0]})" if reasons else str(n)


def bridging_table(paths: list[str]) -> list[str]:
    header = ["task", "strategy", "editor", "pairs", "edited", "fell back (main reason)", "given"]
    header += ["similarity to y_w / y_l", "words kept", "calls ok / failed", "wall s", ""]
    rows = []
    for path in paths:
        s, folder = read_json(path), Path(path).parent
        status, usage = s.get("status") or {}, s.get("editor_usage") or {}
        similarity = [s.get(f"similarity_to_{k}_original") for k in ("chosen", "rejected")]
        calls = f"{usage['ok']} / {usage['failed']}" if "ok" in usage else MISSING
        rows.append(
            [
                folder.parent.name,
                str(s.get("strategy", folder.name)),
                _editor(s),
                str(s.get("pairs", MISSING)),
            ]
            + [str(status.get("edited", 0)), _fallbacks(s), str(status.get("given", 0))]
            + [" / ".join(num(x) for x in similarity), num(s.get("kept_share"), 2), calls]
            + [num(s.get("wall_s")), link(path)]
        )
    note = (
        "Similarity: mean string similarity (0–100) of the edited responses to the original y_w and y_l; words kept:"
        " the mean share of the edited response's words an edit keeps. A fallback keeps the original pair; the"
        " authors' released pairs count as given."
    )
    return ["### Bridging", "", *md_table(header, rows), "", note, ""]


def _kv(d: dict, prefix: str = "") -> list[list[str]]:
    rows = []
    for k, v in d.items():
        rows += _kv(v, f"{prefix}{k}.") if isinstance(v, dict) else [[f"{prefix}{k}", str(v)]]
    return rows


def section(paths: list[str]) -> list[str]:
    """The three tables (those with summaries), then any other summary as a key/value table."""
    by_kind: dict[str, list[str]] = {}
    for path in paths:
        by_kind.setdefault(kind_of(path), []).append(path)
    lines = []
    for kind, table in (("data", data_table), ("pairs", pairs_table), ("bridged", bridging_table)):
        lines += table(by_kind[kind]) if kind in by_kind else []
    for path in by_kind.get("", []):
        lines += [f"### {Path(path).parent}", "", *md_table(["key", "value"], _kv(read_json(path))), ""]
    return lines
