"""What made a generation output: dtype on both backends, the record beside each output, resumes that check
it, and finished test sets that survive a failure of a later one."""

import json
import logging
import shutil
import sys
import types

import pytest
import torch
import transformers

from bmc.config import ModelSection
from bmc.generation.backends import (
    GenerationParams,
    generate_resumable,
    load_generator,
    meta_path,
    partial_path,
)
from bmc.generation.fingerprint import model_sha256
from bmc.models.prepare import build_random_llama
from bmc.reporting.report import generation_section

PROMPTS = ["### Instruction:\nWhere do people keep money?\n\n### Response:\n", "hello there", "x", "Why?"]


class Recording:
    """A real generator that records the prompts it is asked; `fail_on` makes a prompt raise."""

    def __init__(self, inner, fail_on: str | None = None):
        self.inner, self.params, self.tokenizer = inner, inner.params, inner.tokenizer
        self.model_path, self.provenance = inner.model_path, dict(inner.provenance)
        self.fail_on, self.asked = fail_on, []

    def generate(self, prompts, seed=None):
        if self.fail_on and any(self.fail_on in p for p in prompts):
            raise RuntimeError("killed")
        self.asked += prompts
        return self.inner.generate(prompts, seed=seed)


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory):
    """The tiny model's architecture and tokenizer with other weights (seed 1)."""
    out = tmp_path_factory.mktemp("tiny-llama-b")
    build_random_llama(out, ModelSection(kind="random_llama", seed=1))
    return out


def test_dtype_is_checked_and_given_to_both_backends(tiny_model_dir, monkeypatch):
    with pytest.raises(ValueError, match="dtype\n  Input should be 'float32', 'bfloat16' or 'float16'"):
        GenerationParams(dtype="float64")
    auto = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=2))
    assert auto.model.dtype == torch.float32 and auto.provenance["dtype"] == "float32"  # a CPU's default
    bf16 = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=2, dtype="bfloat16"))
    assert bf16.model.dtype == torch.bfloat16
    assert bf16.provenance == {
        "backend": "transformers",
        "backend_version": transformers.__version__,
        "torch": torch.__version__,
        "device": "cpu",
        "dtype": "bfloat16",
    }
    fake = types.ModuleType("vllm")
    fake.__version__, fake.created = "9.9.9", []
    fake.LLM = lambda **kwargs: fake.created.append(kwargs)
    monkeypatch.setitem(sys.modules, "vllm", fake)
    gen = load_generator(tiny_model_dir, GenerationParams(backend="vllm", dtype="bfloat16"))
    assert fake.created[0]["dtype"] == "bfloat16"
    assert (gen.provenance["backend"], gen.provenance["backend_version"]) == ("vllm", "9.9.9")


def test_model_sha256_covers_the_model_files_only(tiny_model_dir, other_model_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(tiny_model_dir, copy)
    (copy / "training_args.bin").write_bytes(b"not part of the model")
    (copy / ".snakemake_timestamp").touch()
    assert model_sha256(copy) == model_sha256(tiny_model_dir)  # another folder, same model
    assert model_sha256(other_model_dir) != model_sha256(tiny_model_dir)
    shutil.copy(other_model_dir / "model.safetensors", copy / "model.safetensors")  # retrained in place
    assert model_sha256(copy) == model_sha256(other_model_dir)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no model files"):
        model_sha256(tmp_path / "empty")


def test_each_output_records_how_it_was_made(tiny_model_dir, tmp_path):
    gen = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=3, batch_size=2, stop_strings=["Q"]))
    items = [{"id": f"q{i}"} for i in range(len(PROMPTS))]
    out = tmp_path / "ARC.jsonl"
    rows = generate_resumable(gen, items, lambda it: PROMPTS[int(it["id"][1:])], out, describe={"stage": "x"})
    meta = json.loads(meta_path(out).read_text())
    assert meta == {
        **gen.provenance,
        "model_sha256": model_sha256(tiny_model_dir),
        "decoding": {
            "max_new_tokens": 3,
            "do_sample": False,
            "temperature": 1.0,
            "top_p": 1.0,
            "seed": 0,
            "stop_strings": ["Q"],
        },
        "model": str(tiny_model_dir),
        "batching": {"batch_size": 2, "max_batch_tokens": None},
        "stage": "x",
        "rows": len(rows),
        "resumed": 0,
    }
    assert all(sorted(r) == ["id", "prompt", "response"] for r in rows)  # the rows' contract is unchanged
    md = "\n".join(generation_section([str(meta_path(out)), str(meta_path(out))]))
    assert f"| x | ? | transformers {transformers.__version__} | {torch.__version__} | cpu | float32 |" in md
    assert "| greedy, ≤3 new tokens, stop ['Q'] | 2 | 1 | 8 |" in md  # two files, one model, 8 rows


