"""What the figures draw beside ours: the paper's values come from paper_values.yaml and are drawn only beside the
same quantity (Figure 5's AlpacaEval LC is quoted, never drawn beside QA accuracy); a graded score is drawn under
the released rule (the paper's) with the corrected rule beside it, labelled; a missing score is drawn as missing,
never as a 0% bar."""

import json
from pathlib import Path

import pytest
import yaml

from bmc.analysis import ANALYSES
from bmc.analysis.common import Analysis, PaperEnds, PaperLine, draw_paper_lines, save
from bmc.analysis.diff_algorithm import score_bars
from bmc.analysis.fig3_bridged_proportion import draw_curve

PAPER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_values.yaml"


@pytest.fixture
def axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    yield axes
    plt.close(fig)


def test_a_paper_line_is_drawn_at_the_value_of_paper_values_yaml(axes):
    entry = yaml.safe_load(PAPER.read_text())["sec31_similarity"]
    draw_paper_lines(axes, [PaperLine(1, "bridged", "paper: {value}")], entry, "sec31_similarity")
    (line,) = axes[1].get_lines()
    assert list(line.get_ydata()) == [entry["values"]["bridged"]] * 2
    assert line.get_label() == f"paper: {entry['values']['bridged']}" and not axes[0].get_lines()
    changed = {"values": {"bridged": 0.5}}  # the figure follows the file, not a number in the module
    draw_paper_lines(axes, [PaperLine(0, "bridged", "paper")], changed, "sec31_similarity")
    assert list(axes[0].get_lines()[0].get_ydata()) == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"no number sec31_similarity.values.first"):
        draw_paper_lines(axes, [PaperLine(0, "first", "paper")], entry, "sec31_similarity")


def test_save_draws_the_paper_lines(tmp_path):
    analysis = Analysis([], {}, lambda ax: ax.plot([0, 1], [0, 1]), paper_lines=[PaperLine(0, "m", "paper")])
    with pytest.raises(ValueError, match=r"no number demo.values.m"):
        save(str(tmp_path / "demo"), analysis, "demo", "Demo", "SMOKE SCALE", None)
    save(str(tmp_path / "demo"), analysis, "demo", "Demo", "SMOKE SCALE", {"values": {"m": 0.3}})
    assert (tmp_path / "demo.png").stat().st_size > 0


def test_sec31_declares_its_paper_value_instead_of_drawing_a_number(tmp_path, monkeypatch, axes):
    import sentence_transformers

    from bmc.analysis.sec31_similarity import analyse

    from .test_similarity import WEIGHTS, NamedEmbedder, sha

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", NamedEmbedder)
    from bmc.config import AnalysisJob
    from bmc.models.prepare import SHIPPED_TOKENIZER

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        '{"id": "1", "chosen_original": "a", "chosen": "c", "rejected": "b", "bridge": {"status": "edited"}}\n'
    )
    folder = tmp_path / "embedder"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    spec = {"name": "e", "package": "e==1", "wheel_sha256": "a" * 64, "safetensors_sha256": sha(WEIGHTS)}
    inputs = {"embedder": [str(folder)], "model:qa": [str(SHIPPED_TOKENIZER)], "pairs:qa": [str(pairs)]}
    result = analyse(inputs, AnalysisJob.model_validate({"similarity_model": spec}))
    assert [(p.panel, p.key) for p in result.paper_lines] == [(0, "bridged")]
    result.draw(*axes)
    assert not axes[0].get_lines()  # the module draws no paper value of its own


def error_bars(ax) -> dict[str, tuple]:
    """label -> (y values, line style) of each error-bar series drawn on `ax`."""
    from matplotlib.container import ErrorbarContainer

    return {
        c.get_label(): (tuple(c.lines[0].get_ydata()), c.lines[0].get_linestyle())
        for c in ax.containers
        if isinstance(c, ErrorbarContainer) and c.lines[0] is not None  # a bar's error bars have no line
    }


def cell(released: float, corrected: float, n: int = 40) -> dict:
    """A sweep point's cell (`bmc.analysis.sweeps.point_cell`) with ±4-point intervals."""
    rules = {"released": released, "corrected": corrected}
    return {"n": n, "released_rule": "authors_code"} | {
        rule: {"score": x, "ci_low": x - 4, "ci_high": x + 4} for rule, x in rules.items()
    }


def test_a_missing_score_is_labelled_not_drawn_as_zero(axes):
    scores = {"qa": {"difflib": cell(12.0, 15.0)}, "math": {"difflib": cell(0.0, 3.0, 30)}}
    score_bars(axes[0], ["qa", "math"], scores)
    heights = sorted(round(p.get_height(), 6) for p in axes[0].patches)
    assert heights == [0.0, 12.0]  # difflib's two released-rule scores, a real 0 included; no levenshtein bar
    labels = [t.get_text() for t in axes[0].texts]
    assert labels == ["levenshtein: no score", "levenshtein: no score"]
    assert error_bars(axes[0]) == {"corrected": ((15.0, 3.0), "None")}  # markers beside the bars, labelled


