import argparse
import json

from bmc.reporting.provenance import rule_times
from bmc.stages.report import run


def test_report_has_every_section(tmp_path):
    bench = tmp_path / "benchmarks"
    (bench / "train_qa" / "DPO").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "train_qa" / "DPO" / "seed0.tsv").write_text(
        header + "12.5\t0:00:12\t900.1\t1\t1\t1\t0\t0\t50\t6\n"
    )
    (bench / "sft_qa.tsv").write_text(header + "30.0\t0:00:30\tNA\t1\t1\t1\t0\t0\t50\t6\n")
    assert rule_times(bench) == [
        {"rule": "sft_qa", "job": "-", "seconds": 30.0, "max_rss_mb": None},
        {"rule": "train_qa", "job": "DPO/seed0", "seconds": 12.5, "max_rss_mb": 900.1},
    ]
    table = tmp_path / "t.md"
    table.write_text("**SMOKE SCALE**\n\n### Table 1\n\n| Method | Avg |\n| --- | --- |\n| DPO | 50.0 |\n")
    summary = tmp_path / "pairs" / "qa" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"asked": 10, "per_dataset": {"ECQA": {"wrong": 3}}}))
    config = {"scale": "smoke", "seeds": [0]}
    args = argparse.Namespace(
        tables=[str(table)],
        summaries=[str(summary)],
        figures=[],
        generation=[],
        benchmarks_dir=str(bench),
        config_json=json.dumps(config),
        label="SMOKE SCALE: tiny",
        out_md=str(tmp_path / "r.md"),
        out_html=str(tmp_path / "r.html"),
    )
    run(args)
    md = (tmp_path / "r.md").read_text()
    for needle in [
        "SMOKE SCALE: tiny",
        "| DPO | 50.0 |",
        "per_dataset.ECQA.wrong | 3",
        "| train_qa | 1 | 12.5 |",
        "| **total** | 2 | 42.5 |",
        "config sha256",
        "| prefix | ",  # the environment the report ran in
        "transformers",
        "scale: smoke",
    ]:
        assert needle in md, needle
    html = (tmp_path / "r.html").read_text()
    assert "<table>" in html and "SMOKE SCALE: tiny" in html
