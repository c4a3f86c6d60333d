import json
import sys
import types

import pytest

from bmc.generation.backends import (
    GenerationParams,
    cut_at_stop_strings,
    generate_resumable,
    load_generator,
    token_budget_batches,
)
from bmc.generation.fingerprint import generation_inputs

PROMPTS = [
    "### Instruction:\nWhere do people keep money?\nOptions:\n- bank\n- river\n\n### Response:\n",
    "hello there",
    "x",
    "Below is an instruction that describes a task. Write a response that appropriately completes it.",
    "Photosynthesis needs light",
]


@pytest.fixture(scope="module")
def greedy(tiny_model_dir):
    return load_generator(tiny_model_dir, GenerationParams(max_new_tokens=6, batch_size=3))


def test_params_check_keys_and_values_and_fill_the_defaults():
    p = GenerationParams.model_validate({"max_new_tokens": 8, "do_sample": True, "seed": 2})
    assert (p.max_new_tokens, p.do_sample, p.seed) == (8, True, 2)
    assert (p.backend, p.temperature, p.batch_size) == ("transformers", 1.0, 16)  # the config's defaults
    with pytest.raises(ValueError, match=r"top_k\n  Extra inputs are not permitted"):
        GenerationParams.model_validate({"top_k": 5})
    with pytest.raises(ValueError, match="Input should be 'transformers' or 'vllm'"):
        GenerationParams.model_validate({"backend": "tgi"})
    with pytest.raises(ValueError, match="needs temperature > 0"):
        GenerationParams.model_validate({"do_sample": True, "temperature": 0})
    with pytest.raises(ValueError, match="Input should be a valid integer"):
        GenerationParams.model_validate({"max_new_tokens": "8"})  # strict, as the config


def test_batched_left_padded_greedy_equals_one_by_one(greedy):
    batched = greedy.generate(PROMPTS)
    single = [greedy.generate([p])[0] for p in PROMPTS]
    assert batched == single
    assert greedy.tokenizer.padding_side == "left"
    assert all(text and "<|im_end|>" not in text for text in batched)
    assert not any(
        text.startswith(p) for text, p in zip(batched, PROMPTS, strict=True) if len(p) > 10
    )  # no prompt echo


def test_token_budget_batches_bound_the_padded_size_and_keep_the_order():
    lengths = [2500, 700, 600, 100, 90, 80, 10]
    order = list(range(len(lengths)))
    # no budget: batches of batch_size, as before
    assert token_budget_batches(order, lengths, 3, None, 100) == [[0, 1, 2], [3, 4, 5], [6]]
    # the long prompt goes alone; each batch's items × (longest + 100) stays within 2000
    batches = token_budget_batches(order, lengths, 4, 2000, 100)
    assert batches == [[0], [1, 2], [3, 4, 5, 6]]
    assert [i for b in batches for i in b] == order
    for b in batches[1:]:
        assert len(b) * (max(lengths[i] for i in b) + 100) <= 2000
    # the budget also holds when the order is not longest-first
    assert token_budget_batches([6, 0], lengths, 4, 2000, 100) == [[6], [0]]
    with pytest.raises(ValueError, match="max_batch_tokens\n  Input should be greater than or equal to 1"):
        GenerationParams(max_batch_tokens=0)


def test_a_token_budget_changes_batching_not_greedy_outputs(tiny_model_dir, greedy):
    budgeted = load_generator(
        tiny_model_dir, GenerationParams(max_new_tokens=6, batch_size=3, max_batch_tokens=40)
    )
    assert budgeted.generate(PROMPTS) == greedy.generate(PROMPTS)


def test_generation_stops_at_eos(tiny_model_dir):
    gen = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=6))
    tok = gen.tokenizer
    prompt = "Photosynthesis needs light"
    prompt_len = len(tok(prompt)["input_ids"])
    free = gen.model.generate(**tok([prompt], return_tensors="pt"), max_new_tokens=6, do_sample=False)
    new_ids = free[0, prompt_len:].tolist()
    stop_id = new_ids[2]  # pretend the third generated token is EOS
    tok.eos_token = tok.convert_ids_to_tokens(stop_id)
    assert gen.generate([prompt]) == [tok.decode(new_ids[: new_ids.index(stop_id)])]


