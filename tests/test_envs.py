"""Every rule names a pinned conda env that exists (the pip dry run lives in scripts/check_envs.py)."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from check_envs import problems  # noqa: E402


def test_env_files_are_pinned():
    envs = sorted((REPO / "envs").glob("*.yaml"))
    assert len(envs) >= 6
    for env in envs:
        assert problems(env) == [], env.name


def test_every_rule_has_an_existing_conda_env():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        text = smk.read_text()
        rules = re.findall(r"^rule (\w+):", text, flags=re.M)
        envs = re.findall(r'conda:\s*\n\s*"([^"]+)"', text)
        assert len(envs) == len(rules), f"{smk.name}: {len(rules)} rules but {len(envs)} conda envs"
        for env in envs:
            assert (smk.parent / env).resolve().exists(), f"{smk.name}: {env} missing"
