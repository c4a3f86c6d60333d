"""Every rule names a pinned conda env that exists and pins what the rule's stage imports; every env installs
`bmc` itself (the pip dry run lives in scripts/check_envs.py)."""

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))
from check_envs import pinned, problems, rule_stages, stage_imports  # noqa: E402

from bmc.cli import STAGES  # noqa: E402


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


# Imports a stage's modules reach that its env leaves out, because the stage never runs that code.
NOT_RUN = {
    # tables read the judge module's constants; its model clients (transformers, vLLM, HTTP) load lazily
    "table": {"torch", "transformers", "vllm", "tqdm"},
    # provenance reads the GPU's name only when torch is importable
    "report": {"torch"},
    # the ShareGPT wheel is fetched by bmc.models.prepare.fetch_wheel, whose module loads models lazily
    "data_if": {"torch", "transformers"},
    # so are the wheels the release manifest pins (the authors' ANTLR)
    "release": {"torch", "transformers"},
}


def test_each_env_pins_what_its_stages_import():
    missing = {}
    for rule, env, stages in rule_stages():
        for stage in stages:
            imports = stage_imports(STAGES[stage])
            gap = set(imports) - pinned(env) - NOT_RUN.get(stage, set())
            if gap:
                missing[f"{rule} ({stage}, {env.name})"] = {d: imports[d] for d in sorted(gap)}
    assert not missing, f"envs lack what their stages import (distribution: importing module): {missing}"


def test_not_run_exemptions_are_still_needed():
    stages = {stage: env for _, env, found in rule_stages() for stage in found}
    for stage, exempt in NOT_RUN.items():
        reached = set(stage_imports(STAGES[stage])) - pinned(stages[stage])
        assert exempt <= reached, f"{stage}: {sorted(exempt - reached)} are pinned or no longer imported"


def test_every_env_installs_bmc_itself():
    for env in sorted((REPO / "envs").glob("*.yaml")):
        script = env.with_suffix(".post-deploy.sh")
        assert script.is_file(), f"{env.name}: no {script.name} (Snakemake runs it after creating the env)"
        assert "pip install --quiet --no-deps ." in script.read_text()
