"""The JSONL records the stages pass to each other: the fields a reader relies on, name -> type.

Pass one as `required=` to `bmc.io.iter_jsonl` / `read_jsonl`: a row missing a field, or holding one of
another type, fails naming the file and the line. Writers may add fields (`source`, `task`, ...); the full
layout of every record and output is in docs/contracts.md.
"""

from __future__ import annotations

Fields = dict[str, type | tuple[type, ...]]

QUESTION: Fields = {"id": str, "task": str, "dataset": str, "question": str, "solution": str, "answer": str}
"""A training question (`prefs.jsonl`), y_w in `solution`. Written by the data stages (`data`, `data-math`,
`data-if`); read by `sample` (`bmc.stages.sample_losing`)."""

QUESTION_WITH_REJECTED: Fields = {**QUESTION, "rejected": str}
"""A training question that comes with its y_l (`prefs.jsonl` of UltraFeedback pairs). Written by `data-if`
(`source: ultrafeedback`); read by `pairs-given` (`bmc.stages.given_pairs`)."""

SFT_EXAMPLE: Fields = {"id": str, "messages": list}
"""An SFT conversation (`sft.jsonl`), one user and one assistant turn. Written by the data stages; read by
`sft` (`bmc.stages.sft`)."""

TEST_ITEM: Fields = {"id": str, "dataset": str, "question": str, "answer": str}
"""A test question (`test/<SET>.jsonl`; `answer` is "" for instruction following). Written by the data
stages; read by `generate` (`bmc.stages.generate`), `judge` (`bmc.stages.judge`) and the
lm-eval tasks (`bmc.evaluation.lm_eval_tasks`)."""

SAMPLE: Fields = {**QUESTION, "response": str, "correct": bool}
"""An SFT model's graded answer to a training question (`samples.jsonl`). Written by `sample`; read by
`pairs` (`bmc.stages.build_pairs`)."""

PAIR: Fields = {"id": str, "prompt": list, "chosen": str, "rejected": str}
"""A preference pair (`pairs.jsonl`): `prompt` one user turn, `chosen` y_w (or ỹ_w once bridged), `rejected`
y_l. Written by `pairs`, `pairs-given`, `bridge` and `released-pairs`; read by `bridge`
(`bmc.stages.bridge`) and `train` (`bmc.stages.train`)."""

GENERATION: Fields = {"id": str, "dataset": str, "response": str, "answer": str}
"""A model's answer to a test item (`generations.jsonl`; also `prompt`, the exact text the model was given).
Written by `generate`; read by `evaluate` (`bmc.stages.evaluate`) and `judge`."""

GRADED_GENERATION: Fields = {"id": str, "correct": bool}
"""A graded answer (`records.jsonl` beside `scores.json`; also `answer`, `prediction` and the released rule's
`prediction_released`, `correct_released`). Written by `evaluate`; read by the power analysis of the report
(`bmc.reporting.power`)."""

JUDGMENT: Fields = {"id": str, "model_first": bool, "verdict": (str, type(None))}
"""One judge verdict on a model's answer against the baseline's (`judgments.jsonl` beside `scores.json`;
`verdict` null when the reply gave none or the request failed; also `parsed`, `reply`, `error`, or the
alpaca_eval library's `p_model` and `preference`). Written by `judge`; read by the power analysis of the report
(`bmc.reporting.power`), which leaves null verdicts out."""
