"""Stage `report`: results/<scale>/report/index.md and a self-contained index.html."""

from __future__ import annotations

import argparse
import base64
import json
from collections import defaultdict
from pathlib import Path

import markdown
import yaml

from bmc.io import read_json, write_text
from bmc.reporting.provenance import config_hash, git_state, hardware, package_versions, rule_times

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.label{background:#fff3cd;border:1px solid #e0c46c;
padding:.6em 1em;font-weight:600}pre{background:#f7f7f7;padding:1em;overflow-x:auto;font-size:.85em}img{max-width:100%}"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", nargs="+", required=True, help="table .md files")
    p.add_argument("--summaries", nargs="*", default=[], help="stage summary .json files")
    p.add_argument("--figures", nargs="*", default=[], help="figure .png files")
    p.add_argument("--benchmarks-dir", required=True, help="folder of Snakemake benchmark .tsv files")
    p.add_argument("--config-json", required=True, help="the resolved config as JSON")
    p.add_argument("--label", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-html", required=True)


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


def build_markdown(args) -> str:
    config = json.loads(args.config_json)
    git = git_state()
    md = [f"# BMC replication report: {config['scale']} scale", "", f"> **{args.label}**", ""]
    md += ["## Tables", ""]
    for table in args.tables:
        md += [Path(table).read_text(encoding="utf-8"), ""]
    for fig in args.figures:
        md += [f"![{Path(fig).stem}]({Path(fig).name})", ""]
    md += ["## Data, pairs and bridging", ""]
    for s in args.summaries:
        md += summary_section(s)
    md += ["## Wall time per rule (Snakemake benchmark files)", "", *times_section(args.benchmarks_dir), ""]
    md += ["## Provenance", "", "| what | value |", "| --- | --- |"]
    md += [
        f"| config sha256 | `{config_hash(config)}` |",
        f"| git commit | `{git['commit']}`{' (dirty)' if git['dirty'] else ''} |",
    ]
    md += [f"| {k} | {v} |" for k, v in {**hardware(), **package_versions()}.items()]
    md += ["", "### Config", "", "```yaml", yaml.safe_dump(config, sort_keys=False).strip(), "```", ""]
    return "\n".join(md)


def to_html(md_text: str, label: str, figures: list[str]) -> str:
    body = markdown.markdown(md_text, extensions=["tables", "fenced_code"])
    for fig in figures:  # embed figures so the page is self-contained
        data = base64.b64encode(Path(fig).read_bytes()).decode()
        body = body.replace(f'src="{Path(fig).name}"', f'src="data:image/png;base64,{data}"')
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>BMC report</title><style>{CSS}</style></head>"
        f"<body><div class='label'>{label}</div>{body}</body></html>\n"
    )


def run(args: argparse.Namespace) -> None:
    md_text = build_markdown(args)
    write_text(args.out_md, md_text)
    write_text(args.out_html, to_html(md_text, args.label, args.figures))
