"""The report: results/<scale>/report/index.md and a self-contained index.html (rule `report`, `bmc.stages.report`)."""

from __future__ import annotations

import base64
import re
from collections import defaultdict
from pathlib import Path

import markdown
import yaml

from bmc.io import read_json
from bmc.reporting import figure_tables, stage_tables, summary
from bmc.reporting.job_records import status_lines
from bmc.reporting.provenance import (
    config_hash,
    environment,
    generation_settings,
    git_state,
    hardware,
    package_versions,
    pad_token_settings,
    rule_times,
)

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:1.5em auto;padding:0 1em;color:#222;
line-height:1.45}h1{font-size:1.6em;margin:.2em 0 .4em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.scroll{overflow-x:auto;margin:.8em 0}table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #d4d4d4;padding:.3em .55em;text-align:left;vertical-align:top}th{background:#f3f3f3}
td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}td.s{white-space:nowrap}
.yes{color:#1a6b1a;font-weight:600}.no{color:#9a4a00;font-weight:600}.na{color:#555;font-weight:600}
blockquote{background:#fff3cd;border:1px solid #e0c46c;margin:.6em 0 1em;padding:.3em 1em;font-weight:600}
pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.85em}img{max-width:100%;height:auto}
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}
@media (max-width:600px){body{margin:.5em auto;padding:0 .6em}table{font-size:.8em}}"""


def times_section(bench_dir: str) -> list[str]:
    rows = rule_times(bench_dir)
    per_rule = defaultdict(lambda: [0.0, 0])
    for r in rows:
        per_rule[r["rule"]][0] += r["seconds"]
        per_rule[r["rule"]][1] += 1
    lines = ["| rule | jobs | wall time (s) |", "| --- | --- | --- |"]
    for rule, (secs, jobs) in sorted(per_rule.items(), key=lambda kv: -kv[1][0]):
        lines.append(f"| {rule} | {jobs} | {secs:.1f} |")
    lines.append(f"| **total** | {len(rows)} | {sum(r['seconds'] for r in rows):.1f} |")
    return lines


def stale_section(run_dir: str) -> list[str]:
    """The run's outputs made by other code than the report's or from changed inputs, as `bmc status` lists
    them (`bmc.reporting.job_records`)."""
    lines = status_lines(run_dir)
    if len(lines) == 1:  # none stale
        return ["### Outputs and the code that made them", "", f"{lines[0]}."]
    body = "\n".join(line[2:] for line in lines[1:])
    return ["### Outputs made by other code or from changed inputs", "", lines[0], "", "```", body, "```"]


def generation_section(meta_paths: list[str]) -> list[str]:
    """How the answers were generated (backend, versions, dtype, decoding), from each output's record."""
    rows = generation_settings(meta_paths)
    if not rows:
        return []
    cols = ["stage", "task", "backend", "torch", "device", "dtype", "decoding", "files", "models", "rows"]
    lines = ["### Generation", "", "| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    cells = ([str(r[c]).replace("|", "\\|") for c in cols] for r in rows)
    return [*lines, *("| " + " | ".join(row) + " |" for row in cells), ""]


# the table each analysis explains: its figure follows the last table whose name starts with this
FIGURE_TABLES = {
    "fig2_span_surprise": "table1",
    "sec53_reward": "table1",
    "token_dynamics": "table1",
    "diff_algorithm": "table1",
    "fig3_bridged_proportion": "table1",
    "delta_sensitivity": "table1",
    "fig5_edit_distance": "table1",
    "sec31_similarity": "table3",
    "bridging_cost": "table3",
}


def figure_block(png: str) -> list[str]:
    """A figure: its heading (the image has no title of its own), the image (linked relative to report/), ours
    beside the paper's as a small table, its notes, and links to the data behind it."""
    png = Path(png)
    meta_path = png.with_suffix(".json")
    meta = read_json(meta_path) if meta_path.exists() else {}
    rel = f"../figures/{png.stem}"
    lines = [
        f'<a id="{png.stem}"></a>',
        "",
        f"#### {meta.get('title', png.stem)}",
        "",
        f"![{png.stem}]({rel}.png)",
        "",
    ]
    if meta:
        lines += figure_tables.lines(png.stem, meta, str(meta_path))
    lines += [line for note in meta.get("notes", []) for line in (f"Note: {note}", "")]
    lines += [
        f"Data: [{png.stem}.csv]({rel}.csv), [{png.stem}.json]({rel}.json), [{png.stem}.pdf]({rel}.pdf)",
        "",
    ]
    return lines


def place_figures(tables: list[str], figures: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """(table path -> the figures shown after it, figures with no table of theirs in this report)."""
    placed: dict[str, list[str]] = defaultdict(list)
    rest = []
    for fig in figures:
        prefix = FIGURE_TABLES.get(Path(fig).stem)
        owners = [t for t in tables if prefix and Path(t).stem.startswith(prefix)]
        (placed[owners[-1]] if owners else rest).append(fig)
    return placed, rest


def _strip_label(text: str, label: str) -> str:
    """A table's Markdown without its own copy of the scale's banner (the report shows it once, at the top)."""
    head = f"**{label}**"
    return text[len(head) :].lstrip("\n") if text.startswith(head) else text


def _title(text: str, fallback: str) -> str:
    return next((line[4:].strip() for line in text.splitlines() if line.startswith("### ")), fallback)


CELL_SPLIT = re.compile(r"(?<!\\)\|")


def drop_column(text: str, name: str) -> str:
    """The Markdown with the column headed `name` taken out of every pipe table that has it."""
    out, drop = [], None
    for line in text.splitlines():
        if not line.startswith("|"):
            out.append(line)
            drop = None
            continue
        cells = CELL_SPLIT.split(line)
        if drop is None:  # a table's header row
            names = [c.strip() for c in cells]
            drop = names.index(name) if name in names else -1
        out.append("|".join(c for i, c in enumerate(cells) if i != drop) if drop > 0 else line)
    return "\n".join(out)


ONE_SEED = "One seed: the cells have no interval over seeds (two or more `seeds` give them)"
ONE_SEED_POWER = "; each comparison's interval, per question and paired, is in the statistical power below"


POWER = "#### Statistical power"


def _table_text(path: str, label: str, paper_scale: bool, seeds: int) -> str:
    """A table as the report shows it: without the scale's banner, without "Δ vs paper" off the paper's scale,
    with one seed saying where its intervals are, and its statistical power folded (the summary shows the
    paper's claims among its comparisons)."""
    text = _strip_label(Path(path).read_text(encoding="utf-8"), label)
    text = text if paper_scale else drop_column(text, "Δ vs paper")
    at = text.index(POWER) if POWER in text else len(text.rstrip("\n"))
    table, power = text[:at].rstrip(), text[at:].removeprefix(POWER).strip()
    if seeds < 2:
        table += "\n\n" + ONE_SEED + (ONE_SEED_POWER if power else "") + "."
    if power:
        title = "Statistical power: each comparison's paired test and the smallest difference this n detects"
        table += "\n\n" + "\n".join(_details(title, [power]))
    return table + "\n"


def _details(title: str, lines: list[str]) -> list[str]:
    """Lines folded under a title (the HTML shows the title; the Markdown reader sees all)."""
    return ['<details markdown="1">', f"<summary>{title}</summary>", "", *lines, "", "</details>", ""]


def build_markdown(
    config: dict,
    label: str,
    tables: list[str],
    summaries: list[str],
    figures: list[str],
    benchmarks_dir: str,
    generation: list[str],
    run_dir: str | None = None,
) -> str:
    """The report's Markdown: first the summary (each claim of the paper beside ours, what the run did not
    produce), then the tables with their figures, the other figures, the stage summaries, the wall time per rule
    (`benchmarks_dir`), and the provenance (config, git, environment, generation records, and the outputs of the
    run's folder `run_dir` made by other code or from changed inputs)."""
    git = git_state()
    paper_scale = config.get("scale") in summary.PAPER_SCALES
    metas = {
        Path(f).stem: read_json(Path(f).with_suffix(".json"))
        for f in figures
        if Path(f).with_suffix(".json").exists()
    }
    placed, rest = place_figures(tables, figures)
    sections: list[tuple[str, str, list[str]]] = []  # (anchor, title, lines)
    for table in tables:
        text = _table_text(table, label, paper_scale, len(config.get("seeds") or []))
        body = [text, ""]
        for fig in placed.get(table, []):
            body += figure_block(fig)
        sections.append((Path(table).stem, _title(text, Path(table).stem), body))
    if rest:
        body = [line for fig in rest for line in figure_block(fig)]
        sections.append(("analyses", "Analyses", ["### Analyses", "", *body]))
    data = ["## Data, pairs and bridging", "", *stage_tables.section(summaries)]
    sections.append(("data", "Data, pairs and bridging", data))
    rows = rule_times(benchmarks_dir)
    total = f"{len(rows)} jobs, {sum(r['seconds'] for r in rows):.0f} s in all"
    times = [
        "## Wall time per rule (Snakemake benchmark files)",
        "",
        *_details(total, times_section(benchmarks_dir)),
    ]
    sections.append(("times", "Wall time per rule", times))
    prov = ["## Provenance", "", "| what | value |", "| --- | --- |"]
    prov += [
        f"| config sha256 | `{config_hash(config)}` |",
        f"| git commit | `{git['commit']}`{' (dirty)' if git['dirty'] else ''} |",
    ]
    prov += [f"| {k} | {v} |" for k, v in {**environment(), **hardware(), **package_versions()}.items()]
    pads = "; ".join(f"{k}: `{v}`" for k, v in pad_token_settings(config).items()).replace("|", "\\|")
    prov.append(f"| pad token of a tokenizer without one (`pad_token_if_missing`) | {pads} |")
    prov += ["", *stale_section(run_dir)] if run_dir else []
    generated = generation_section(generation)
    prov += ["", *_details("Generation settings", generated[2:])] if generated else []
    config_text = ["```yaml", yaml.safe_dump(config, sort_keys=False).strip(), "```"]
    prov += ["", "### Config", "", *_details("The resolved config", config_text)]
    sections.append(("provenance", "Provenance", prov))
    run = f" (run `{config['run']}`)" if config.get("run") and config["run"] != config["scale"] else ""
    md = [f"# BMC replication report: {config['scale']} scale{run}", "", f"> **{label}**", ""]
    md += ['<a id="summary"></a>', "", *summary.section(config, tables, figures, metas)]
    contents = [("summary", "Summary"), *((anchor, title) for anchor, title, _ in sections)]
    md += ["## Contents", "", *(f"- [{title}](#{anchor})" for anchor, title in contents), ""]
    tables_started = False
    for anchor, _, body in sections:
        if anchor.startswith("table") and not tables_started:
            md += ["## Tables", ""]
            tables_started = True
        md += [f'<a id="{anchor}"></a>', "", *body]
    return "\n".join(md)


# a cell that is a number: sign, digits, a unit or mark, "± half", "[low, high]", a short "(…)" (e.g. "(1 seed)")
NUMBER = re.compile(r"([+\-−]?\d[\d,.]*(%|†)?( ± [\d.]+)?( \[[^\]<]*\])?( \([^)<]{1,24}\))?|—)")
CELL = re.compile(r"<td>([^<]*)</td>")


def _cell_class(match: re.Match) -> str:
    """A table cell with its class: "n" for a number (right-aligned, one line), "s" for a short text (one line)."""
    text = match.group(1)
    kind = "n" if NUMBER.fullmatch(text) else "s" if len(text) <= 28 else ""
    return f'<td class="{kind}">{text}</td>' if kind else match.group(0)


def to_html(md_text: str, label: str, figures: list[str]) -> str:
    """A self-contained page: figures embedded, each table in a box of its own that scrolls sideways on a narrow
    screen, numbers right-aligned and kept on one line, text left-aligned."""
    body = markdown.markdown(md_text, extensions=["tables", "fenced_code", "md_in_html"])
    for fig in figures:  # embed figures so the page is self-contained
        data = base64.b64encode(Path(fig).read_bytes()).decode()
        body = body.replace(f'src="../figures/{Path(fig).name}"', f'src="data:image/png;base64,{data}"')
    body = CELL.sub(_cell_class, body)
    body = body.replace("<table>", '<div class="scroll"><table>').replace("</table>", "</table></div>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>BMC report</title><style>{CSS}</style></head><body>{body}</body></html>\n"
    )