def test_sweep_curves_draw_the_released_rule_with_the_corrected_beside(axes):
    summary = {"qa": {"0": cell(30.0, 40.0), "1": cell(35.0, 50.0), "0.5": cell(32.0, 45.0)}}
    draw_curve(summary, "share")(axes[0])
    assert error_bars(axes[0]) == {
        "qa (n 40), released rule": ((30.0, 32.0, 35.0), "-"),
        "qa (n 40), corrected": ((40.0, 45.0, 50.0), "--"),
    }


def _fig5_inputs(tmp_path) -> dict[str, list[str]]:
    """Two bins of QA pairs: each method's first-step gradient norm, and DPO's scores on one set per bin."""
    inputs = {}
    for b in (0, 1):
        for method, norm in (("DPO", 2.0 + b), ("DPO-BMC", 4.0 + b)):
            model = tmp_path / method / str(b)
            model.mkdir(parents=True)
            (model / "token_dynamics.jsonl").write_text(json.dumps({"step": 1, "grad_norm": norm}) + "\n")
            inputs[f"model:qa:{method}:{b}"] = [str(model)]
        scores = tmp_path / "scores" / str(b) / "ECQA" / "scores.json"
        scores.parent.mkdir(parents=True)
        record = {"dataset": "ECQA", "n": 50, "score": 60.0 + b, "score_released": 50.0 + b}
        scores.write_text(json.dumps(record | {"released_rule": "authors_code"}))
        inputs[f"score:qa:DPO:{b}"] = [str(scores.parent.parent)]
    return inputs


def test_fig5_draws_the_papers_gradient_norms_and_never_its_lc_beside_qa_accuracy(tmp_path, axes):
    from bmc.analysis.fig5_edit_distance import analyse
    from bmc.config import AnalysisJob

    entry = yaml.safe_load(PAPER.read_text())["fig5_edit_distance"]
    result = analyse(_fig5_inputs(tmp_path), AnalysisJob())
    result.draw(*axes)
    draw_paper_lines(axes, result.paper_lines, entry, "fig5_edit_distance")
    norms = {line.get_label(): tuple(line.get_ydata()) for line in axes[0].get_lines()}
    assert norms == {
        "qa DPO": (2.0, 3.0),
        "qa DPO-BMC": (4.0, 5.0),
        "paper DPO, instruction following: first, last split": (3.31, 4.85),
        "paper DPO-BMC, instruction following: first, last split": (5.26, 8.75),
    }
    assert error_bars(axes[1]) == {
        "qa DPO (n 50), released rule": ((50.0, 51.0), "-"),
        "qa DPO (n 50), corrected": ((60.0, 61.0), "--"),
    }
    assert {tuple(line.get_ydata()) for line in axes[1].get_lines()} & {
        (7.68, 15.0),
        (7.68,),
        (15.0,),
    } == set()
    assert result.summary["qa"]["DPO"]["bin1"]["released"]["score"] == 51.0
    assert result.summary["qa"]["DPO-BMC"]["bin0"] == {"grad_norm": 4.0}

    save(str(tmp_path / "fig5"), result, "fig5_edit_distance", "Figure 5", "SMOKE SCALE", entry)
    written = json.loads((tmp_path / "fig5.json").read_text())
    assert "LC" not in json.dumps(written["paper"]["values"])  # the values drawn beside ours hold no LC
    (quoted,) = [n for n in written["notes"] if "AlpacaEval" in n]
    assert quoted.startswith(
        "Not drawn, another quantity than ours: paper, instruction following, AlpacaEval 2 LC"
    )
    assert "DPO LC 7.68 → 15" in quoted
    assert any("released rule (the paper's" in n and "authors' code" in n for n in written["notes"])


def test_paper_ends_need_a_pair_of_numbers(axes):
    axes[0].set_xticks([0, 1, 2])
    draw_paper_lines(axes, [PaperEnds(0, "DPO.g", "paper")], {"values": {"DPO": {"g": [1.0, 2.0]}}}, "demo")
    assert [(list(x.get_xdata()), list(x.get_ydata())) for x in axes[0].get_lines()] == [([0, 2], [1.0, 2.0])]
    with pytest.raises(ValueError, match=r"no pair of numbers \(first, last\) demo.values.DPO.g"):
        draw_paper_lines(axes, [PaperEnds(0, "DPO.g", "paper")], {"values": {"DPO": {"g": 1.0}}}, "demo")


def test_no_figure_draws_a_win_rate_beside_its_graded_scores():
    """The analyses score QA and math (or measure the models themselves); a judged win rate (LC, WR, AH) in an
    analysis' `values` would be drawn beside them: it belongs in `apart`, quoted with its quantity."""
    paper = yaml.safe_load(PAPER.read_text())

    def fields(values: dict) -> set[str]:
        return {k for v in values.values() if isinstance(v, dict) for k in v} | set(values)

    for name in ANALYSES:
        assert not fields((paper.get(name) or {}).get("values") or {}) & {"LC", "WR", "AH"}, name
        for item in (paper.get(name) or {}).get("apart") or []:
            assert item["quantity"] and item["values"], name
