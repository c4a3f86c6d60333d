"""The report's first section: each claim of the paper beside ours, with its interval and whether this run can
resolve it, then what the run did not produce and the setting that would make it.

Nothing is computed again here: the tables' claims are read from their CSVs (each comparison's paired test and power
statement, `vs_*` columns, `bmc.reporting.power`), the analyses' from their figures' JSON summaries (the intervals
each analysis wrote). A table's claim is resolvable when the paper's difference is at least the difference this run
detects; an analysis' direction is settled when the two intervals it compares are apart (or, for a difference, its
interval excludes 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from bmc.alignment.methods import bmc_variant
from bmc.analysis import ANALYSES
from bmc.reporting.cells import MISSING, described, md_table, num, read_csv, with_interval

PAPER_SCALES = ("paper", "paper-mistral")  # the scales whose numbers stand beside the paper's ("Δ vs paper")
TASK_NAMES = {"qa": "QA", "math": "math", "if": "instruction following"}
ALL_TASKS = ("qa", "math", "if")
MISSING_MARK = "†"


@dataclass
class Claim:
    where: str  # a link to the section it comes from
    what: str
    n: str
    ours: str
    paper: str
    verdict: str
    resolved: bool | None  # True: resolvable / settled, False: not, None: not assessed

    def cells(self) -> list[str]:
        return [f"{self.where}: {self.what}", self.ours, self.paper, self.verdict, self.n]


def _mark(word: str, resolved: bool | None) -> str:
    kind = {True: "yes", False: "no", None: "na"}[resolved]
    return f'<span class="{kind}">{word}</span>'


# ---- the tables' claims (CSV rows with the power statements) -----------------------------------------------------
def _power(row: dict, p: str) -> tuple[str, bool | None]:
    """The verdict of a comparison's power statement (`<p>resolvable`, `<p>detectable`, `<p>n_needed`)."""
    detectable = f"detects ≥ {num(row.get(f'{p}detectable'))}"
    resolvable = row.get(f"{p}resolvable")
    if resolvable is None:
        return f"{_mark('—', None)} {detectable}", None
    if resolvable:
        return f"{_mark('yes', True)}: {detectable}; p {num(row.get(f'{p}p'), 3)}", True
    need = row.get(f"{p}n_needed")
    would = f" (≈{need:,} per method would)" if need else ""
    return f"{_mark('no', False)}: {detectable}{would}", False


def _paired(where: str, what: str, row: dict, p: str, doubt: str | None) -> Claim:
    """A claim from a comparison's paired test: Δ per question (and seed) with its 95% interval."""
    ours = with_interval(row[f"{p}diff"], row.get(f"{p}ci_low"), row.get(f"{p}ci_high"), sign=True)
    paper = num(row.get(f"{p}paper_diff"), sign=True) + (MISSING_MARK if doubt else "")
    verdict, resolved = _power(row, p)
    return Claim(where, what, str(row.get(f"{p}n_items", MISSING)), ours, paper, verdict, resolved)


def _lc(where: str, what: str, ours: tuple, paper: float | None, row: dict, doubt: str | None) -> Claim:
    """A claim on AlpacaEval's LC win rate: one fitted rate per run, so no per-question test; the raw win rate's
    paired test on the same answers (`vs_alpaca_eval_*`) says what this n can detect."""
    diff, halves = ours
    if diff is not None and all(h is not None for h in halves):
        half = math.hypot(*halves)  # the two methods' intervals over seeds, taken as independent
        shown = with_interval(diff, diff - half, diff + half, sign=True)
    else:
        shown = f"{num(diff, sign=True)} (1 seed)"
    raw = "vs_alpaca_eval_"
    detectable = num(row.get(f"{raw}detectable"))
    verdict = (
        f"{_mark('not tested', None)}: LC has no per-question test; the raw win rate detects ≥ {detectable}"
    )
    paper_cell = num(paper, sign=True) + (MISSING_MARK if doubt and paper is not None else "")
    return Claim(where, what, str(row.get(f"{raw}n_items", MISSING)), shown, paper_cell, verdict, None)