def test_generation_ends_before_the_first_stop_string(tiny_model_dir):
    gen = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=12, batch_size=3))
    free = gen.generate(PROMPTS)
    # stop strings taken from the free outputs: each text ends right before the earliest one it holds
    stops = [free[0][3:6], free[2][4:7]]
    stopped = load_generator(
        tiny_model_dir, GenerationParams(max_new_tokens=12, batch_size=3, stop_strings=stops)
    ).generate(PROMPTS)
    assert stopped == [cut_at_stop_strings(text, stops) for text in free]
    assert stopped[0] == free[0][: free[0].find(stops[0])] and len(stopped[0]) < len(free[0])
    assert cut_at_stop_strings("a Response: b Question", ["Question", "Response"]) == "a "
    assert cut_at_stop_strings("abc", None) == "abc"
    with pytest.raises(ValueError, match="stop_strings\n  Input should be a valid list"):
        GenerationParams(stop_strings="Response")


def test_generate_stage_uses_the_task_stop_strings_and_per_set_decoding(
    tmp_path, monkeypatch, tiny_model_dir
):
    from bmc.stages import generate as stage

    seen = []

    class Recorder:
        tokenizer = None
        model_path = tiny_model_dir
        provenance = {
            "backend": "recorder",
            "backend_version": "0",
            "torch": "-",
            "device": "cpu",
            "dtype": "x",
        }

        def __init__(self, params):
            self.params = params

        def generate(self, prompts, seed=None):
            seen.append((self.params.stop_strings, self.params.do_sample, self.params.max_new_tokens))
            return ["x"] * len(prompts)

    monkeypatch.setattr(stage, "load_generator", lambda model, params: Recorder(params))
    files = []
    for name in ("alpaca_eval", "arena_hard"):
        path = tmp_path / f"{name}.jsonl"
        path.write_text(
            json.dumps({"id": f"{name}-1", "dataset": name, "question": "Q?", "answer": ""}) + "\n"
        )
        files.append(str(path))
    section = {"max_new_tokens": 9, "do_sample": True, "temperature": 0.9,
               "set_overrides": {"arena_hard": {"do_sample": False, "max_new_tokens": 5}}}  # fmt: skip
    outs = [str(tmp_path / "a.out.jsonl"), str(tmp_path / "b.out.jsonl")]
    args = types.SimpleNamespace(
        model=str(tmp_path), data=files, out=outs, task="math", params=json.dumps(section)
    )
    stage.run(args)
    assert seen == [(["Instruction", "Response"], True, 9), (["Instruction", "Response"], False, 5)]
    section["set_overrides"] = {"mt_bench": {"do_sample": False}}
    with pytest.raises(ValueError, match=r"set_overrides names test sets \['mt_bench'\]"):
        stage.run(types.SimpleNamespace(**{**vars(args), "params": json.dumps(section)}))


def test_sampling_is_reproducible_per_seed(tiny_model_dir):
    gen = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=6, do_sample=True, seed=1))
    first = gen.generate(PROMPTS)
    assert gen.generate(PROMPTS) == first == gen.generate(PROMPTS, seed=1)
    assert gen.generate(PROMPTS, seed=2) != first


class Recording:
    """Wraps a real generator and records what each call asked for."""

    def __init__(self, inner):
        self.inner, self.params, self.tokenizer, self.calls = inner, inner.params, inner.tokenizer, []
        self.model_path, self.provenance = inner.model_path, inner.provenance

    def generate(self, prompts, seed=None):
        self.calls.append((list(prompts), seed))
        return self.inner.generate(prompts, seed=seed)