def _crash_after_first_batch(gen, items, out):
    with pytest.raises(RuntimeError, match="killed"):
        generate_resumable(Recording(gen, fail_on=PROMPTS[2]), items, lambda it: it["text"], out)
    assert partial_path(out).read_text().count("\n") == 2  # the first batch (the two longest prompts)


@pytest.mark.parametrize("change", ["model", "dtype", "backend_version", "nothing"])
def test_resume_starts_over_when_what_made_the_rows_changed(
    change, tiny_model_dir, other_model_dir, tmp_path, caplog
):
    items = [{"id": f"q{i}", "text": p} for i, p in enumerate(PROMPTS)]
    out = tmp_path / "g.jsonl"
    gen = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=3, batch_size=2))
    _crash_after_first_batch(gen, items, out)
    model = other_model_dir if change == "model" else tiny_model_dir
    dtype = "bfloat16" if change == "dtype" else None
    rerun = Recording(load_generator(model, GenerationParams(max_new_tokens=3, batch_size=2, dtype=dtype)))
    if change == "backend_version":
        rerun.provenance["backend_version"] = "0.0.1"
    with caplog.at_level(logging.INFO, logger="bmc.generation.backends"):
        rows = generate_resumable(rerun, items, lambda it: it["text"], out)
    why = {
        "model": "model_sha256: '",
        "dtype": "dtype: 'float32' -> 'bfloat16'",
        "backend_version": f"backend_version: '{transformers.__version__}' -> '0.0.1'",
    }
    if change == "nothing":
        assert sorted(rerun.asked) == sorted(PROMPTS[2:])  # the first batch is reused
        assert "resuming" in caplog.text and "starting over" not in caplog.text
    else:
        assert sorted(rerun.asked) == sorted(PROMPTS)  # every row made again
        assert "was made with other inputs" in caplog.text and why[change] in caplog.text
        assert rows == [
            {**it, "prompt": it["text"], "response": rerun.inner.generate([it["text"]])[0]} for it in items
        ]
    assert json.loads(meta_path(out).read_text())["resumed"] == (2 if change == "nothing" else 0)


def test_a_partial_file_without_a_record_is_not_trusted(tiny_model_dir, tmp_path, caplog):
    out = tmp_path / "g.jsonl"
    partial_path(out).write_text(
        json.dumps({"id": "q0", "text": "x", "prompt": "x", "response": "OLD"}) + "\n"
    )
    gen = Recording(load_generator(tiny_model_dir, GenerationParams(max_new_tokens=2)))
    rows = generate_resumable(gen, [{"id": "q0", "text": "x"}], lambda it: it["text"], out)
    assert gen.asked == ["x"] and rows[0]["response"] != "OLD"
    assert "no record of what made it" in caplog.text


def test_a_damaged_line_in_a_partial_file_costs_only_its_item(tiny_model_dir, tmp_path, caplog):
    items = [{"id": f"q{i}", "text": p} for i, p in enumerate(PROMPTS)]
    out = tmp_path / "g.jsonl"
    gen = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=3, batch_size=1))
    reference = generate_resumable(gen, items, lambda it: it["text"], out, keep_partial=True)
    partial = partial_path(out)
    lines = partial.read_bytes().splitlines(keepends=True)
    damaged = json.loads(lines[1])["id"]
    partial.write_bytes(lines[0] + lines[1][:20] + b"\xff\n" + b"".join(lines[2:]))  # line 2 damaged
    rerun = Recording(gen)
    with caplog.at_level(logging.WARNING):
        rows = generate_resumable(rerun, items, lambda it: it["text"], out)
    assert rerun.asked == [next(it["text"] for it in items if it["id"] == damaged)]  # only its item again
    assert rows == reference and [r["id"] for r in rows] == [it["id"] for it in items]  # none lost or twice
    assert f"{partial}:2: not a JSON row" in caplog.text and "done again" in caplog.text
    assert partial.with_name(partial.name + ".corrupt").read_bytes() == b"2\t" + lines[1][:20] + b"\xff\n"


