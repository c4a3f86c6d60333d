"""The lm-eval tasks `bmc_qa` / `bmc_math` run the suite's protocol: its prompt, stop strings, token budget and
graders, so an lm-eval score is the suite's score."""

import json
from pathlib import Path

import lm_eval
import pytest
from lm_eval.api.model import LM
from lm_eval.tasks import TaskManager

from bmc.data.tasks import MAX_NEW_TOKENS, STOP_STRINGS, answer_prompt, grade, grade_released
from bmc.evaluation.lm_eval_tasks import TASKS_DIR
from bmc.evaluation.lm_eval_tasks.utils import read_test_set

GROUPS = {
    "bmc_qa": ("qa", ["bmc_ecqa", "bmc_qasc", "bmc_obqa", "bmc_arc"]),
    "bmc_math": ("math", ["bmc_gsm8k", "bmc_math_oai", "bmc_mawps"]),
}


def _rows(dataset: str, *qa: tuple[str, str]) -> list[dict]:
    return [
        {"id": f"{dataset}-test-{i}", "dataset": dataset, "question": q, "answer": a}
        for i, (q, a) in enumerate(qa, 1)
    ]


ARC = _rows(
    "ARC",
    ("What do plants take in?\nOptions:\noxygen\ncarbon dioxide", "Carbon dioxide"),
    ("What melts ice?\nOptions:\nheat\ncold", "heat"),
    ("What is the Sun?\nOptions:\na star\na planet", "a star"),
)
GSM8K = _rows(
    "gsm8k", ("Tom has 2 apples and buys 3. How many apples does he have?", "5"), ("What is 12 / 4?", "3")
)


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def data_dir(tmp_path) -> Path:
    """A data stage's layout: `<dir>/<task>/test/<SET>.jsonl`."""
    _write_jsonl(tmp_path / "data" / "qa" / "test" / "ARC.jsonl", ARC)
    _write_jsonl(tmp_path / "data" / "math" / "test" / "gsm8k.jsonl", GSM8K)
    return tmp_path / "data"


def _manager(**metadata) -> TaskManager:
    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata or None)


def test_task_configs_are_the_suites_protocol():
    """Shipped subsets by default; prompt, stop strings and token budget read from the suite, so they cannot drift."""
    loaded = _manager().load(list(GROUPS))
    assert {g: set(m) for g, m in loaded["group_map"].items()} == {g: set(m) for g, (_, m) in GROUPS.items()}
    for task, members in GROUPS.values():
        for name in members:
            config = loaded["tasks"][name].config
            gen = config.generation_kwargs
            assert gen["until"] == list(STOP_STRINGS[task])
            assert gen["max_gen_toks"] == MAX_NEW_TOKENS[task]
            assert gen["do_sample"] is False and config.num_fewshot == 0
            docs = loaded["tasks"][name].eval_docs
            assert len(docs) == 200 and len(set(docs["id"])) == 200  # the shipped subset, every question
            for doc in docs:
                assert loaded["tasks"][name].doc_to_text(doc) == answer_prompt(task, doc["question"])


def test_tiny_llama_run_is_graded_by_the_suite(tiny_model_dir, data_dir):
    """A real lm-eval run: its prompts are `answer_prompt`'s and its verdicts the suite's graders' on its outputs."""
    out = lm_eval.simple_evaluate(
        model="hf",
        model_args={"pretrained": str(tiny_model_dir), "device": "cpu", "dtype": "float32"},
        tasks=["bmc_arc", "bmc_gsm8k"],
        task_manager=_manager(data_dir=str(data_dir)),
        gen_kwargs={"max_gen_toks": 8},
        batch_size=4,
        log_samples=True,
    )
    for name, task, rows in (("bmc_arc", "qa", ARC), ("bmc_gsm8k", "math", GSM8K)):
        samples = sorted(out["samples"][name], key=lambda s: s["doc_id"])
        assert [s["doc"]["id"] for s in samples] == [r["id"] for r in rows]
        for sample, row in zip(samples, rows, strict=True):
            (prompt, gen), response = sample["arguments"][0], sample["filtered_resps"][0]
            assert prompt == answer_prompt(task, row["question"])
            assert gen["until"] == list(STOP_STRINGS[task]) and gen["max_gen_toks"] == 8
            assert response == sample["resps"][0][0]
            assert not any(stop in response for stop in STOP_STRINGS[task])
            assert sample["exact_match"] == float(grade(task, response, row["answer"])[1])
            assert sample["exact_match_released"] == float(grade_released(task, response, row["answer"])[1])
        scores = out["results"][name]
        for metric in ("exact_match", "exact_match_released"):
            assert scores[f"{metric},none"] == pytest.approx(sum(s[metric] for s in samples) / len(samples))


