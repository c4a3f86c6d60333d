"""The `table` stage writes one of the paper's tables as CSV and as Markdown headed by the scale's label."""

import csv
import json
from pathlib import Path

from bmc.cli import main
from bmc.io import write_jsonl

PAPER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_values.yaml"
SETS = ["ECQA", "QASC", "OBQA", "ARC"]


def test_table1_as_csv_and_markdown(tmp_path):
    scores = []
    for method, value in (("SFT", 50.0), ("DPO", 60.0)):
        for dataset in SETS:  # scores.json with the graded records beside it, as `evaluate` writes them
            path = tmp_path / method / dataset / "scores.json"
            path.parent.mkdir(parents=True)
            record = {"method": method, "seed": 0, "dataset": dataset, "score": value, "n": 10}
            path.write_text(json.dumps(record | {"score_released": value, "parsed": 10}))
            graded = [{"id": f"q{i}", "correct": i < value / 10} for i in range(10)]
            write_jsonl(path.with_name("records.jsonl"), graded)
            scores.append(str(path))
    out_csv, out_md = tmp_path / "table1_qa.csv", tmp_path / "table1_qa.md"
    main(["table", "--table", "table1_qa", "--scores", *scores, "--paper-values", str(PAPER)]
         + ["--label", "SMOKE SCALE: test", "--out-csv", str(out_csv), "--out-md", str(out_md)])  # fmt: skip
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["method"], float(r["Avg"])) for r in rows] == [("SFT", 50.0), ("DPO", 60.0)]
    md = out_md.read_text()
    assert md.startswith("**SMOKE SCALE: test**\n\n### Table 1") and "ECQA 10, QASC 10, OBQA 10, ARC 10" in md
