"""Runs several `bmc` stage commands in one (possibly multi-process) Python program, so that one
`accelerate launch` start-up serves a whole comparison.

Usage: run_jobs.py JOBS.json (a list of argv lists)."""

import json
import sys

from bmc.cli import main

if __name__ == "__main__":
    for argv in json.loads(open(sys.argv[1], encoding="utf-8").read()):
        main(argv)