def test_generate_resumable_skips_finished_items(tmp_path, greedy):
    items = [{"id": f"q{i}", "text": p} for i, p in enumerate(PROMPTS)]
    out = tmp_path / "gen.jsonl"
    done = {**items[1], "prompt": items[1]["text"], "response": "FROM AN EARLIER RUN"}
    # a finished row plus a line torn by a kill mid-write
    (tmp_path / "gen.jsonl.partial.jsonl").write_text(json.dumps(done) + '\n{"id": "q3", "te')
    # made by this model, backend, dtype and decoding (recorded beside the partial file)
    (tmp_path / "gen.jsonl.partial.params.json").write_text(json.dumps(generation_inputs(greedy)))
    gen = Recording(greedy)
    rows = generate_resumable(gen, items, prompt_of=lambda it: it["text"], out_path=out)

    asked = [p for prompts, _ in gen.calls for p in prompts]
    assert sorted(asked) == sorted(p for i, p in enumerate(PROMPTS) if i != 1)
    assert all(len(prompts) <= greedy.params.batch_size for prompts, _ in gen.calls)
    assert [r["id"] for r in rows] == [it["id"] for it in items]
    assert rows[1]["response"] == "FROM AN EARLIER RUN"
    assert rows[0] == {**items[0], "prompt": PROMPTS[0], "response": greedy.generate([PROMPTS[0]])[0]}
    assert [json.loads(line) for line in out.read_text().splitlines()] == rows
    assert not (tmp_path / "gen.jsonl.partial.jsonl").exists()

    gen.calls.clear()  # a second run over a finished output starts afresh (the stage decides to skip)
    generate_resumable(
        gen, items[:2], prompt_of=lambda it: it["text"], out_path=out, finish=lambda r: {**r, "n": 1}
    )
    assert len(gen.calls) == 1
    assert [json.loads(line)["n"] for line in out.read_text().splitlines()] == [1, 1]


class Crashing(Recording):
    """Dies on its second call, like a run killed after its first batch."""

    def generate(self, prompts, seed=None):
        if self.calls:
            raise RuntimeError("killed")
        return super().generate(prompts, seed)


def _crash_after_first_batch(generator, items, out):
    with pytest.raises(RuntimeError, match="killed"):
        generate_resumable(Crashing(generator), items, lambda it: it["text"], out)
    (done,) = [json.loads(line)["id"] for line in out.with_name(out.name + ".partial.jsonl").open()]
    return done


def test_generate_resumable_redoes_rows_made_with_other_prompts_or_options(tmp_path, tiny_model_dir):
    items = [{"id": f"q{i}", "text": p} for i, p in enumerate(PROMPTS[:3])]
    out = tmp_path / "g.jsonl"
    gen = load_generator(tiny_model_dir, GenerationParams(max_new_tokens=3, batch_size=1))

    done = _crash_after_first_batch(gen, items, out)
    changed = [{**it, "text": it["text"] + " (edited)"} if it["id"] == done else it for it in items]
    rec = Recording(gen)
    generate_resumable(rec, changed, lambda it: it["text"], out)
    assert len(rec.calls) == 3  # the edited item is generated again

    _crash_after_first_batch(gen, items, out)
    gen.params.max_new_tokens = 4
    rec = Recording(gen)
    rows = generate_resumable(rec, items, lambda it: it["text"], out)
    assert len(rec.calls) == 3  # rows made with max_new_tokens=3 are not reused
    assert rows == [{**it, "prompt": it["text"], "response": gen.generate([it["text"]])[0]} for it in items]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.jsonl", "g.jsonl.meta.json"]


def test_generate_resumable_batches_never_mix_seeds(tmp_path, greedy):
    items = [{"id": f"q{i}#{k}", "text": p, "k": k} for i, p in enumerate(PROMPTS) for k in range(2)]
    gen = Recording(greedy)
    generate_resumable(
        gen, items, lambda it: it["text"], tmp_path / "s.jsonl", seed_of=lambda it: 10 + it["k"]
    )
    assert sorted(seed for _, seed in gen.calls) == [10, 10, 11, 11]
    for prompts, _ in gen.calls:
        assert len(prompts) == len(set(prompts))  # two samples of one question never share a seed


def test_generate_resumable_rejects_duplicate_ids(tmp_path, greedy):
    with pytest.raises(ValueError, match="duplicate 'id' 'a'"):
        generate_resumable(greedy, [{"id": "a"}, {"id": "a"}], lambda it: "x", tmp_path / "o.jsonl")


@pytest.fixture
def fake_vllm(monkeypatch):
    """A stand-in `vllm` module that records how the backend drives it."""
    mod = types.ModuleType("vllm")
    mod.created, mod.calls = [], []

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class LLM:
        def __init__(self, **kwargs):
            mod.created.append(kwargs)

        def generate(self, prompts, sampling_params, use_tqdm=True):
            mod.calls.append((list(prompts), sampling_params.kwargs))
            done = types.SimpleNamespace
            return [done(outputs=[done(text=f"answer to {p}")]) for p in prompts]

    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


