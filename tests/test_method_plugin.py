"""A method is one module: the worked example of docs/adding-a-method.md (cDPO), taken from the doc as written,
is registered by adding its file alone, trains and reaches Tables 1 and 5 and their power statements; the
registry refuses a malformed module naming its file and what is wrong."""

import csv
import json
import math
import re
import shutil
import subprocess
import sys
import textwrap

import pytest
import yaml

from bmc.alignment.methods import FOLDER, MethodModuleError, discover

from .repo_copy import REPO, SKIP
from .test_smoke_dag import DOWNLOADS, snakemake

DOC = REPO / "docs" / "adding-a-method.md"
BLOCK = re.compile(r"`(bmc/alignment/methods/\w+\.py)`:\n\n```python\n(.*?)```", re.S)


def overlay_line() -> str:
    """The doc's one-line config overlay that names the example's methods."""
    found = re.findall(r"^echo '(train: .*)' > ~/cdpo\.yaml$", DOC.read_text(encoding="utf-8"), flags=re.M)
    assert len(found) == 1, f"{DOC.name} should write its overlay once"
    return found[0]


def example() -> tuple[str, str]:
    """(path in the repository, code) of the doc's method file."""
    found = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    assert len(found) == 1, f"{DOC.name} should show one method file in full"
    return found[0]


@pytest.fixture
def methods_folder(tmp_path, monkeypatch):
    """make(files): a scratch package standing in for the methods folder, holding DPO's module and `files`,
    under a name of its own (so that no test sees another's modules); (its folder, its package name)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names = []

    def make(files: dict[str, str]):
        name = f"scratch_methods_{tmp_path.name.replace('-', '_')}_{len(names)}"
        folder = tmp_path / name
        folder.mkdir()
        (folder / "__init__.py").write_text("")
        for file, code in {"dpo.py": (FOLDER / "dpo.py").read_text(), **files}.items():
            (folder / file).write_text(textwrap.dedent(code))
        names.append(name)
        return folder, name

    yield make
    for module in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[module]


def test_the_example_registers_two_methods_compared_with_dpo(methods_folder):
    path, code = example()
    folder, package = methods_folder({path.rsplit("/", 1)[1]: code})
    found = discover(folder, package)
    spec = found["cdpo"]
    assert spec.method_names() == {"cDPO": ("original", False), "cDPO-BMC": ("bridged", True)}
    assert spec.baseline == "DPO" and spec.resolve({}) == {"label_smoothing": 0.1}
    with pytest.raises(ValueError, match=r"cDPO\.label_smoothing: 0\.5 is not < 0\.5"):
        spec.resolve({"label_smoothing": 0.5})


def test_the_example_loss_is_label_smoothed_dpo(methods_folder):
    import torch

    from bmc.alignment.objective import Hyperparameters, PairTerms, dpo_loss

    path, code = example()
    folder, package = methods_folder({path.rsplit("/", 1)[1]: code})
    spec = discover(folder, package)["cdpo"]
    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    terms = PairTerms(t(-3.0, -5.0), t(-4.0, -2.0), t(-3.5, -4.0), t(-3.0, -2.5), t(3, 4), t(2, 5))
    hp = Hyperparameters(0.5, 3.0, params={"label_smoothing": 0.0})
    assert torch.equal(spec.loss(terms, hp), dpo_loss(terms, hp))
    got = spec.loss(terms, Hyperparameters(0.5, 3.0, params={"label_smoothing": 0.2}))
    for i, h in enumerate([(-3.0 + 3.5) - (-4.0 + 3.0), (-5.0 + 4.0) - (-2.0 + 2.5)]):
        sig = 1 / (1 + math.exp(-0.5 * h))
        assert got[i].item() == pytest.approx(-0.8 * math.log(sig) - 0.2 * math.log(1 - sig), rel=1e-12)


@pytest.mark.parametrize(
    "files, error",
    [
        ({"nomethod.py": "X = 1\n"}, r"nomethod\.py: declares no METHOD"),
        (
            {"notspec.py": "METHOD = {'name': 'X'}\n"},
            r"notspec\.py: METHOD must be an Objective\(\.\.\.\), got dict",
        ),
        (
            {
                "badfields.py": "from bmc.alignment.method_spec import Objective\n"
                "METHOD = Objective(name='X@1', loss=None, variants=('BMX',), reward='odds')\n"
            },
            r"badfields\.py: METHOD name 'X@1' must be .*; loss must be a function .*; variants must be a tuple of "
            r"\('BC', 'MC', 'BMC'\), got \('BMX',\); reward must be one of",
        ),
        (
            {
                "nobase.py": "from bmc.alignment.method_spec import Objective\n"
                "METHOD = Objective(name='X', loss=len, baseline='KTO')\n"
            },
            r"nobase\.py: METHOD baseline 'KTO' is no registered method; valid: DPO, DPO-BC",
        ),
        (
            {
                "twice.py": "from bmc.alignment.method_spec import Objective\n"
                "METHOD = Objective(name='X', loss=len, variants=('BMC',))\n",
                "xbmc.py": "from bmc.alignment.method_spec import Objective\nMETHOD = Objective(name='X-BMC', loss=len)\n",
            },
            r"xbmc\.py: method 'X-BMC' is already declared by .*twice\.py",
        ),
        (
            {
                "params.py": "from bmc.alignment.method_spec import Hyperparameter as H, Objective\n"
                "METHOD = Objective(name='X', loss=len, hyperparameters={'eps': H(float, 0.7, lt=0.5), 'n': 3})\n"
            },
            r"params\.py: METHOD hyperparameters\['eps'\]: the default 0\.7 is not < 0\.5; "
            r"hyperparameters\['n'\] must be a Hyperparameter",
        ),
        (
            {
                "taken.py": "from bmc.alignment.method_spec import Hyperparameter as H, Objective\n"
                "METHOD = Objective(name='X', loss=len, hyperparameters={'beta': H(float, 0.1)})\n"
            },
            r"taken\.py: METHOD hyperparameters \['beta'\] are settings of the `train` section already",
        ),
        (
            {"broken.py": "import torch_that_is_not_there\n"},
            r"broken\.py: cannot be imported: ModuleNotFoundError",
        ),
        (
            {
                "sft.py": "from bmc.alignment.method_spec import Objective\nMETHOD = Objective(name='SFT', loss=len)\n"
            },
            r"sft\.py: SFT names the tables' SFT row",
        ),
    ],
    ids=[
        "no-METHOD",
        "not-an-Objective",
        "invalid-fields",
        "unknown-baseline",
        "name-twice",
        "bad-params",
        "taken-name",
        "import-error",
        "SFT-row",
    ],
)
def test_a_malformed_module_is_refused_naming_its_file(methods_folder, files, error):
    folder, package = methods_folder(files)
    with pytest.raises(MethodModuleError, match=error):
        discover(folder, package)


@pytest.fixture(scope="module")
def repo_with_example(tmp_path_factory):
    """A copy of the repository with the doc's method file added: the one new file a user writes."""
    work = tmp_path_factory.mktemp("plugin") / "repo"
    shutil.copytree(REPO, work, ignore=SKIP)
    path, code = example()
    (work / path).write_text(code, encoding="utf-8")
    return work


