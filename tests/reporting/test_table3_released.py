"""Table 3's row for DPO-BMC on the authors' released pairs, beside our bridging."""

import json

from bmc.reporting.tables import build

from .test_tables import PAPER, SETS, write_scores, write_summary


def test_released_row_sits_beside_ours_without_a_paper_value_of_its_own(tmp_path):
    paths = []
    for method, qa in (("DPO-BMC", 60), ("DPO-BMC@released", 62), ("DPO-BMC@inverse", 50)):
        paths += write_scores(tmp_path, method, 0, [qa] * 4, released_offset=0)
    bridging = {
        "qa:DPO-BMC": write_summary(tmp_path, "targeted", edited=30, fallback=70),
        "qa:DPO-BMC@released": write_summary(tmp_path, "released", given=1000),
        "qa:DPO-BMC@inverse": write_summary(tmp_path, "inverse", edited=50, fallback=50),
    }
    rows, md = build("table3", paths, str(PAPER), "PAPER SCALE", datasets=SETS, bridging=bridging)
    assert [(r["strategy"], r["method"], r["qa"]) for r in rows] == [
        ("targeted", "DPO-BMC", 60.0),
        ("released", "DPO-BMC@released", 62.0),
        ("inverse", "DPO-BMC@inverse", 50.0),
    ]
    # the paper reports DPO-BMC on its GPT-4 pairs once (the targeted row); nothing is copied into this row
    assert rows[0]["paper_qa"] == 65.1 and rows[1]["paper_qa"] is None
    assert (rows[1]["qa_pairs_edited"], rows[1]["qa_pairs"]) == (1000, 1000)
    row = "| y_l → ỹ_w, y_w as reference: the authors' released GPT-4 pairs | 62.0 | 62.0 | — | given 1000/1000 | 1 |"
    assert row in md and "The released pairs' row has no paper value of its own" in md


def test_table1_math_has_a_tabmwp_column(tmp_path):
    paths = []
    for dataset, score in (("gsm8k", 30), ("math-oai", 10), ("mawps", 60), ("tabmwp", 40)):
        p = tmp_path / f"{dataset}.json"
        record = {"method": "DPO", "seed": 0, "task": "math", "dataset": dataset, "score": score, "n": 10}
        p.write_text(json.dumps(record | {"score_released": score, "parsed": 10}))
        paths.append(str(p))
    rows, md = build(
        "table1_math", paths, str(PAPER), "PAPER SCALE", ["tabmwp", "gsm8k", "math-oai", "mawps"]
    )
    assert rows[0]["Avg"] == 35.0 and rows[0]["tabmwp"] == 40.0
    assert "| Method | GSM8K | MATH | MAWPS | TabMWP | Avg |" in md and "not released" not in md
    assert "the paper's Avg covers GSM8K, MATH, MAWPS and TabMWP" in md
