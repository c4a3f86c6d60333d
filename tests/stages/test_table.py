"""The `table` stage writes one of the paper's tables as CSV and as Markdown headed by the scale's label."""

import csv
import json
from pathlib import Path

import pytest

from bmc.cli import main
from bmc.io import write_jsonl

PAPER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_values.yaml"
SETS = ["ECQA", "QASC", "OBQA", "ARC"]


def test_table1_as_csv_and_markdown_with_bridged_shares_and_paired_tests(tmp_path):
    scores = []
    for method, value in (("SFT", 50.0), ("DPO", 60.0), ("DPO-BMC", 70.0)):
        for dataset in SETS:  # scores.json with the graded records beside it, as `evaluate` writes them
            path = tmp_path / method / dataset / "scores.json"
            path.parent.mkdir(parents=True)
            record = {"method": method, "seed": 0, "task": "qa", "dataset": dataset, "score": value, "n": 10}
            path.write_text(json.dumps(record | {"score_released": value - 10, "parsed": 10}))
            graded = [
                {"id": f"q{i}", "correct": i < value / 10, "correct_released": i < value / 10 - 1}
                for i in range(10)
            ]
            write_jsonl(path.with_name("records.jsonl"), graded)
            scores.append(str(path))
    summary = tmp_path / "bridged" / "summary.json"
    summary.parent.mkdir()
    summary.write_text(json.dumps({"status": {"edited": 31, "fallback": 63}}))
    out_csv, out_md = tmp_path / "table1_qa.csv", tmp_path / "table1_qa.md"
    args = ["table", "--table", "table1_qa", "--scores", *scores, "--paper-values", str(PAPER)]
    args += ["--label", "SMOKE SCALE: test", "--out-csv", str(out_csv), "--out-md", str(out_md)]
    main([*args, "--bridging", json.dumps({"qa:DPO-BMC": str(summary)})])
    rows = list(csv.DictReader(out_csv.open()))
    assert [(r["method"], float(r["Avg"]), float(r["Avg_corrected"])) for r in rows] == [
        ("SFT", 40.0, 50.0),
        ("DPO", 50.0, 60.0),
        ("DPO-BMC", 60.0, 70.0),
    ]
    # the paired test of DPO-BMC against DPO sits on DPO-BMC's row: released verdicts, 4 sets x 1 question more
    bmc = rows[2]
    assert (bmc["pairs_edited"], bmc["pairs"], bmc["vs_base"], bmc["vs_n_items"]) == ("31", "94", "DPO", "40")
    assert float(bmc["vs_diff"]) == float(bmc["vs_diff_corrected"]) == pytest.approx(10.0)
    assert float(bmc["vs_paper_diff"]) == pytest.approx(3.8) and rows[0]["vs_base"] == ""
    md = out_md.read_text()
    assert md.startswith("**SMOKE SCALE: test**\n\n### Table 1") and "ECQA 10, QASC 10, OBQA 10, ARC 10" in md
    assert "| 31/94 (33%) |" in md and "| DPO-BMC vs DPO | 40 |" in md
    # a row trained on bridged pairs needs the summary of its pairs
    with pytest.raises(ValueError, match="no bridging summary"):
        main([*args, "--bridging", "{}"])