CHECKS = """
import json, sys
import bmc.alignment.methods as m
from bmc.config import ConfigError, TrainJob, check, job_settings
from bmc.plan.cost import merged_config
from bmc.plan.runs import Plan
from bmc.plan.analyses import sweep_train_settings

heavy = sorted({"torch", "transformers", "trl"} & set(sys.modules))
config = merged_config(["workflow/config/smoke.yaml"])
config["train"]["methods"] += ["cDPO", "cDPO-BMC"]
config["train"]["method_params"] = {"cDPO": {"label_smoothing": 0.2, "learning_rate": 2.0e-4}}
plan = Plan(check(config), config)
params = {m: plan.train_params("qa", m) for m in ("DPO", "cDPO", "cDPO-BMC")}
settings = job_settings(TrainJob, json.dumps(params["cDPO"]), "train")
errors = []
for bad in ({"label_smoothing": 0.5}, {"label_smoothing": "0.2"}):
    try:
        job_settings(TrainJob, json.dumps({"method_params": {"cDPO-BMC": bad}}), "train")
    except ConfigError as e:
        errors.append(str(e))
print(json.dumps({
    "heavy": heavy,
    "methods": list(m.METHODS),
    "params": params,
    "own": settings.method_params["cDPO"].model_dump(exclude_unset=True),
    "sums": [plan.reference_sums("qa", x) for x in ("DPO", "cDPO", "DPO-BMC", "cDPO-BMC")],
    "sweep": sweep_train_settings(plan, "qa", "delta", "1"),
    "errors": errors,
    "entries": [
        m.method_entry({"cDPO": {"label_smoothing": 0.2, "beta": 0.3}, "cDPO-BMC": {"label_smoothing": 0.3}}, "cDPO-BMC"),
        m.method_entry({"DPO": {"beta": 0.2}, "DPO-BMC": {"beta": 0.3}}, "DPO-BMC@inverse"),
        m.method_entry({"DPO-BMC": {"beta": 0.3}}, "DPO"),
    ],
}))
"""