def test_a_partial_file_whose_record_does_not_parse_starts_over(tiny_model_dir, tmp_path, caplog):
    items = [{"id": "q0", "text": "x"}]
    out = tmp_path / "g.jsonl"
    gen = Recording(load_generator(tiny_model_dir, GenerationParams(max_new_tokens=2)))
    generate_resumable(gen, items, lambda it: it["text"], out, keep_partial=True)
    record = partial_path(out).with_name(partial_path(out).name.removesuffix(".jsonl") + ".params.json")
    record.write_text(record.read_text()[:15])
    with caplog.at_level(logging.WARNING):
        generate_resumable(gen, items, lambda it: it["text"], out)
    assert gen.asked == ["x", "x"] and f"its record does not parse: {record}:" in caplog.text


def _test_sets(tmp_path, names=("ECQA", "QASC", "ARC")):
    files, outs = [], []
    for name in names:
        rows = [{"id": f"{name}-{i}", "dataset": name, "question": f"{name} question {i}?", "answer": "a"}
                for i in range(3)]  # fmt: skip
        files.append(tmp_path / f"{name}.jsonl")
        files[-1].write_text("".join(json.dumps(r) + "\n" for r in rows))
        outs.append(tmp_path / "gens" / f"{name}.jsonl")
    return files, outs


def test_finished_test_sets_survive_a_failure_of_a_later_set(tiny_model_dir, tmp_path, monkeypatch):
    from bmc.stages import generate as stage

    files, outs = _test_sets(tmp_path)
    generators = []

    def load(model, params, fail_on=None):
        generators.append(Recording(load_generator(model, params), fail_on=fail_on))
        return generators[-1]

    params = {"max_new_tokens": 4, "batch_size": 2, "dtype": "float32"}
    args = types.SimpleNamespace(
        model=str(tiny_model_dir), data=[str(f) for f in files], out=[str(o) for o in outs], task="qa",
        params=json.dumps(params),
    )  # fmt: skip
    monkeypatch.setattr(stage, "load_generator", lambda m, p: load(m, p, fail_on="ARC question"))
    with pytest.raises(RuntimeError, match="killed"):
        stage.run(args)  # dies on the third set
    first = {o.name: o.read_text() for o in outs[:2]}
    assert not outs[2].exists()
    for out in outs:  # Snakemake deletes every output of the failed job
        out.unlink(missing_ok=True)
        meta_path(out).unlink(missing_ok=True)

    monkeypatch.setattr(stage, "load_generator", load)
    stage.run(args)
    asked = generators[-1].asked
    assert asked and all("ARC question" in p for p in asked)  # the first two sets are not answered again
    assert {o.name: o.read_text() for o in outs[:2]} == first
    assert [json.loads(meta_path(o).read_text())["resumed"] for o in outs] == [3, 3, 0]
    assert sorted(p.name for p in outs[0].parent.iterdir()) == sorted(
        name for o in outs for name in (o.name, meta_path(o).name)
    )  # partial files and their records removed once the job succeeded


def test_sample_stage_records_how_it_sampled(tiny_model_dir, tmp_path):
    from bmc.cli import main

    data, out = tmp_path / "prefs.jsonl", tmp_path / "samples.jsonl"
    rows = [{"id": f"q{i}", "task": "qa", "dataset": "ECQA", "question": "Where?", "solution": "s", "answer": "a"}
            for i in range(2)]  # fmt: skip
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = {"max_new_tokens": 3, "do_sample": True, "seed": 5, "dtype": "float32", "num_samples": 2}
    main(["sample", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out),
          "--params", json.dumps(params)])  # fmt: skip
    meta = json.loads(meta_path(out).read_text())
    assert (meta["stage"], meta["task"], meta["dtype"], meta["rows"]) == ("sample", "qa", "float32", 4)
    assert meta["decoding"]["do_sample"] is True and meta["decoding"]["seed"] == 5
    assert not partial_path(out).exists()