def test_vllm_backend_maps_greedy_params(tiny_model_dir, fake_vllm):
    gen = load_generator(
        tiny_model_dir, GenerationParams(backend="vllm", max_new_tokens=7, temperature=0.5, seed=4)
    )
    assert fake_vllm.created == [
        {"model": str(tiny_model_dir), "dtype": "float32", "seed": 4, "enforce_eager": True}
        | {"tensor_parallel_size": 1}
    ]  # float32 on a CPU, never vLLM's own choice; eager on a CPU; one device
    assert gen.generate(["b", "a"]) == ["answer to b", "answer to a"]
    assert gen.tokenizer.pad_token == "<|im_end|>"
    assert fake_vllm.calls[-1][1] == {
        "n": 1, "max_tokens": 7, "temperature": 0.0, "top_p": 1.0, "seed": 4, "stop": [],
        "skip_special_tokens": True,
    }  # fmt: skip


def test_vllm_backend_maps_sampling_params(tiny_model_dir, fake_vllm, tmp_path):
    params = GenerationParams(
        backend="vllm", do_sample=True, temperature=0.9, top_p=0.95, seed=1, batch_size=2
    )
    gen = load_generator(tiny_model_dir, params)
    items = [{"id": f"q#{k}", "k": k} for k in range(2)]
    rows = generate_resumable(
        gen, items, lambda it: f"p{it['k']}", tmp_path / "o.jsonl", seed_of=lambda it: it["k"]
    )
    assert [r["response"] for r in rows] == ["answer to p0", "answer to p1"]
    assert [(prompts, kw["seed"]) for prompts, kw in fake_vllm.calls] == [(["p0"], 0), (["p1"], 1)]
    assert {(kw["temperature"], kw["top_p"]) for _, kw in fake_vllm.calls} == {(0.9, 0.95)}


def test_vllm_backend_missing_gives_clear_error(tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # makes `import vllm` fail
    with pytest.raises(ImportError, match="needs the vllm package.*backend: transformers"):
        load_generator(tiny_model_dir, GenerationParams(backend="vllm"))


def test_generate_stage_writes_contract_rows(tmp_path, tiny_model_dir):
    from bmc.cli import main
    from bmc.data.prompt_format import eval_prompt

    questions = [
        {"id": f"arc-{i}", "task": "qa", "dataset": "ARC", "question": q, "solution": "s", "answer": "a",
         "source": {"file": "ARC.jsonl", "line": i + 1}}
        for i, q in enumerate(["Which gas do plants take in?\nOptions:\n- oxygen\n- carbon dioxide", "Why?"])
    ]  # fmt: skip
    data, out = tmp_path / "ARC.jsonl", tmp_path / "generations.jsonl"
    data.write_text("".join(json.dumps(q) + "\n" for q in questions))
    params = {"backend": "transformers", "max_new_tokens": 5, "batch_size": 2}
    main(["generate", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out),
          "--params", json.dumps(params)])  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [sorted(r) for r in rows] == [["answer", "dataset", "id", "prompt", "response"]] * 2
    assert [r["prompt"] for r in rows] == [eval_prompt(q["question"]) for q in questions]
    assert [r["id"] for r in rows] == ["arc-0", "arc-1"]


def test_vllm_engine_options_pass_through(tiny_model_dir, fake_vllm, monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    params = GenerationParams(
        backend="vllm", enforce_eager=False, max_model_len=4096, gpu_memory_utilization=0.8
    )
    load_generator(tiny_model_dir, params)
    assert fake_vllm.created[-1] | {"model": None} == {
        "model": None, "dtype": "float32", "seed": 0, "enforce_eager": False, "tensor_parallel_size": 2,
        "max_model_len": 4096, "gpu_memory_utilization": 0.8,
    }  # fmt: skip
    load_generator(tiny_model_dir, GenerationParams(backend="vllm", tensor_parallel_size=4))
    assert fake_vllm.created[-1]["tensor_parallel_size"] == 4
