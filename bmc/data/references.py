"""Reference (baseline) answers of the instruction-following test sets, replacing the shipped ones.

Offline, AlpacaEval's baseline is the text-davinci-003 output shipped with its instructions and
Arena-Hard has none (the SFT model's answers serve). The paper compares with AlpacaEval 2's GPT-4 Turbo
outputs (`tatsu-lab/alpaca_eval`, config `alpaca_eval_gpt4_baseline`: `instruction`, `output`,
`generator`) and Arena-Hard v0.1's GPT-4-0314 answers (`model_answer/gpt-4-0314.jsonl` of the
Arena-Hard repository: `question_id`, `model_id`, `choices[0].turns[0].content`). `data.if.references`
names either per test set (a `bmc.data.hub` spec, typed by `bmc.config.Reference`); every test question must find its reference.
"""

from __future__ import annotations

from bmc.data.hub import load_rows


def reference_answers(name: str, rows: list[dict]) -> dict[str, tuple[str, str]]:
    """Test-set key (AlpacaEval: the instruction; Arena-Hard: the question id) -> (answer, generator)."""
    out = {}
    for row in rows:
        if name == "alpaca_eval":
            out[row["instruction"]] = (row["output"], row.get("generator") or "reference")
        else:
            out[str(row["question_id"])] = (
                row["choices"][0]["turns"][0]["content"],
                row.get("model_id") or "reference",
            )
    return out


def attach(tests: dict[str, list[dict]], refs: dict) -> dict[str, str]:
    """Set each test row's `baseline` and `baseline_generator` from its test set's references (in place);
    returns the generator per test set. A question without a reference is an error."""
    generators = {}
    for name, spec in refs.items():
        answers = reference_answers(name, load_rows(spec))
        missing = 0
        for row in tests[name]:
            key = row["question"] if name == "alpaca_eval" else row["source"]["question_id"]
            if key not in answers:
                missing += 1
                continue
            row["baseline"], row["baseline_generator"] = answers[key]
        if missing:
            raise ValueError(
                f"data.if.references.{name}: {missing} of {len(tests[name])} questions have no reference"
            )
        generators[name] = sorted({r["baseline_generator"] for r in tests[name]})
    return generators
