#!/usr/bin/env bash
# Installs the suite itself (`bmc`, without dependencies: the env pins them) into the new env, so that its
# version is recorded; Snakemake runs this from the working directory, the repository root.
set -euo pipefail
if ! grep -q '^name = "bmc"' pyproject.toml; then
  echo "run from the repository root (the pyproject.toml of bmc)" >&2
  exit 1
fi
python -m pip install --quiet --no-deps .
# FlashAttention 2 where torch is a CUDA build (the pin: train.yaml's variables.BMC_FLASH_ATTN), compiled against
# that torch, hence without build isolation
flash_attn=$(python -c 'import yaml; print(yaml.safe_load(open("envs/train.yaml"))["variables"]["BMC_FLASH_ATTN"])')
if python -c 'import sys, torch; sys.exit(torch.version.cuda is None)'; then
  python -m pip install --quiet --no-build-isolation "$flash_attn"
fi
