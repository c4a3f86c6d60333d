import argparse
import json

from bmc.analysis.common import Analysis, describe, save
from bmc.stages.report import run

LABEL = "SMOKE SCALE: tiny"


SPANS = {"qa": {"pairs": 3, "first": describe([9.0, 10.0]), "following": describe([2.0, 2.0, 2.5])}}
COST = {
    "runs": 0,
    "calls": 0,
    "input_tokens": 0,
    "output_tokens": 0,
    "wall_s": 0.0,
    "cost": None,
    "per_run": [],
}


def _figure(root, name, summary, paper=None):
    def draw(ax):
        ax.bar([0], [1.0])

    save(
        str(root / "figures" / name),
        Analysis([{"x": 1}], summary, draw),
        name,
        f"Title of {name}",
        LABEL,
        paper,
    )
    return str(root / "figures" / f"{name}.png")


def test_report_has_contents_one_banner_and_figures_beside_their_tables(tmp_path):
    tables = []
    for name, title in (("table1_qa", "Table 1 (QA block)"), ("table5_qa", "Table 5 (QA)")):
        path = tmp_path / "tables" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"**{LABEL}**\n\n### {title}\n\n| Method | Avg |\n| --- | --- |\n| DPO | 50.0 |\n")
        path.with_suffix(".csv").write_text("method,Avg\nDPO,50.0\n")  # no comparison: no claim
        tables.append(str(path))
    paper = {"source": "Figure 2", "values": {"first": 13.79}}
    figures = [
        _figure(tmp_path, "fig2_span_surprise", SPANS, paper),
        _figure(tmp_path, "bridging_cost", COST),
    ]
    (tmp_path / "bench").mkdir()
    args = argparse.Namespace(
        tables=tables,
        summaries=[],
        figures=figures,
        generation=[],
        benchmarks_dir=str(tmp_path / "bench"),
        config_json=json.dumps({"scale": "smoke", "seeds": [0]}),
        label=LABEL,
        out_md=str(tmp_path / "report" / "index.md"),
        out_html=str(tmp_path / "report" / "index.html"),
    )
    run(args)
    md = (tmp_path / "report" / "index.md").read_text()
    assert md.count(LABEL) == 1
    assert (
        "## Contents" in md and "- [Table 1 (QA block)](#table1_qa)" in md and "- [Analyses](#analyses)" in md
    )
    # Figure 2 explains Table 1: it comes after Table 1 and before Table 5; the cost has no Table 3 here
    assert md.index("Table 1 (QA block)\n") < md.index(
        "![fig2_span_surprise](../figures/fig2_span_surprise.png)"
    )
    assert md.index("fig2_span_surprise.png") < md.index("### Table 5 (QA)")
    assert md.index("### Analyses") < md.index("bridging_cost.png")
    # under the figure, ours beside the paper's as a table: each cell with its interval, the paper's row after
    assert "| qa | 3 | 9.50 [9.00, 10.00] | 2.17 [2.00, 2.50] | 2 / 3 |" in md
    assert "| paper | — | 13.79 | — | — |" in md and "Paper: Figure 2." in md
    html = (tmp_path / "report" / "index.html").read_text()
    assert html.count('src="data:image/png;base64,') == 2 and "../figures/" not in html.split("Data:")[0]
    assert html.count(LABEL) == 1


def test_a_figure_has_no_title_and_its_legends_stand_above_the_data(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from bmc.analysis.common import place_legends

    def draw(left, right):  # curves over the whole of each panel, and a key of proxy artists on the left
        for ax in (left, right):
            ax.plot([0, 1], [0, 1], label="ours, a long label of a curve")
            ax.plot([0, 1], [1, 0], label="paper")
        left.legend(handles=[Line2D([], [], ls="--", label="dashed: DPO")])

    fig, axes = plt.subplots(1, 2)
    draw(*axes)
    assert place_legends(axes) == 2  # the left panel: two curves and the proxy, two per row
    fig.tight_layout()
    fig.canvas.draw()
    for ax in axes:
        legend, frame = ax.get_legend().get_window_extent(), ax.get_window_extent()
        assert legend.y0 >= frame.y1 and legend.y1 <= fig.bbox.y1  # above the axes, inside the image
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert labels == ["ours, a long label of a curve", "paper", "dashed: DPO"]
    plt.close(fig)
    monkeypatch.setattr(Figure, "suptitle", lambda *a, **k: (_ for _ in ()).throw(AssertionError("a title")))
    save(str(tmp_path / "f"), Analysis([], {}, draw, panels=2), "f", "Title of f", LABEL, None)
    assert json.loads((tmp_path / "f.json").read_text())["title"] == "Title of f"  # the report's heading
