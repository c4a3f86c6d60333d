"""Table 3's row for DPO-BMC on the authors' released pairs, beside our bridging."""

import json

from bmc.reporting.tables import build

from .test_tables import PAPER, SETS


def test_released_row_sits_beside_ours_with_the_paper_value_of_the_authors_dpo_bmc(tmp_path):
    paths = []
    for method, qa in (("DPO-BMC", 60), ("DPO-BMC@released", 62), ("DPO-BMC@inverse", 50)):
        for dataset in SETS:
            p = tmp_path / f"{method}-{dataset}.json"
            p.write_text(json.dumps({"method": method, "seed": 0, "dataset": dataset, "score": qa}))
            paths.append(str(p))
    rows, md = build("table3", paths, str(PAPER), "PAPER SCALE", datasets=SETS)
    assert [(r["strategy"], r["method"], r["qa"]) for r in rows] == [
        ("targeted", "DPO-BMC", 60.0),
        ("released", "DPO-BMC@released", 62.0),
        ("inverse", "DPO-BMC@inverse", 50.0),
    ]
    assert rows[1]["paper_qa"] == rows[0]["paper_qa"] == 65.1
    assert "| y_l → ỹ_w, y_w as reference: the authors' released GPT-4 pairs | 62.0 | 65.1 | 1 |" in md


def test_table1_math_has_a_tabmwp_column(tmp_path):
    paths = []
    for dataset, score in (("gsm8k", 30), ("math-oai", 10), ("mawps", 60), ("tabmwp", 40)):
        p = tmp_path / f"{dataset}.json"
        record = {"method": "DPO", "seed": 0, "dataset": dataset, "score": score, "n": 10, "parsed": 10}
        p.write_text(json.dumps(record | {"score_released": score}))
        paths.append(str(p))
    rows, md = build(
        "table1_math", paths, str(PAPER), "PAPER SCALE", ["tabmwp", "gsm8k", "math-oai", "mawps"]
    )
    assert rows[0]["Avg"] == 35.0 and rows[0]["tabmwp"] == 40.0
    assert "| Method | GSM8K | MATH | MAWPS | TabMWP | Avg |" in md and "not released" not in md
    assert "the paper's Avg covers GSM8K, MATH, MAWPS and TabMWP" in md
