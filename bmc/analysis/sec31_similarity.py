"""§3.1: how close the pseudo-winning response stays to y_w and to y_l.

Per edited pair: the semantic similarity (cosine of sentence-transformers embeddings) of (y_w, ỹ_w) and of
(y_w, y_l), and on the SFT model's token ids the edit distance and the share of varied tokens between the
training pair, original (y_w vs y_l) and bridged (ỹ_w vs y_l). The paper's similarity of (y_w, ỹ_w) with
all-mpnet-base-v2 (paper_values.yaml, `sec31_similarity.values.bridged`) is drawn beside ours. The embedder
(`analysis.similarity_model`, named in the summary and the figure: all-MiniLM-L6-v2 at smoke scale, the paper's
all-mpnet-base-v2 at mini and paper scale) is the sentence-transformers folder the rule `similarity_model` fetched
from its pinned PyPI wheels (bmc.models.embedder); this analysis only loads it.
"""

from __future__ import annotations

from pathlib import Path

from bmc.analysis.common import Analysis, PaperLine, describe, group_ticks
from bmc.config import AnalysisJob, ConfigError
from bmc.io import read_jsonl
from bmc.models.embedder import checked

PAPER_EMBEDDER = "all-mpnet-base-v2"
TITLE = "§3.1: similarity of y_w to ỹ_w and to y_l, and how many tokens the training pair varies"


def embed(model, texts: list[str]):
    """Unit-length embeddings of `texts` under a sentence-transformers model, one row each."""
    return model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)


def row_cosines(a, b) -> list[float]:
    """Cosine similarity of each row of `a` with the same row of `b` (both unit length)."""
    return [float(x @ y) for x, y in zip(a, b, strict=True)]


def token_change(chosen: list[int], rejected: list[int]) -> dict:
    """Token edit distance (Levenshtein) and the share of both responses' tokens the diff marks as varied."""
    from rapidfuzz.distance import Levenshtein

    from bmc.alignment.masks import diff_masks

    cm, rm = diff_masks(chosen, rejected)
    return {
        "edit_distance": Levenshtein.distance(chosen, rejected),
        "varied_share": (sum(cm) + sum(rm)) / max(len(cm) + len(rm), 1),
    }


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def analyse(inputs: dict[str, list[str]], settings: AnalysisJob) -> Analysis:
    """inputs `embedder` (the sentence-transformers folder), `model:<task>` (the SFT folder, for its tokenizer) and
    `pairs:<task>` (bridged pairs); settings `similarity_model` (see bmc.config.SimilarityModel; its weights are
    checked against the pin before loading) and `max_pairs`.
    The summary covers the pairs the editor edited (all pairs when it edited none, as `subset` says)."""
    from sentence_transformers import SentenceTransformer

    from bmc.models.prepare import load_tokenizer

    if settings.similarity_model is None:
        raise ConfigError("sec31_similarity needs analysis.similarity_model (its sentence embedder)")
    spec = settings.similarity_model.model_dump()
    embedder_name = spec["name"]
    folder = checked(Path(inputs["embedder"][0]), spec)
    embedder = SentenceTransformer(str(folder), device="cpu")
    rows, summary = [], {"embedder": embedder_name, "papers_embedder": PAPER_EMBEDDER}
    tasks = sorted(k.split(":", 1)[1] for k in inputs if k.startswith("model:"))
    for task in tasks:
        tokenizer = load_tokenizer(inputs[f"model:{task}"][0])
        pairs = read_jsonl(inputs[f"pairs:{task}"][0])[: settings.max_pairs]
        if not pairs:
            summary[task] = {"pairs": 0}
            continue
        y_w = [p.get("chosen_original", p["chosen"]) for p in pairs]
        w, bridged, rejected = (
            embed(embedder, t) for t in (y_w, [p["chosen"] for p in pairs], [p["rejected"] for p in pairs])
        )
        bridged_sim, original_sim = row_cosines(w, bridged), row_cosines(w, rejected)

        task_rows = []
        for p, w, sb, so in zip(pairs, y_w, bridged_sim, original_sim, strict=True):
            rejected = _ids(tokenizer, p["rejected"])
            original = token_change(_ids(tokenizer, w), rejected)
            bridged = token_change(_ids(tokenizer, p["chosen"]), rejected)
            task_rows.append(
                {
                    "task": task,
                    "id": p["id"],
                    "status": p["bridge"]["status"],
                    "sim_yw_bridged": sb,
                    "sim_yw_yl": so,
                    "edit_distance_original": original["edit_distance"],
                    "edit_distance_bridged": bridged["edit_distance"],
                    "varied_share_original": original["varied_share"],
                    "varied_share_bridged": bridged["varied_share"],
                }
            )
        rows += task_rows
        # the edited pairs (a fallback keeps y_w, so its ỹ_w is y_w); all pairs when none was edited
        edited = [r for r in task_rows if r["status"] == "edited"]
        chosen = edited or task_rows
        summary[task] = {
            "pairs": len(task_rows),
            "edited": len(edited),
            "subset": "edited" if edited else "all (no pair was edited)",
        } | {
            key: describe([r[key] for r in chosen])
            for key in task_rows[0]
            if key not in ("task", "id", "status")
        }

    def draw(sim, varied):
        done = [t for t in tasks if summary[t]["pairs"]]
        for j, (key, name) in enumerate((("sim_yw_bridged", "(y_w, ỹ_w)"), ("sim_yw_yl", "(y_w, y_l)"))):
            xs = [i + 0.38 * j for i in range(len(done))]
            sim.bar(xs, [summary[t][key]["mean"] for t in done], 0.36, color=f"C{j}", label=name)
        sim.set_ylabel(f"cosine similarity ({embedder_name})")
        for j, (key, name) in enumerate(
            (("varied_share_original", "y_w vs y_l"), ("varied_share_bridged", "ỹ_w vs y_l"))
        ):
            xs = [i + 0.38 * j for i in range(len(done))]
            varied.bar(xs, [100 * summary[t][key]["mean"] for t in done], 0.36, color=f"C{j + 2}", label=name)
        varied.set_ylabel("tokens marked varied (%)")
        for ax in (sim, varied):
            group_ticks(ax, done)

    wheels = [w["package"] for w in spec.get("wheels") or []]
    source = spec.get("package") or f"{len(wheels)} wheels {wheels[0]} … {wheels[-1]}"
    same = "the paper's" if embedder_name == PAPER_EMBEDDER else f"not the paper's {PAPER_EMBEDDER}"
    notes = [f"embeddings: {embedder_name} ({same}), from {source}"]
    paper_line = PaperLine(0, "bridged", f"paper (y_w, ỹ_w), {PAPER_EMBEDDER}: {{value}}")
    return Analysis(rows, summary, draw, panels=2, notes=notes, paper_lines=[paper_line])
