"""Rules `table1` to `table5`: one of the paper's tables, ours beside the paper's values, with what its n can
detect.

From the scores of its runs: the paper's values beside ours, the share of each bridged row's pairs that were
edited, and what the seeds can detect (`bmc.reporting.tables`, `bmc.reporting.power`); written as CSV (with
each comparison's paired test on the row it compares) and as Markdown headed by the scale's label.
"""

from __future__ import annotations

import argparse
import csv
import io
import json

from bmc.evaluation.judge import check_unparsed_shares
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
    p.add_argument(
        "--bridging",
        required=True,
        help='JSON {"<task>:<method>": summary.json}: the bridging summary of the pairs each bridged row trained on',
    )
    p.add_argument("--label", required=True, help="the scale's label, printed above the table")
    p.add_argument("--out-csv", required=True)
    p.add_argument("--out-md", required=True)


def csv_text(rows: list[dict]) -> str:
    """The rows as CSV, columns in first-seen order; a missing or None cell is empty."""
    out = io.StringIO()
    writer = csv.DictWriter(out, list(dict.fromkeys(k for r in rows for k in r)), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def run(args: argparse.Namespace) -> None:
    check_unparsed_shares(args.scores)  # judged scores with too many replies without a verdict stop here
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
        json.loads(args.bridging),
    )
    statement, comparisons = power.statement(args.table, args.scores, args.paper_values, args.paper_key)
    write_text(args.out_csv, csv_text(power.attach(rows, comparisons)))
    md += statement
    write_text(args.out_md, md)
