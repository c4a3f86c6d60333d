"""Under each figure of the report, ours beside the paper's as a small table, read from the figure's JSON
(`results/<run>/figures/<name>.json`: the analysis' summary `ours` and its paper_values.yaml entry `paper`).

Every measured cell carries its 95% interval where the summary has one; a cell without (a gradient norm, a logged
trajectory, a count) is named in the table's footnote with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

from bmc.reporting.cells import MISSING, described, md_table, num, with_interval
from bmc.reporting.intervals import wilson_interval

Table = tuple[list[str], list[list[str]], list[str]]  # header, rows, footnotes
METHODS = ("DPO", "DPO-BMC")


def _tasks(ours: dict) -> list[str]:
    return sorted(k for k, v in ours.items() if isinstance(v, dict))


def _values(paper: dict | None) -> dict:
    return (paper or {}).get("values") or {}


def fig2(ours: dict, paper: dict | None) -> Table:
    header = ["", "pairs", "first token, −log p", "following tokens, −log p", "tokens (first / following)"]
    rows = [
        [t, str(s["pairs"]), described(s["first"]), described(s["following"])]
        + [f"{s['first']['n']} / {s['following']['n']}"]
        for t, s in ((t, ours[t]) for t in _tasks(ours))
    ]
    v = _values(paper)
    if v:
        where = f" ({paper['task']})" if paper.get("task") else ""
        rows.append([f"paper{where}", MISSING, num(v.get("first"), 2), num(v.get("following"), 2), MISSING])
    return header, rows, []


def sec53(ours: dict, paper: dict | None) -> Table:
    header = ["", "held-out pairs", *(f"accuracy {m} %" for m in METHODS), "Δ accuracy", "p"]
    header += [*(f"margin {m}" for m in METHODS), "Δ margin", "p"]
    rows = []
    for task in _tasks(ours):
        s = ours[task]
        if not s.get("pairs"):
            rows.append([task, "0", "no held-out pair", *[MISSING] * 7])
            continue
        cells = [task, str(s["pairs"])]
        for m in METHODS:  # each accuracy's Wilson interval over the pairs
            low, high = wilson_interval(s[m]["accuracy"] / 100 * s["pairs"], s["pairs"])
            cells.append(with_interval(s[m]["accuracy"], 100 * low, 100 * high))
        d = s["accuracy_diff"]
        cells += [with_interval(d["diff"], d["ci_low"], d["ci_high"], sign=True), num(d["p"], 3)]
        cells += [described(s[m]["margin"]) for m in METHODS]
        d = s["margin_diff"]
        cells += [with_interval(d["diff"], d["ci_low"], d["ci_high"], 2, sign=True), num(d["p"], 3)]
        rows.append(cells)
    v = _values(paper)
    if v:
        acc = [v.get(m, {}).get("accuracy") for m in METHODS]
        margin = [v.get(m, {}).get("margin") for m in METHODS]
        gap = [None if None in pair else pair[1] - pair[0] for pair in (acc, margin)]
        rows.append(["paper", MISSING, *(num(a) for a in acc), num(gap[0], sign=True), MISSING])
        rows[-1] += [*(num(m, 2) for m in margin), num(gap[1], 2, sign=True), MISSING]
    notes = [
        "Accuracy: Wilson interval over the pairs; margins: bootstrap; Δ: paired bootstrap, DPO-BMC − DPO."
    ]
    return header, rows, notes


def sec31(ours: dict, paper: dict | None) -> Table:
    embedder = ours.get("embedder", "?")
    header = ["", "pairs (edited)", f"cos(y_w, ỹ_w), {embedder}", f"cos(y_w, y_l), {embedder}"]
    header += ["token edit distance: y_w → y_l / ỹ_w → y_l", "varied tokens %: original / bridged"]
    rows = []
    for task in _tasks(ours):
        s = ours[task]
        if not s.get("pairs"):
            rows.append([task, "0", *[MISSING] * 4])
            continue
        rows.append(
            [
                task,
                f"{s['pairs']} ({s['edited']})",
                described(s["sim_yw_bridged"]),
                described(s["sim_yw_yl"]),
                f"{described(s['edit_distance_original'], 1)} / {described(s['edit_distance_bridged'], 1)}",
                f"{described(s['varied_share_original'], 1, 100)} / {described(s['varied_share_bridged'], 1, 100)}",
            ]
        )
    v = _values(paper)
    if v:
        rows.append(["paper", MISSING, num(v.get("bridged"), 2), MISSING, MISSING, MISSING])
    return header, rows, []


def _score(cell: dict | None, rule: str) -> str:
    c = (cell or {}).get(rule) or {}
    return with_interval(c.get("score"), c.get("ci_low"), c.get("ci_high"))


def curve(point_name: str) -> Callable[[dict, dict | None], Table]:
    """A sweep's table (Figure 3, δ): each task's points, n and score under both rules."""

    def table(ours: dict, paper: dict | None) -> Table:
        header = ["", point_name, "n", "score, released rule %", "score, corrected %"]
        rows = [
            [task, point, str(cell["n"]), _score(cell, "released"), _score(cell, "corrected")]
            for task in _tasks(ours)
            for point, cell in sorted(ours[task].items(), key=lambda kv: float(kv[0]))
        ]
        return header, rows, []

    return table


def fig5(ours: dict, paper: dict | None) -> Table:
    header = ["", "edit-distance bin", *(f"gradient norm {m}" for m in METHODS)]
    header += ["DPO score, released rule %", "DPO score, corrected %"]
    rows = []
    for task in _tasks(ours):
        bins = sorted({b for m in ours[task].values() for b in m}, key=lambda b: int(b.removeprefix("bin")))
        for b in bins:
            norms = [num((ours[task].get(m, {}).get(b) or {}).get("grad_norm"), 2) for m in METHODS]
            dpo = ours[task].get("DPO", {}).get(b)
            rows.append(
                [task, b.removeprefix("bin"), *norms, _score(dpo, "released"), _score(dpo, "corrected")]
            )
    v = _values(paper)
    ends = [v.get(m, {}).get("grad_norm") for m in METHODS]
    if any(ends):
        for i, split in enumerate(("first", "last")):
            norms = [num(e[i], 2) if e else MISSING for e in ends]
            rows.append([f"paper, {split} split", MISSING, *norms, MISSING, MISSING])
    notes = ["Gradient norms: one logged value per trained model (first seed), so no interval."]
    return header, rows, notes


def token_dynamics(ours: dict, paper: dict | None) -> Table:
    groups = ("chosen_varied_logp", "chosen_unvaried_logp", "rejected_varied_logp", "rejected_unvaried_logp")
    header = ["", "method", "steps", *(g.removesuffix("_logp").replace("_", " ") for g in groups)]
    rows = [
        [task, m, str(s["steps"])] + [f"{num(s[g]['first'], 2)} → {num(s[g]['last'], 2)}" for g in groups]
        for task in _tasks(ours)
        for m, s in sorted(ours[task].items())
    ]
    notes = [
        "Mean token log-prob, first → last logged step: one trajectory per model (first seed), no interval."
    ]
    return header, rows, notes


def diff_algorithm(ours: dict, paper: dict | None) -> Table:
    header = ["", "pairs", "varied, difflib %", "varied, Levenshtein %", "mask agreement", "Jaccard"]
    scored = any("score" in ours[t] for t in _tasks(ours))
    header += ["DPO-BMC, difflib %", "DPO-BMC, Levenshtein %"] if scored else []
    rows = []
    for task in _tasks(ours):
        s = ours[task]
        cells = [task, str(s.get("pairs", MISSING))]
        cells += [described(s.get(f"{a}_marked_share"), 1, 100) for a in ("difflib", "levenshtein")]
        cells += [described(s.get("agreement")), described(s.get("jaccard"))]
        if scored:
            cells += [_score(s.get("score", {}).get(a), "released") for a in ("difflib", "levenshtein")]
        rows.append(cells)
    notes = ["DPO-BMC scores: the released rule (the paper's)."] if scored else []
    return header, rows, notes


def bridging_cost(ours: dict, paper: dict | None) -> Table:
    currency = ours.get("currency") or ""
    header = ["task", "strategy", "editor", "pairs", "calls", "tokens in / out per pair", "s per pair"]
    header.append(f"cost per 1k pairs {currency}".strip())
    rows = [
        [r["task"], r["strategy"], r["editor_model"] or r["editor"], str(r["pairs"]), str(r["calls"])]
        + [
            f"{r['input_tokens_per_pair']:.0f} / {r['output_tokens_per_pair']:.0f}",
            num(r["wall_s_per_pair"], 2),
        ]
        + [num(r["cost_per_1k_pairs"], 2)]
        for r in ours.get("per_run", [])
    ]
    total = f"{ours['input_tokens']} / {ours['output_tokens']} in all"
    rows.append(
        ["all", "", "", "", str(ours["calls"]), total, f"{num(ours['wall_s'])} in all", num(ours["cost"], 2)]
    )
    return header, rows, ["Counts and measured times: no interval."]


def _flat(d: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k} ")
        elif isinstance(v, int | float | str) and not isinstance(v, bool):
            out.append((f"{prefix}{k}", v))
    return out


def generic(ours: dict, paper: dict | None) -> Table:
    """An analysis without a table of its own: its numbers as (quantity, value) rows, the paper's after."""

    def shown(v) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    rows = [[k, shown(v)] for k, v in _flat(ours)]
    rows += [[f"paper: {k}", shown(v)] for k, v in _flat(_values(paper))]
    return ["quantity", "value"], rows, []


BUILDERS: dict[str, Callable[[dict, dict | None], Table]] = {
    "fig2_span_surprise": fig2,
    "sec53_reward": sec53,
    "sec31_similarity": sec31,
    "fig3_bridged_proportion": curve("share bridged"),
    "delta_sensitivity": curve("δ"),
    "fig5_edit_distance": fig5,
    "token_dynamics": token_dynamics,
    "diff_algorithm": diff_algorithm,
    "bridging_cost": bridging_cost,
}


def lines(name: str, meta: dict, path: str) -> list[str]:
    """The Markdown of the figure's table and its footnotes (the paper's source first); a summary the table
    cannot read is an error naming the figure's JSON."""
    ours, paper = meta.get("ours") or {}, meta.get("paper")
    try:
        header, rows, notes = BUILDERS.get(name, generic)(ours, paper)
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{path}: cannot read the summary of {name} ({type(e).__name__}: {e})") from e
    source = [
        f"Paper: {paper['source']}." if paper and paper.get("source") else "Paper: no number to set beside."
    ]
    return [*md_table(header, rows), "", " ".join([*source, *notes]), ""]
