"""Rule `report`: the report of a run, in Markdown and as a self-contained HTML page.

results/<run>/report/index.md and index.html, from the tables, figures, stage summaries, benchmark files, the
resolved config and the job records of the run's outputs (`bmc.reporting.report`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bmc.io import write_text
from bmc.reporting.report import build_markdown, to_html


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--tables", nargs="+", required=True, help="table .md files")
    p.add_argument("--summaries", nargs="*", default=[], help="stage summary .json files")
    p.add_argument("--figures", nargs="*", default=[], help="figure .png files")
    p.add_argument("--benchmarks-dir", required=True, help="folder of Snakemake benchmark .tsv files")
    p.add_argument("--generation", nargs="*", default=[], help="generation records (<out>.meta.json)")
    p.add_argument("--config-json", required=True, help="the resolved config as JSON")
    p.add_argument("--label", required=True)
    p.add_argument("--out-md", required=True)
    p.add_argument("--out-html", required=True)


def run(args: argparse.Namespace) -> None:
    md_text = build_markdown(
        json.loads(args.config_json),
        args.label,
        args.tables,
        args.summaries,
        args.figures,
        args.benchmarks_dir,
        args.generation,
        run_dir=str(Path(args.out_md).parents[1]),  # results/<run>/report/index.md
    )
    write_text(args.out_md, md_text)
    write_text(args.out_html, to_html(md_text, args.label, args.figures))
