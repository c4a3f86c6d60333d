#!/usr/bin/env bash
# Installs the suite itself (`bmc`, without dependencies: the env pins them) into the new env, so that its
# version is recorded; Snakemake runs this from the working directory, the repository root.
set -euo pipefail
if ! grep -q '^name = "bmc"' pyproject.toml; then
  echo "run from the repository root (the pyproject.toml of bmc)" >&2
  exit 1
fi
python -m pip install --quiet --no-deps .
