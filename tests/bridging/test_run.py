import argparse
import json

import pytest

from bmc.bridging.bridge import bridge_pairs, read_pairs, select, summarize
from bmc.bridging.prompts import load_template
from bmc.config import Bridge, ConfigError, job_settings
from bmc.io import InputError
from bmc.llm.cache import ResponseCache
from bmc.stages.bridge import add_arguments

from .conftest import GOOD_EDIT, PAIR, CountingEditor, make_pairs

IDENTITY = {"kind": "test", "model": "m", "params": []}


def test_cache_hit_miss_and_rerun_without_the_editor(tmp_path, pairs):
    template, cache = load_template("targeted"), ResponseCache(tmp_path / "cache")
    ids = {p["id"] for p in pairs}
    editor = CountingEditor()
    rows, usage = bridge_pairs(pairs, template, IDENTITY, lambda: editor, cache, ids, chunk=2)
    assert editor.usage["requests"] == 5 and editor.calls == 3 and usage["cache_hits"] == 0
    assert [r["bridge"]["status"] for r in rows] == ["edited"] * 5
    assert rows[0]["chosen"] == GOOD_EDIT and rows[0]["chosen_original"] == PAIR["chosen"]
    assert rows[0]["rejected"] == PAIR["rejected"] and len({r["bridge"]["cache_key"] for r in rows}) == 5
    again, usage = bridge_pairs(pairs, template, IDENTITY, lambda: pytest.fail("editor built"), cache, ids)
    assert again == rows and usage["cache_hits"] == 5 and usage["requests"] == 0


def test_edit_key_changes_with_template_editor_and_request(tmp_path, pairs):
    cache, ids = ResponseCache(tmp_path), {p["id"] for p in pairs}
    first, _ = bridge_pairs(pairs, load_template("targeted"), IDENTITY, CountingEditor, cache, ids)
    other_editor = {**IDENTITY, "params": [("max_new_tokens", 8)]}
    for template, identity in [
        (load_template("targeted_no_ref"), IDENTITY),
        (load_template("targeted"), other_editor),
    ]:
        editor = CountingEditor()
        rows, _ = bridge_pairs(pairs, template, identity, lambda e=editor: e, cache, ids)
        assert editor.usage["requests"] == 5
        assert not {r["bridge"]["cache_key"] for r in rows} & {r["bridge"]["cache_key"] for r in first}


def test_a_killed_run_keeps_finished_chunks(tmp_path, pairs):
    template, cache = load_template("targeted"), ResponseCache(tmp_path)
    ids = {p["id"] for p in pairs}
    killed = CountingEditor(fail_on_call=2)
    with pytest.raises(KeyboardInterrupt):
        bridge_pairs(pairs, template, IDENTITY, lambda: killed, cache, ids, chunk=2)
    assert killed.usage["requests"] == 2  # the first chunk finished
    resumed = CountingEditor()
    rows, usage = bridge_pairs(pairs, template, IDENTITY, lambda: resumed, cache, ids, chunk=2)
    assert resumed.usage["requests"] == 3 and usage["cache_hits"] == 2
    assert [r["bridge"]["status"] for r in rows] == ["edited"] * 5


def test_proportion_fallback_and_every_id_present(tmp_path):
    pairs = make_pairs(10)
    ids = [p["id"] for p in pairs]
    selected = select(ids, 0.3, seed=0)
    assert len(selected) == 3 and selected == select(list(reversed(ids)), 0.3, seed=0)
    assert (
        select(ids, 0.3, seed=1) != selected
        and select(ids, 0.0, 0) == set()
        and select(ids, 1.0, 0) == set(ids)
    )
    rows, _ = bridge_pairs(
        pairs,
        load_template("targeted"),
        IDENTITY,
        lambda: CountingEditor("no idea"),
        ResponseCache(tmp_path),
        selected,
    )
    assert [r["id"] for r in rows] == ids
    assert {r["id"] for r in rows if r["bridge"]["status"] == "fallback"} == selected
    assert all(r["bridge"]["reason"] == "no 'The answer is' line" for r in rows if r["id"] in selected)
    kept = [r for r in rows if r["id"] not in selected]
    assert all(r["bridge"]["status"] == "kept" and r["bridge"]["cache_key"] is None for r in kept)
    assert all(r["chosen"] == PAIR["chosen"] and r["rejected"] == PAIR["rejected"] for r in rows)


def test_inverse_replaces_the_loser_and_keeps_it(tmp_path, pairs):
    degraded = "Let's think step by step.\nFish need sand.\nThe answer is desert"
    ids = {p["id"] for p in pairs}
    rows, _ = bridge_pairs(
        pairs,
        load_template("inverse"),
        IDENTITY,
        lambda: CountingEditor(degraded),
        ResponseCache(tmp_path),
        ids,
    )
    row = rows[0]
    assert row["bridge"]["status"] == "edited" and row["rejected"] == degraded
    assert (
        row["rejected_original"] == PAIR["rejected"]
        and row["chosen"] == row["chosen_original"] == PAIR["chosen"]
    )