def test_the_two_metrics_differ_where_the_rules_do(data_dir):
    """Hand-made responses through lm-eval's process_results: a capitalised gold, a ":" after the cue."""
    tasks = _manager(data_dir=str(data_dir)).load(["bmc_arc", "bmc_gsm8k"])["tasks"]
    arc, gsm8k = tasks["bmc_arc"], tasks["bmc_gsm8k"]
    cases = [
        (
            arc,
            ARC[0],
            "The answer is Carbon dioxide.",
            (1.0, 0.0),
        ),  # released: the gold as written, capitalised
        (arc, ARC[1], "Ice melts when warm. The answer is: heat.", (1.0, 0.0)),
        (arc, ARC[1], "The answer is heat", (1.0, 1.0)),
        (arc, ARC[2], "The answer is a planet", (0.0, 0.0)),
        (arc, ARC[2], "the answer is a star", (0.0, 0.0)),  # the cue is case-sensitive
        (gsm8k, GSM8K[0], "2 + 3 = 5.\nThe answer is: $5$.", (1.0, 1.0)),
        (gsm8k, GSM8K[1], "12 / 4 = 4. The answer is 4", (0.0, 0.0)),
    ]
    for task, doc, response, (corrected, released) in cases:
        family = "qa" if task is arc else "math"
        scores = task.process_results(doc, [response])
        assert scores == {"exact_match": corrected, "exact_match_released": released}, response
        assert scores["exact_match"] == grade(family, response, doc["answer"])[1]
        assert scores["exact_match_released"] == grade_released(family, response, doc["answer"])[1]


class _Scripted(LM):
    """Answers every question with its gold answer after the cue, as written."""

    def generate_until(self, requests):
        return [f"So it is settled. The answer is {r.doc['answer']}" for r in requests]

    def loglikelihood(self, requests):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests):
        raise NotImplementedError


def test_group_scores_are_the_unweighted_mean_of_the_test_sets(tmp_path):
    """Through lm-eval's whole pipeline: gold answers score 100 under the suite's grader, less under the released
    rule wherever a gold is not lower-case (it lower-cases the prediction only); the group's score is the mean of
    its test sets' (of different sizes here), as Table 1 averages them."""
    sizes = {"ECQA": 8, "QASC": 6, "OBQA": 4, "ARC": 2}
    for name, n in sizes.items():  # the first questions of the shipped subsets
        _write_jsonl(tmp_path / "test" / f"{name}.jsonl", read_test_set(name)[:n])
    out = lm_eval.simple_evaluate(
        model=_Scripted(), tasks=["bmc_qa"], task_manager=_manager(data_dir=str(tmp_path))
    )
    results = out["results"]
    for name, n in sizes.items():
        golds = [r["answer"] for r in read_test_set(name)[:n]]
        task = results[f"bmc_{name.lower()}"]
        assert task["exact_match,none"] == 1.0
        assert task["exact_match_released,none"] == pytest.approx(
            sum(a == a.strip().lower() for a in golds) / n
        )
    assert results["bmc_ecqa"]["exact_match_released,none"] == 1.0  # ECQA's golds are lower-case
    assert results["bmc_arc"]["exact_match_released,none"] < 1.0  # ARC's are capitalised option texts
    released = [results[f"bmc_{name.lower()}"]["exact_match_released,none"] for name in sizes]
    weighted = sum(r * n for r, n in zip(released, sizes.values(), strict=True)) / sum(sizes.values())
    assert results["bmc_qa"]["exact_match_released,none"] == pytest.approx(sum(released) / len(sizes))
    assert results["bmc_qa"]["exact_match_released,none"] != pytest.approx(weighted)
    assert results["bmc_qa"]["exact_match,none"] == 1.0


def test_data_location(tmp_path, data_dir):
    expected = [{k: r[k] for k in ("id", "dataset", "question", "answer")} for r in ARC]
    for folder in (data_dir, data_dir / "qa", data_dir / "qa" / "test"):
        assert read_test_set("ARC", data_dir=folder) == expected
    extra = _write_jsonl(tmp_path / "mine.jsonl", [{**ARC[0], "source": {"line": 1}}])
    assert read_test_set("ARC", data_files=extra) == expected[:1]
    with pytest.raises(ValueError, match="row is from 'ARC', not 'ECQA'"):
        read_test_set("ECQA", data_files=extra)
    with pytest.raises(FileNotFoundError, match="OBQA.jsonl"):
        read_test_set("OBQA", data_dir=data_dir)
    with pytest.raises(ValueError, match="unknown test set"):
        read_test_set("TabMWP", data_dir=data_dir)


def test_tabmwp_task_reads_a_paper_scale_data_folder(data_dir):
    tabmwp = _rows("tabmwp", ("Read the following table and answer a question:\nx | 1\nWhat is x?", "1"))
    _write_jsonl(data_dir / "math" / "test" / "tabmwp.jsonl", tabmwp)
    task = _manager(data_dir=str(data_dir)).load(["bmc_tabmwp"])["tasks"]["bmc_tabmwp"]
    docs = list(task.test_docs())
    assert [d["question"] for d in docs] == [tabmwp[0]["question"]]
    assert task.doc_to_text(docs[0]) == answer_prompt("math", tabmwp[0]["question"])
