"""AlpacaEval 2 scored by the `alpaca_eval` library itself (paper scale, `judge.alpaca_eval_annotator`).

The library's annotator (the paper's `weighted_alpaca_eval_gpt4_turbo`) judges the model's outputs against the
reference outputs, and its length-controlled GLM (with the instruction-difficulty term, read from the hub's
`tatsu-lab/alpaca_eval` `df_gamed.csv` through `hf_hub_download`, so a hub cache with HF_HUB_OFFLINE=1 serves
it offline) gives the LC win rate: the official AlpacaEval 2 protocol, where the suite's own judge
(`bmc.evaluation.judge`) is what runs offline. The annotator asks the judge's OpenAI-compatible endpoint
(`base_url`, key from `api_key_env`; a client config file written next to the annotations, without the key)
for the log-probabilities of its one verdict token. Annotations are cached next to the scores, so a rerun
does not pay for them twice; the GLM's weights are written there too (not into the installed library).

The library shows each pair in an order it draws per instruction; every judgment records it (`model_first`,
from the library's own order processor), the annotator's choice as a verdict label in that order (`verdict`,
None when the annotator gave no usable token: unparsed), its weighted preference for the model (`p_model` =
the library's `preference` − 1, what the win rate averages) and the library's raw `preference`
(1 = reference, 2 = model).
"""

from __future__ import annotations

import math
import os
from contextlib import ExitStack
from pathlib import Path

import yaml

from bmc.io import InputError, write_text

CLIENT_CONFIG = "openai_client_config.yaml"


def library_scores(
    items: list[dict], method: str, annotator: str, out_dir: Path, endpoint: dict | None = None
) -> tuple[dict, list[dict]]:
    """(scores, one judgment row per item) of one model on AlpacaEval; items are {"id", "question", "response",
    "baseline"[, "index"]}. `endpoint`: the judge's `base_url` and `api_key_env` (default: the library's own,
    OpenAI with OPENAI_API_KEY)."""
    try:
        from alpaca_eval import annotators
        from alpaca_eval.main import evaluate
    except ImportError as e:
        raise ImportError(
            "judge.alpaca_eval_annotator needs the alpaca_eval package (envs/judge.yaml: alpaca_eval==0.6.6)"
        ) from e
    check_order(items)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = [{"instruction": it["question"], "output": it["response"], "generator": method} for it in items]
    reference = [
        {"instruction": it["question"], "output": it["baseline"], "generator": "reference"} for it in items
    ]
    made = []

    def annotator_factory(**kwargs):  # keeps the annotator: its order processor says which answer came first
        made.append(annotators.PairwiseAnnotator(**kwargs))
        return made[-1]

    with ExitStack() as stack:
        decoding = client_settings(endpoint or {}, out_dir, stack)
        board, annotations = evaluate(
            model_outputs=model,
            reference_outputs=reference,
            annotators_config=annotator,
            name=method,
            output_path=out_dir,
            precomputed_leaderboard=None,
            is_return_instead_of_print=True,
            is_cache_leaderboard=False,
            caching_path=str(out_dir / "annotations_cache.json"),
            metric_kwargs={"save_weights_dir": str(out_dir / "glm_weights")},
            annotation_kwargs=decoding,
            Annotator=annotator_factory,
        )
    row = board.loc[method]
    judgments = judgment_rows(items, _records(annotations), made[0], annotator)
    return {
        "win_rate": round(float(row["win_rate"]), 2),
        "lc_win_rate": round(float(row["length_controlled_winrate"]), 2),
        "standard_error": round(float(row["standard_error"]), 2),
        "annotator": annotator,
        "score": round(float(row["length_controlled_winrate"]), 2),
    }, judgments


def check_order(items: list[dict]) -> None:
    """The library's GLM reads an instruction's difficulty by the annotation's row position in AlpacaEval's
    805 instructions: items must be AlpacaEval's first n instructions, in order, when they say where they are
    from (`index`)."""
    indices = [it.get("index") for it in items]
    if all(i is not None for i in indices) and indices != list(range(len(items))):
        raise InputError(
            "alpaca_eval test set",
            None,
            "the alpaca_eval library's length control reads each instruction's difficulty by its position, so "
            f"the test set must be AlpacaEval's first {len(items)} instructions in order (data.if.test_n "
            f"unset at paper scale); its source positions begin {indices[:5]}",
        )


def client_settings(endpoint: dict, out_dir: Path, stack: ExitStack) -> dict:
    """The annotation keywords that point the library's OpenAI client at the judge's endpoint: a client config
    file (alpaca_eval's `client_config_path`; base URL only) and, while `stack` lasts, OPENAI_API_KEY set to the
    key of `api_key_env`, which the OpenAI client reads."""
    settings = {}
    key_env = endpoint.get("api_key_env") or "OPENAI_API_KEY"
    key = os.environ.get(key_env)
    if not key:
        raise RuntimeError(f"judge.alpaca_eval_annotator needs the judge's key in ${key_env}")
    if key_env != "OPENAI_API_KEY":
        from bmc.llm.server import environment_variable

        stack.enter_context(environment_variable("OPENAI_API_KEY", key))
    if endpoint.get("base_url"):
        path = out_dir / CLIENT_CONFIG
        write_text(path, yaml.safe_dump({"default": [{"base_url": endpoint["base_url"]}]}))
        settings["client_config_path"] = str(path)
    return settings


def judgment_rows(items: list[dict], annotations: list[dict], annotator, name: str) -> list[dict]:
    """One row per annotation: the item's id, which answer the annotator saw first, its verdict label in that
    order (None: unparsed), `p_model` and the library's `preference`."""
    by_question = {it["question"]: it for it in items}
    rows = []
    for a in annotations:
        item = by_question.get(a.get("instruction"))
        if item is None:
            raise ValueError(
                f"the alpaca_eval library annotated an unknown instruction {a.get('instruction')!r}"
            )
        preference = None if _missing(a.get("preference")) else float(a["preference"])
        model_first = shown_first(annotator, a) == item["response"]
        p_model = None if preference is None else preference - 1.0
        rows.append(
            {
                "id": item["id"],
                "model_first": model_first,
                "verdict": None if p_model is None else _label(p_model, model_first),
                "p_model": p_model,
                "preference": preference,
                "annotator": name,
            }
        )
    return rows


def shown_first(annotator, annotation: dict) -> str:
    """The output the annotator showed first for this annotation, by applying its own order processor (the
    library draws the order from the instruction) to the annotated pair."""
    import pandas as pd

    single = annotator.annotators[annotation["annotator"]]
    pair = pd.DataFrame([{k: annotation[k] for k in ("instruction", "output_1", "output_2")}])
    for processor in single.processors:
        pair = processor.preprocess(pair)
    return pair["output_1"].iloc[0]


def _label(p_model: float, model_first: bool) -> str:
    """The annotator's choice as a label in the order shown: the more probable token's answer, a tie at 1/2."""
    if p_model == 0.5:
        return "A=B"
    model_wins = p_model > 0.5
    return "A>B" if model_wins == model_first else "B>A"


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _records(annotations) -> list[dict]:
    """The library returns its annotations as a DataFrame or a list of dicts."""
    if hasattr(annotations, "to_dict"):
        return annotations.to_dict(orient="records")
    return list(annotations or [])
