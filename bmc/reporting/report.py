"""The report: results/<scale>/report/index.md and a self-contained index.html (rule `report`, `bmc.stages.report`)."""

from __future__ import annotations

import base64
from collections import defaultdict
from pathlib import Path

import markdown
import yaml

from bmc.io import read_json
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

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.label{background:#fff3cd;border:1px solid #e0c46c;
padding:.6em 1em;font-weight:600}blockquote{background:#fff3cd;border:1px solid #e0c46c;margin:1em 0;
padding:.3em 1em;font-weight:600}pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.85em}img{max-width:100%}"""


def _kv_table(d: dict, prefix: str = "") -> list[str]:
    rows = []
    for k, v in d.items():
        if isinstance(v, dict):
            rows += _kv_table(v, f"{prefix}{k}.")
        else:
            rows.append(f"| {prefix}{k} | {v} |")
    return rows


def summary_section(path: str) -> list[str]:
    """A stage summary as a key/value table, titled by its folder under results/<scale>/ (e.g. pairs/math)."""
    parent = Path(path).parent
    name = Path(*parent.parts[2:]) if parent.parts[0] == "results" and len(parent.parts) > 2 else parent
    return [f"### {name}", "", "| key | value |", "| --- | --- |", *_kv_table(read_json(path)), ""]


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


def _flat(d, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k}.")
        elif isinstance(v, list) and v and all(isinstance(x, int | float) for x in v):
            out.append((f"{prefix}{k}", " → ".join(_value(float(x)) for x in v)))
        elif not isinstance(v, list) and v is not None and "ci_" not in str(k):
            out.append((f"{prefix}{k}", v))
    return out


def _value(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def figure_block(png: str) -> list[str]:
    """A figure: its title, the image (linked relative to report/), our headline numbers beside the paper's,
    and links to the data behind it."""
    png = Path(png)
    meta_path = png.with_suffix(".json")
    meta = read_json(meta_path) if meta_path.exists() else {}
    rel = f"../figures/{png.stem}"
    ours = "; ".join(f"{k} {_value(v)}" for k, v in _flat(meta.get("ours", {}))[:10])
    paper = (meta.get("paper") or {}).get("values")
    lines = [f"#### {meta.get('title', png.stem)}", "", f"![{png.stem}]({rel}.png)", ""]
    lines += [f"Ours: {ours or '—'}.", ""]
    if paper:
        lines += [
            f"Paper ({meta['paper'].get('source', '')}): "
            + "; ".join(f"{k} {_value(v)}" for k, v in _flat(paper))
            + ".",
            "",
        ]
    lines += [*(f"Note: {n}" for n in meta.get("notes", [])), ""]
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
    """The report's Markdown: the tables with their figures, the other figures, the stage summaries, the wall
    time per rule (`benchmarks_dir`), and the provenance (config, git, environment, generation records, and the
    outputs of the run's folder `run_dir` made by other code or from changed inputs)."""
    git = git_state()
    placed, rest = place_figures(tables, figures)
    sections: list[tuple[str, str, list[str]]] = []  # (anchor, title, lines)
    for i, table in enumerate(tables):
        text = _strip_label(Path(table).read_text(encoding="utf-8"), label)
        body = [text, ""]
        for fig in placed.get(table, []):
            body += figure_block(fig)
        sections.append((f"table-{i}", _title(text, Path(table).stem), body))
    if rest:
        body = [line for fig in rest for line in figure_block(fig)]
        sections.append(("analyses", "Analyses", ["### Analyses", "", *body]))
    data = ["## Data, pairs and bridging", ""]
    for s in summaries:
        data += summary_section(s)
    sections.append(("data", "Data, pairs and bridging", data))
    times = ["## Wall time per rule (Snakemake benchmark files)", "", *times_section(benchmarks_dir), ""]
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
    prov += ["", *generation_section(generation)]
    prov += ["", "### Config", "", "```yaml", yaml.safe_dump(config, sort_keys=False).strip(), "```", ""]
    sections.append(("provenance", "Provenance", prov))
    run = f" (run `{config['run']}`)" if config.get("run") and config["run"] != config["scale"] else ""
    md = [f"# BMC replication report: {config['scale']} scale{run}", "", f"> **{label}**", ""]
    md += ["## Contents", "", *(f"- [{title}](#{anchor})" for anchor, title, _ in sections), ""]
    tables_started = False
    for anchor, _, body in sections:
        if anchor.startswith("table-") and not tables_started:
            md += ["## Tables", ""]
            tables_started = True
        md += [f'<a id="{anchor}"></a>', "", *body]
    return "\n".join(md)


def to_html(md_text: str, label: str, figures: list[str]) -> str:
    body = markdown.markdown(md_text, extensions=["tables", "fenced_code"])
    for fig in figures:  # embed figures so the page is self-contained
        data = base64.b64encode(Path(fig).read_bytes()).decode()
        body = body.replace(f'src="../figures/{Path(fig).name}"', f'src="data:image/png;base64,{data}"')
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>BMC report</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )
