"""AlpacaEval 2 scored by the `alpaca_eval` library itself (paper scale, `judge.alpaca_eval_annotator`).

The library's annotator (the paper's `weighted_alpaca_eval_gpt4_turbo`; it reads OPENAI_API_KEY) judges
the model's outputs against the reference outputs, and its length-controlled GLM (with the
instruction-difficulty term, fetched from the hub) gives the LC win rate: the official AlpacaEval 2
protocol, where the suite's own judge (`bmc.evaluation.judge`) is what runs offline. Annotations are
cached next to the scores, so a rerun does not pay for them twice.
"""

from __future__ import annotations

import math
from pathlib import Path


def library_scores(items: list[dict], method: str, annotator: str, out_dir: Path) -> tuple[dict, list[dict]]:
    """(scores, one judgment row per item) of one model on AlpacaEval; items are {"id", "question",
    "response", "baseline"}. A judgment's `preference` is the library's (1 = reference, 2 = model)."""
    try:
        from alpaca_eval.main import evaluate
    except ImportError as e:
        raise ImportError(
            "judge.alpaca_eval_annotator needs the alpaca_eval package (envs/judge.yaml: alpaca_eval==0.6.6)"
        ) from e
    out_dir.mkdir(parents=True, exist_ok=True)
    model = [{"instruction": it["question"], "output": it["response"], "generator": method} for it in items]
    reference = [
        {"instruction": it["question"], "output": it["baseline"], "generator": "reference"} for it in items
    ]
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
    )
    row = board.loc[method]
    ids = {it["question"]: it["id"] for it in items}
    judgments = [
        {
            "id": ids.get(a.get("instruction")),
            "preference": None if _missing(a.get("preference")) else float(a["preference"]),
            "annotator": annotator,
        }
        for a in _records(annotations)
    ]
    unparsed = sum(j["preference"] is None for j in judgments)
    lc = round(float(row["length_controlled_winrate"]), 2)
    return {
        "win_rate": round(float(row["win_rate"]), 2),
        "lc_win_rate": lc,
        "standard_error": round(float(row["standard_error"]), 2),
        "judgments": len(judgments),
        "unparsed": unparsed,
        "annotator": annotator,
        "score": lc,
    }, judgments


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _records(annotations) -> list[dict]:
    """The library returns its annotations as a DataFrame or a list of dicts."""
    if hasattr(annotations, "to_dict"):
        return annotations.to_dict(orient="records")
    return list(annotations or [])