def _gap(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(b - a, 2)


def table_claims(name: str, rows: list[dict], covered: set[str]) -> tuple[list[Claim], list[str]]:
    """(claims, comparisons made without a paper number) of one table; Table 5's DPO row is left to Tables 1 and
    2 when they cover its task (`covered`)."""
    by = {r["method"]: r for r in rows}
    task = name.split("_", 1)[1] if "_" in name else "if"
    link = f"[{_short_title(name)}](#{name})"
    claims, unpaired = [], []
    if name.startswith("table1_"):
        r, base = by.get("DPO-BMC"), by.get("DPO") or {}
        if r and r.get("vs_base") == "DPO":
            doubt = base.get("paper_unverified") or r.get("paper_unverified")
            claims.append(_paired(link, f"DPO-BMC − DPO, {TASK_NAMES[task]} average", r, "vs_", doubt))
    elif name == "table2":
        r, base = by.get("DPO-BMC"), by.get("DPO")
        if r and base:
            doubt = base.get("paper_unverified") or r.get("paper_unverified")
            lc = (_gap(base["AE_LC"], r["AE_LC"]), (base.get("AE_LC_ci95"), r.get("AE_LC_ci95")))
            paper = _gap(base.get("paper_LC"), r.get("paper_LC"))
            claims.append(_lc(link, "DPO-BMC − DPO, AlpacaEval 2 LC", lc, paper, r, doubt))
            if r.get("vs_arena_hard_base") == "DPO":
                claims.append(_paired(link, "DPO-BMC − DPO, Arena-Hard win rate", r, "vs_arena_hard_", doubt))
    elif name.startswith("table5_"):
        for r in rows:
            variant = r["method"]
            if variant == "DPO" and task in covered:
                continue
            what = f"{bmc_variant(variant)} − {variant}, {TASK_NAMES[task]}"
            if task == "if":
                halves = (r.get("without_ci95"), r.get("with_bmc_ci95"))
                claim = _lc(link, what + " (AlpacaEval 2 LC)", (r["gain"], halves), r.get("paper_gain"), r,
                            r.get("paper_unverified"))  # fmt: skip
                paper = r.get("paper_gain")
            else:
                claim = _paired(link, what, r, "vs_", r.get("paper_unverified"))
                paper = r.get("vs_paper_diff")
            if paper is None:
                unpaired.append(what)
            else:
                claims.append(claim)
    unpaired += [
        c.what for c in claims if c.paper == MISSING
    ]  # e.g. a block whose values are not transcribed
    return [c for c in claims if c.paper != MISSING], unpaired


def _short_title(name: str) -> str:
    from bmc.reporting.tables import TABLES

    title = TABLES[name][0].split(":")[0]
    return title.replace(" block)", ")").replace("(instruction following)", "(IF)")


# ---- the analyses' directions (figure JSON summaries) ------------------------------------------------------------
def _apart(a: dict, b: dict) -> bool | None:
    """Whether two summaries' 95% intervals ({ci_low, ci_high}) are apart; None without intervals."""
    if None in (a.get("ci_low"), a.get("ci_high"), b.get("ci_low"), b.get("ci_high")):
        return None
    return a["ci_high"] < b["ci_low"] or b["ci_high"] < a["ci_low"]


def _settled(apart: bool | None, ours_up: bool, paper_up: bool | None, why_not: str) -> tuple[str, bool]:
    if not apart:
        return f"{_mark('no', False)}: {why_not}", False
    if paper_up is None:
        return f"{_mark('yes', True)}: ours {'rises' if ours_up else 'falls'}", True
    same = "as the paper's" if ours_up == paper_up else "opposite to the paper's"
    return f"{_mark('yes', True)}: {same}", True


def _tasks(ours: dict) -> list[str]:
    return sorted(k for k, v in ours.items() if isinstance(v, dict))


def fig2_claims(ours: dict, paper: dict, link: str) -> list[Claim]:
    v, paper_task = paper.get("values") or {}, paper.get("task")
    claims = []
    for task in _tasks(ours):
        first, following = ours[task]["first"], ours[task]["following"]
        if first.get("mean") is None or following.get("mean") is None:
            continue
        beside = "first" in v and "following" in v and paper_task in (None, task)
        shown = f"{num(v['first'], 2)} vs {num(v['following'], 2)}" if beside else MISSING
        paper_up = v["first"] > v["following"] if beside else None
        verdict, resolved = _settled(
            _apart(first, following), first["mean"] > following["mean"], paper_up, "the intervals overlap"
        )
        n = f"{first['n']} / {following['n']} tokens"
        what = f"−log p of y_l's varied spans, first token vs the following ({TASK_NAMES.get(task, task)})"
        ours_cell = f"{described(first)} vs {described(following)}"
        claims.append(Claim(link, what, n, ours_cell, shown, verdict, resolved))
    return claims


def _difference(link: str, what: str, n: str, d: dict, paper_diff: float | None, digits: int) -> Claim:
    """A claim on a difference with its paired-bootstrap interval: settled when the interval excludes 0."""
    ours = with_interval(d["diff"], d["ci_low"], d["ci_high"], digits, sign=True)
    apart = d["ci_low"] > 0 or d["ci_high"] < 0
    paper_up = None if paper_diff is None else paper_diff > 0
    verdict, resolved = _settled(apart, d["diff"] > 0, paper_up, "the interval includes 0")
    return Claim(link, what, n, ours, num(paper_diff, digits, sign=True), verdict, resolved)


def sec53_claims(ours: dict, paper: dict, link: str) -> list[Claim]:
    v = paper.get("values") or {}
    claims = []
    for task in _tasks(ours):
        s = ours[task]
        if not s.get("pairs"):
            continue
        n, name = f"{s['pairs']} pairs", TASK_NAMES.get(task, task)
        for key, field, digits, unit in (
            ("accuracy_diff", "accuracy", 1, "points"),
            ("margin_diff", "margin", 2, ""),
        ):
            paper_diff = _gap(v.get("DPO", {}).get(field), v.get("DPO-BMC", {}).get(field))
            what = f"held-out reward {field}, DPO-BMC − DPO ({name}{', ' + unit if unit else ''})"
            claims.append(_difference(link, what, n, s[key], paper_diff, digits))
    return claims


def sec31_claims(ours: dict, paper: dict, link: str, paper_scale: bool) -> list[Claim]:
    value = (paper.get("values") or {}).get("bridged")
    embedder = ours.get("embedder")
    claims = []
    for task in _tasks(ours):
        s = ours[task]
        if not s.get("edited"):  # without an edited pair the summary is of y_w with itself
            continue
        sim = s["sim_yw_bridged"]
        if embedder != ours.get("papers_embedder"):
            verdict, resolved = f"{_mark('not comparable', False)}: embedder {embedder}", False
        elif not paper_scale:
            verdict, resolved = f"{_mark('not compared', None)}: a level, off the paper's scale", None
        elif value is None or sim.get("ci_low") is None:
            verdict, resolved = f"{_mark('—', None)}", None
        else:
            inside = sim["ci_low"] <= value <= sim["ci_high"]
            word = "the paper's value is inside ours" if inside else "ours differs from the paper's"
            verdict, resolved = f"{_mark('yes', True)}: {word}", True
        what = f"ỹ_w stays close to y_w: cosine of (y_w, ỹ_w) ({TASK_NAMES.get(task, task)})"
        n = f"{s['edited']} edited pairs"
        claims.append(Claim(link, what, n, described(sim), num(value, 2), verdict, resolved))
    return claims


def fig3_claims(ours: dict, paper: dict, link: str) -> list[Claim]:
    claims = []
    for task in _tasks(ours):
        points = sorted(ours[task].items(), key=lambda kv: float(kv[0]))
        if len(points) < 2:
            continue
        (p0, first), (p1, last) = points[0], points[-1]
        a, b = first.get("released") or {}, last.get("released") or {}
        if a.get("score") is None or b.get("score") is None:
            continue
        ours_cell = f"{with_interval(a['score'], a['ci_low'], a['ci_high'])} → {with_interval(b['score'], b['ci_low'], b['ci_high'])}"
        verdict, resolved = _settled(_apart(a, b), b["score"] > a["score"], None, "the end intervals overlap")
        what = f"DPO-BMC's score as the share of bridged pairs goes {p0} → {p1} ({TASK_NAMES.get(task, task)}, %)"
        claims.append(Claim(link, what, f"{first['n']} per point", ours_cell, MISSING, verdict, resolved))
    return claims


def fig5_claims(ours: dict, paper: dict, link: str) -> list[Claim]:
    v = paper.get("values") or {}
    paper_ends = {m: (v.get(m) or {}).get("grad_norm") for m in ("DPO", "DPO-BMC")}
    paper_cell = "; ".join(f"{m} {e[0]:g} → {e[1]:g}" for m, e in paper_ends.items() if e) or MISSING
    claims = []
    for task in _tasks(ours):
        ends, parts = {}, []
        for method in ("DPO", "DPO-BMC"):
            bins = ours[task].get(method) or {}
            norms = [bins[b].get("grad_norm") for b in sorted(bins, key=lambda b: int(b.removeprefix("bin")))]
            norms = [x for x in norms if x is not None]
            if len(norms) >= 2:
                ends[method] = (norms[0], norms[-1])
                parts.append(f"{method} {num(norms[0], 2)} → {num(norms[-1], 2)}")
        if not ends:
            continue
        same = all(
            (b > a) == (paper_ends[m][1] > paper_ends[m][0])
            for m, (a, b) in ends.items()
            if paper_ends.get(m)
        )
        direction = "as the paper's" if same else "not as the paper's"
        verdict = f"{_mark('no interval', False)}: one norm per model; {direction}"
        what = (
            f"first-step gradient norm, closest → farthest edit-distance bin ({TASK_NAMES.get(task, task)})"
        )
        claims.append(Claim(link, what, "1 model per bin", "; ".join(parts), paper_cell, verdict, False))
    return claims


def analysis_claims(metas: dict[str, dict], paper_scale: bool) -> list[Claim]:
    """The analyses' claims, in the paper's order, from {figure name: its JSON}."""
    claims = []
    for name, build in (
        ("fig2_span_surprise", fig2_claims),
        ("sec53_reward", sec53_claims),
        ("sec31_similarity", lambda o, p, link: sec31_claims(o, p, link, paper_scale)),
        ("fig3_bridged_proportion", fig3_claims),
        ("fig5_edit_distance", fig5_claims),
    ):
        if name in metas:
            meta = metas[name]
            link = f"[{_figure_short(name)}](#{name})"
            claims += build(meta.get("ours") or {}, meta.get("paper") or {}, link)
    return claims


# what the report calls each analysis (the start of its module's TITLE; the report does not import the modules,
# whose lazy imports need the analysis env)
ANALYSIS_NAMES = {
    "fig2_span_surprise": "Figure 2",
    "sec53_reward": "§5.3",
    "token_dynamics": "Token dynamics",
    "bridging_cost": "Bridging cost",
    "diff_algorithm": "Diff algorithm",
    "sec31_similarity": "§3.1",
    "fig3_bridged_proportion": "Figure 3",
    "delta_sensitivity": "δ sensitivity",
    "fig5_edit_distance": "Figure 5",
}


# what an analysis reads, for a run that names it but makes none of it (bmc/plan/analyses.py)
ANALYSIS_NEEDS = {
    "fig2_span_surprise": "a QA or math task",
    "sec53_reward": "DPO and DPO-BMC trained on a QA or math task",
    "token_dynamics": "DPO and DPO-BMC trained on one task",
    "bridging_cost": "pairs bridged by this run",
    "diff_algorithm": "a QA or math task",
    "sec31_similarity": "a QA or math task",
    "fig3_bridged_proportion": "a QA or math task and `analysis.proportions`",
    "delta_sensitivity": "a QA or math task and `analysis.deltas`",
    "fig5_edit_distance": "a QA or math task and `analysis.edit_distance_bins`",
}


def _figure_short(name: str) -> str:
    return ANALYSIS_NAMES.get(name, name)


# ---- what the run did not produce ----------------------------------------------------------------------------------
def run_tasks(config: dict) -> list[str]:
    """The run's tasks: `tasks`, else every task with a `data` section."""
    data = config.get("data") or {}
    return list(config.get("tasks") or [t for t in ALL_TASKS if data.get(t)])


def not_produced(config: dict, tables: list[str], figures: list[str]) -> list[str]:
    """One line per paper table and analysis this run did not make, with the setting that would make it."""
    from bmc.reporting.tables import TABLES

    made, tasks = {Path(t).stem for t in tables}, run_tasks(config)
    in_order = sorted(
        TABLES, key=lambda n: (n.split("_")[0], ALL_TASKS.index(n.split("_")[1]) if "_" in n else 0)
    )

    def task_reason(task: str) -> str:
        return f"the task `{task}` is not run: add it to `tasks` (with its `data.{task}` section)"

    reasons = {}
    for name in in_order:
        task = "if" if name == "table2" else name.split("_", 1)[1] if "_" in name else None
        if name in made:
            continue
        if task and task not in tasks:
            reasons[name] = task_reason(task)
        elif name.startswith("table5_"):
            reasons[name] = (
                f"no objective is trained both without and with BMC on {task}: add a pair such as IPO and"
                f" IPO-BMC to `train.methods` (or `task_overrides.{task}.train.methods`), as the overlay"
                " workflow/config/all_methods.yaml does"
            )
        elif name == "table3":
            reasons[name] = (
                "no other bridging strategy is set: `table3_strategies` (e.g. [targeted_no_ref, inverse, free])"
            )
        elif name == "table4":
            reasons[name] = "no second editor is set: `table4_editors`"
    lines = [f"- {_short_title(name)}: {why}." for name, why in reasons.items()]
    drawn, named = {Path(f).stem for f in figures}, (config.get("analysis") or {}).get("names") or []
    lines += [
        f"- {_figure_short(n)}: "
        + (
            f"this run makes none of its inputs (it needs {ANALYSIS_NEEDS[n]})."
            if n in named
            else "not among `analysis.names`."
        )
        for n in ANALYSES
        if n not in drawn
    ]
    return lines


def caveats(config: dict, metas: dict[str, dict]) -> list[str]:
    """What the run made but cannot show: numbers beside the paper's off its scale, intervals over one seed, an
    analysis without data on a task."""
    lines = []
    if config.get("scale") not in PAPER_SCALES:
        lines.append(
            f"- Δ vs paper: left out of the tables, as `{config.get('scale')}` is not the paper's scale; the paper's"
            " numbers stay beside ours for reference."
        )
    seeds = config.get("seeds") or []
    if len(seeds) < 2:
        lines.append(
            "- Intervals over seeds: one seed, so the tables' cells have none; the intervals above and in the"
            " statistical-power tables are per question (paired by question). Two or more `seeds` add them."
        )
    sec53 = (metas.get("sec53_reward") or {}).get("ours") or {}
    lines += [
        f"- §5.3 on {TASK_NAMES.get(t, t)}: no held-out pair (no gold solution or no wrong answer of the SFT model)."
        for t in _tasks(sec53)
        if not sec53[t].get("pairs")
    ]
    sec31 = (metas.get("sec31_similarity") or {}).get("ours") or {}
    lines += [
        f"- §3.1 on {TASK_NAMES.get(t, t)}: the editor edited no pair, so there is no ỹ_w to compare with y_w."
        for t in _tasks(sec31)
        if not sec31[t].get("edited")
    ]
    return lines


# ---- the section --------------------------------------------------------------------------------------------------
def _headline(table: list[Claim], analyses: list[Claim]) -> str:
    parts = []
    tested = [c for c in table if c.resolved is not None]
    if table:
        parts.append(
            f"Of the paper's {len(table)} differences between methods compared here, this run can resolve "
            f"{sum(bool(c.resolved) for c in tested)} (of {len(tested)} with a per-question test)."
        )
    if analyses:
        settled = sum(bool(c.resolved) for c in analyses)
        verb = "is" if settled == 1 else "are"
        parts.append(
            f"Of {len(analyses)} directions of the paper's analyses, {settled} {verb} settled by this run's intervals."
        )
    return " ".join(parts) or "This run makes none of the paper's comparisons."


def section(config: dict, tables: list[str], figures: list[str], metas: dict[str, dict]) -> list[str]:
    """The summary: the tables' claims, the analyses' directions, then what the run did not produce."""
    claimed = ("table1_", "table2", "table5_")  # the tables whose comparisons the paper claims
    csvs = {
        Path(t).stem: read_csv(Path(t).with_suffix(".csv"))
        for t in tables
        if Path(t).stem.startswith(claimed)
    }
    covered = {n.split("_", 1)[1] for n in csvs if n.startswith("table1_")} | (
        {"if"} if "table2" in csvs else set()
    )
    table, unpaired = [], []
    for name, rows in csvs.items():  # the plan's order: Table 1 per task, Table 2, Table 5 per task
        found, without = table_claims(name, rows, covered)
        table += found
        unpaired += without
    analyses = analysis_claims(metas, config.get("scale") in PAPER_SCALES)
    header = ["Claim", "Ours [95% interval]", "Paper", "Can this run resolve it?", "n"]
    lines = ["## Summary", "", _headline(table, analyses), ""]
    if table:
        lines += ["### The paper's tables", "", *md_table(header, [c.cells() for c in table]), ""]
        notes = [
            "Differences in points (accuracy, win rate), the second method minus the first. n: questions × seeds per"
            " method; interval: paired by question (bootstrap); resolvable: the paper's difference is at least the"
            " smallest one this n detects (80% power, α = 0.05)."
        ]
        if any("LC" in c.what for c in table):
            notes.append(
                "AlpacaEval 2 LC is one fitted rate per run: it has no per-question test, and its interval comes"
                " from two or more seeds (none with one seed)."
            )
        if any(MISSING_MARK in c.paper for c in table):
            notes.append(f"{MISSING_MARK}: a paper value not checked against the paper (see its table).")
        lines += [" ".join(notes), ""]
        if unpaired:
            lines += ["Also compared, with no paper number to set beside: " + "; ".join(unpaired) + ".", ""]
    if analyses:
        header[3] = "Settled by this run?"
        lines += ["### The paper's analyses", "", *md_table(header, [c.cells() for c in analyses]), ""]
        lines += [
            "A direction is settled when the two intervals compared are apart (a difference: its interval excludes 0).",
            "",
        ]
    gaps = not_produced(config, tables, figures) + caveats(config, metas)
    lines += ["### What this run did not produce", "", *(gaps or ["Every paper table and analysis."]), ""]
    return lines