def test_bad_inputs_fail_early(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps(PAIR) + "\n" + json.dumps(PAIR) + "\n")
    with pytest.raises(InputError, match=r"pairs.jsonl:2: duplicate pair id"):
        read_pairs(str(path))
    path.write_text(json.dumps({k: v for k, v in PAIR.items() if k != "answer"}) + "\n")
    with pytest.raises(InputError, match=r"pairs.jsonl:1: a qa pair needs a string 'answer'"):
        read_pairs(str(path))
    path.write_text(json.dumps({**PAIR, "task": "math", "answer": None}) + "\n")
    with pytest.raises(InputError, match=r"pairs.jsonl:1: a math pair needs a string 'answer'"):
        read_pairs(str(path))


def test_bridge_settings_are_typed_with_their_defaults():
    def settings(**params):
        return job_settings(Bridge, json.dumps({"strategy": "targeted", **params}), "bridge")

    editor = {"kind": "hf", "model": "base"}
    assert (settings(editor=editor).proportion, settings(editor=editor).template_version) == (1.0, "v1")
    with pytest.raises(ConfigError, match=r"bridge\.proprotion: unknown key"):
        settings(editor=editor, proprotion=0.5)
    with pytest.raises(ConfigError, match=r"bridge\.proportion: Input should be less than or equal to 1"):
        settings(editor=editor, proportion=1.5)
    with pytest.raises(ConfigError, match=r"bridge\.editor\.max_tokens: unknown key"):
        settings(editor={**editor, "max_tokens": 8})
    with pytest.raises(ConfigError, match=r"bridge\.editor\.kind: Input should be 'hf', 'vllm' or 'openai'"):
        settings(editor={"kind": "claude", "model": "m"})


def stage_args(tmp_path, pairs: list[dict], params: dict, base_model=None) -> argparse.Namespace:
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    parser = argparse.ArgumentParser()
    add_arguments(parser)  # the stage's own parser, so its defaults apply
    argv = [
        "--pairs",
        str(path),
        "--out",
        str(tmp_path / "out.jsonl"),
        "--summary",
        str(tmp_path / "summary.json"),
    ]
    argv += ["--cache", str(tmp_path / "cache"), "--params", json.dumps(params), "--task", pairs[0]["task"]]
    return parser.parse_args(argv + ([] if base_model is None else ["--base-model", str(base_model)]))


@pytest.mark.parametrize(
    "strategy, text, minimum, status",
    [
        ("targeted", "The answer is water", None, "edited"),  # valid by every default check
        ("targeted", "The answer is water", 0.5, "fallback"),
        ("targeted", GOOD_EDIT, 0.5, "edited"),
        ("inverse", "Let's think step by step.\nFish need sand.\nThe answer is desert", 0.5, "edited"),
        ("inverse", "The answer is desert", 0.5, "fallback"),
        ("free", "The answer is water", 0.9, "edited"),  # a fresh answer edits nothing
    ],
)
def test_min_kept_share_sends_an_edit_that_drops_the_response_it_edits_back(
    tmp_path, pairs, strategy, text, minimum, status
):
    template, ids = load_template(strategy), {p["id"] for p in pairs}
    editor = CountingEditor(text)
    rows, _ = bridge_pairs(
        pairs, template, IDENTITY, lambda: editor, ResponseCache(tmp_path), ids, min_kept_share=minimum
    )
    assert {r["bridge"]["status"] for r in rows} == {status}
    if status == "fallback":
        assert {r["bridge"]["reason"] for r in rows} == {"keeps too little of the response it edits"}
        assert all(r["chosen"] == PAIR["chosen"] and r["rejected"] == PAIR["rejected"] for r in rows)


def test_the_summary_gives_the_mean_share_an_edit_keeps(tmp_path, pairs):
    template, ids = load_template("targeted"), {p["id"] for p in pairs}
    rows, usage = bridge_pairs(pairs, template, IDENTITY, CountingEditor, ResponseCache(tmp_path), ids)
    assert summarize(rows, template, IDENTITY, usage, 1.0)["kept_share"] == round(10 / 12, 3)
    free = bridge_pairs(pairs, load_template("free"), IDENTITY, CountingEditor, ResponseCache(tmp_path), ids)[
        0
    ]
    assert summarize(free, load_template("free"), IDENTITY, usage, 1.0)["kept_share"] is None


def test_min_kept_share_is_a_share():
    with pytest.raises(ConfigError, match=r"bridge\.min_kept_share: Input should be less than or equal to 1"):
        job_settings(Bridge, json.dumps({"strategy": "targeted", "editor": {"kind": "hf", "model": "base"},
                                          "min_kept_share": 1.5}), "bridge")  # fmt: skip
