"""Rules `table1`-`table5` (command `table`): one of the paper's tables from the scores of its runs, with the
paper's values beside ours and what the seeds can detect (`bmc.reporting.tables`, `bmc.reporting.power`);
written as CSV and as Markdown headed by the scale's label."""

from __future__ import annotations

import argparse

from bmc.io import write_text
from bmc.reporting import power
from bmc.reporting.tables import TABLES, build


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--table", required=True, choices=sorted(TABLES))
    p.add_argument("--scores", nargs="+", required=True, help="scores.json files")
    p.add_argument("--datasets", nargs="+", default=None, help="test sets (columns); default: the task's")
    p.add_argument(
        "--default-strategy", default="targeted", help="Table 3: the strategy plain `DPO-BMC` was trained on"
    )
    p.add_argument("--editors", nargs="+", default=None, help="Table 4: name=method per editor, in row order")
    p.add_argument("--paper-values", required=True, help="paper_values.yaml")
    p.add_argument(
        "--paper-key",
        default=None,
        help="the entry of paper_values.yaml to compare with (default: the table's)",
    )
    p.add_argument(
        "--pairs-source", default=None, help="Table 2: config data.if.source (how the pairs were made)"
    )
    p.add_argument("--label", required=True, help="the scale's label, printed above the table")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)


def run(args: argparse.Namespace) -> None:
    import pandas as pd

    editors = dict(e.split("=", 1) for e in args.editors) if args.editors else None
    rows, md = build(
        args.table,
        args.scores,
        args.paper_values,
        args.label,
        args.datasets,
        args.default_strategy,
        editors,
        args.paper_key,
        args.pairs_source,
    )
    md += power.table_section(args.table, args.scores, args.paper_values, args.paper_key)
    write_text(args.out_csv, pd.DataFrame(rows).to_csv(index=False))
    write_text(args.out_md, md)