def test_the_registry_config_and_plan_take_the_example(repo_with_example):
    proc = subprocess.run(
        [sys.executable, "-c", CHECKS], cwd=repo_with_example, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    assert out["heavy"] == []  # the declarations are read without torch, as the Snakefile reads them
    assert out["methods"][-2:] == ["cDPO", "cDPO-BMC"]
    # each train job gets its own method's entry only; a variant's is its base's with its own on top
    given = {"label_smoothing": 0.2, "learning_rate": 2.0e-4}
    assert "method_params" not in out["params"]["DPO"]
    assert out["params"]["cDPO"]["method_params"] == {"cDPO": given}
    assert out["params"]["cDPO-BMC"]["method_params"] == {"cDPO-BMC": given}
    assert out["entries"] == [{"label_smoothing": 0.3, "beta": 0.3}, {"beta": 0.3}, {}]
    assert out["own"] == {"label_smoothing": 0.2, "learning_rate": 2.0e-4}
    assert "method_params" not in out["sweep"] and out["sweep"]["delta"] == 1.0  # a sweep's job likewise
    # its own hyperparameter leaves the reference's sums shared with DPO's (and DPO-BMC's)
    assert out["sums"][0] == out["sums"][1] and out["sums"][2] == out["sums"][3]
    assert (
        "cDPO-BMC.label_smoothing: 0.5 is not < 0.5 (declared in bmc/alignment/methods/cdpo.py)"
        in out["errors"][0]
    )
    assert "cDPO-BMC.label_smoothing: '0.2' is a string, not a float" in out["errors"][1]


@pytest.mark.slow
def test_the_example_reaches_tables_1_and_5_and_their_power_statements(repo_with_example, tmp_path):
    """The doc's run: the smoke scale on QA alone, DPO and DPO-BMC beside the example and its -BMC, named in the
    doc's one-line overlay."""
    methods = ["DPO", "DPO-BMC", "cDPO", "cDPO-BMC"]
    overlay = tmp_path / "cdpo.yaml"
    overlay.write_text(overlay_line() + "\n")
    assert yaml.safe_load(overlay.read_text())["train"]["methods"] == methods
    proc = snakemake(
        repo_with_example,
        *("--configfile", "workflow/config/smoke.yaml", str(overlay)),
        *("--config", DOWNLOADS, 'tasks=["qa"]', 'analysis={"names": []}'),
    )
    logs = repo_with_example / "logs"
    if proc.returncode != 0:
        tails = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted(logs.rglob("*.log")))
        pytest.fail(f"smoke DAG with the example failed:\n{proc.stderr[-4000:]}\n{tails}")
    tables = repo_with_example / "results" / "smoke" / "tables"
    with open(tables / "table1_qa.csv") as f:
        table1 = {row["method"]: row for row in csv.DictReader(f)}
    assert set(table1) == {"SFT", *methods}
    assert table1["cDPO"]["vs_base"] == "DPO" and table1["cDPO"]["vs_p"] != ""
    assert table1["DPO-BMC"]["vs_base"] == "DPO"
    with open(tables / "table5_qa.csv") as f:
        table5 = {row["method"]: row for row in csv.DictReader(f)}
    assert set(table5) == {"DPO", "cDPO"}
    assert table5["cDPO"]["vs_base"] == "cDPO" and table5["cDPO"]["gain"] != ""
    assert "| cDPO vs DPO |" in (tables / "table1_qa.md").read_text()
    assert "| cDPO-BMC vs cDPO |" in (tables / "table5_qa.md").read_text()
    # the example's hyperparameter reached its loss: as given for cDPO, and for cDPO-BMC, which takes its base's
    models = repo_with_example / "results" / "smoke" / "models" / "qa"
    used = {
        m: json.loads((models / m / "seed0" / "train_summary.json").read_text())["method_params"]
        for m in methods
    }
    assert used == {
        "DPO": {},
        "DPO-BMC": {},
        "cDPO": {"label_smoothing": 0.2},
        "cDPO-BMC": {"label_smoothing": 0.2},
    }
