"""lm-eval task configs of the suite's QA and math test sets (groups `bmc_qa`, `bmc_math`).

Pass `TASKS_DIR` to lm-eval as its include path; the hooks the configs call are in `utils.py`.
"""

from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
