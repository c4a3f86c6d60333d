# Shared helpers: config validation, paths, and the `bmc` command every rule calls.
import json
import os
import shlex
import sys

sys.path.insert(0, workflow.basedir)
from bmc.alignment.methods import (
    get_method,
    pairs_variant,
    uses_bridged_data,
)  # noqa: E402  (light imports: no torch)
from bmc.bridging.prompts import template_path  # noqa: E402

from bmc.config import check  # noqa: E402
from bmc.cluster import check as check_cluster, launcher, local_rules  # noqa: E402
from bmc.cluster import rule_resources, threads  # noqa: E402

# every setting typed and checked here, before any job runs (bmc/config.py; a bad key fails naming its path)
SETTINGS = check(config)
# GPUs, CPUs, memory, runtime and partition of each rule's jobs (config `gpus` and `cluster`, bmc/cluster.py);
# small CPU steps and downloads run where Snakemake runs (`cluster.local`)
check_cluster(config)
workflow.localrules(*local_rules(config))

SCALE = config["scale"]
R = f"results/{SCALE}"
LOGS = f"logs/{SCALE}"
BENCH = f"{R}/benchmarks"
SEEDS = [str(s) for s in config["seeds"]]
# the tasks that run: `tasks` if given, else every task with a `data` section ("if": instruction following)
TASKS = config.get("tasks") or [t for t in ("qa", "math", "if") if t in config["data"]]
# graded against gold answers (Tables 1, 3 and 5); instruction following is judged (Table 2)
REASONING = [t for t in TASKS if t != "if"]
if "if" in TASKS and "judge" not in config:
    raise ValueError(
        "task `if` (instruction following) needs a `judge` section in the config"
    )
DATASETS = {task: config["data"][task]["datasets"] for task in TASKS}
METHODS = config["train"]["methods"]
STRATEGY = config["bridge"]["strategy"]
# Table 3: DPO-BMC trained on the pairs of each other bridging strategy ("DPO-BMC@<strategy>")
TABLE3_STRATEGIES = config.get("table3_strategies") or []
TABLE3_METHODS = [f"DPO-BMC@{s}" for s in TABLE3_STRATEGIES if s != STRATEGY]
# Table 4: DPO-BMC on pairs bridged by each named editor; an editor equal to `bridge.editor` is plain DPO-BMC.
# Extra local editor models (`editor_models`, built like the base model) are named as "editor:<name>".
EDITOR_MODELS = config.get("editor_models", {})
TABLE4_EDITORS = config.get("table4_editors") or {}
TABLE4_METHODS = {
    name: (
        "DPO-BMC"
        if editor == config["bridge"]["editor"]
        else f"DPO-BMC@{STRATEGY}+{name}"
    )
    for name, editor in TABLE4_EDITORS.items()
}
RESOURCES = config.get("resources", "workflow/resources")
# the authors' repository at a pinned commit, laid out by the `release` rule (paper scale)
RELEASE_DIR = "resources/bmc-release"
RELEASE = config.get("release") or {}
# tasks whose SFT model is given (`sft_models`: a model section per task) instead of trained
GIVEN_SFT_MODELS = {t: m for t, m in config.get("sft_models", {}).items() if t in TASKS}
TRAINED_SFT_TASKS = [t for t in TASKS if t not in GIVEN_SFT_MODELS]
SFT_MODEL = f"{R}/models/sft_{{task}}"
# tasks whose data come with their pairs (y_l given, e.g. UltraFeedback) instead of sampled from the SFT model
GIVEN_PAIR_TASKS = [
    t for t in TASKS if config["data"][t].get("source") in ("ultrafeedback",)
]
SAMPLED_PAIR_TASKS = [t for t in TASKS if t not in GIVEN_PAIR_TASKS]


def data_input(task):
    """The folder a data rule reads (`data.<task>.source`, default the shipped subsets); a source inside the
    release folder is read from the folder itself, which the `release` rule makes."""
    source = config["data"].get(task, {}).get("source", f"{RESOURCES}/data/{task}")
    inside = os.path.normpath(source).startswith(RELEASE_DIR + os.sep)
    return RELEASE_DIR if inside or os.path.normpath(source) == RELEASE_DIR else source


def one_of(names):
    """A wildcard constraint matching exactly these names (none: a pattern that matches nothing)."""
    return "|".join(names) if names else "(?!)"


wildcard_constraints:
    task="|".join(TASKS),
    seed=r"\d+",
    method=r"[A-Za-z0-9-]+(@[a-z_]+(\+[A-Za-z0-9_-]+)?)?",
    strategy=r"[a-z_]+(\+[A-Za-z0-9_-]+)?",
    name=r"[A-Za-z0-9_-]+",


# Runs from the repository root with the package on the path, inside any environment (pip or conda).
shell.prefix(
    # braces doubled twice: once for this f-string, once for Snakemake's own formatting
    f"set -euo pipefail; export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)


def job_threads(rule):
    """Threads of a model job (SFT, sampling, bridging, training, generation); Snakemake sets OMP_NUM_THREADS to
    it. The rule's CPUs on a cluster (`cluster.rules`), else `job_threads` (1 at smoke scale, where start-up
    dominates and two jobs run side by side), else all cores (bmc.cluster.threads)."""
    return threads(config, rule, workflow.resource_settings.cores)


# the launcher of preference training (rules `train` and `sweep_train`): one process per GPU of `gpus.train`
TRAIN_LAUNCHER = launcher(config, "train")


def job_resources(rule):
    """A rule's `resources:` from the config (bmc.cluster.rule_resources)."""
    return rule_resources(config, rule)


def as_json(section):
    """A config section as a shell-quoted JSON argument."""
    return shlex.quote(json.dumps(section))


# Keys that shape the DAG, not a job: kept out of the job's params, so that adding a method to the list
# does not re-run the methods already trained.
DAG_KEYS = {"train": ("methods",)}


# Sections of the stages that render prompts: they get the task's prompt format (`prompt_formats`) when it
# is not the paper's template (left out otherwise, so that existing outputs keep their params).
PROMPT_SECTIONS = ("sft", "sample", "train", "eval")


def settings(section, task):
    """A config section with the task's overrides (`task_overrides.<task>.<section>`) on top."""
    overrides = config.get("task_overrides", {}).get(task, {}).get(section, {})
    merged = {**config[section], **overrides}
    fmt = config.get("prompt_formats", {}).get(task, "paper")
    if section in PROMPT_SECTIONS and fmt != "paper":
        merged["prompt_format"] = fmt
    return {k: v for k, v in merged.items() if k not in DAG_KEYS.get(section, ())}


def task_json(section):
    """Params function: the section's settings for the job's task, as a JSON argument."""
    return lambda wildcards: as_json(settings(section, wildcards.task))


def model_dir(task, method, seed):
    """The model folder a (method, seed) row is evaluated from; SFT is trained once per task."""
    if method == "SFT":
        return f"{R}/models/sft_{task}"
    return f"{R}/models/{task}/{method}/seed{seed}"


def task_methods(task):
    """The methods trained for a task: `task_overrides.<task>.train.methods`, else `train.methods`."""
    overrides = config.get("task_overrides", {}).get(task, {}).get("train", {})
    return overrides.get("methods", METHODS)


def eval_runs(task):
    """(method, seed) pairs that get evaluated: SFT once, each of the task's methods per seed."""
    return [("SFT", SEEDS[0])] + [(m, s) for m in task_methods(task) for s in SEEDS]


def task_scores(task):
    return [
        f"{R}/scores/{task}/{m}/seed{s}/{d}/scores.json"
        for m, s in eval_runs(task)
        for d in DATASETS[task]
    ]


def training_pairs(wildcards):
    """Bridged pairs for -BC/-BMC methods (of the method's strategy, else the config's), else the original pairs."""
    if uses_bridged_data(wildcards.method):
        variant = pairs_variant(get_method(wildcards.method), STRATEGY)
        return f"{R}/bridged/{wildcards.task}/{variant}/pairs.jsonl"
    return f"{R}/pairs/{wildcards.task}/pairs.jsonl"


def table3_scores():
    """Scores of DPO-BMC on the config's strategy and of each DPO-BMC@<strategy>, for every task."""
    return [
        f"{R}/scores/{t}/{m}/seed{s}/{d}/scores.json"
        for t in TASKS
        for m in ["DPO-BMC", *TABLE3_METHODS]
        for s in SEEDS
        for d in table_sets(t)
    ]


def table4_scores():
    """Scores of DPO-BMC on each Table 4 editor's pairs, for every task."""
    return [
        f"{R}/scores/{t}/{m}/seed{s}/{d}/scores.json"
        for t in TASKS
        for m in sorted(set(TABLE4_METHODS.values()))
        for s in SEEDS
        for d in table_sets(t)
    ]


def editor_config(variant):
    """The editor of a bridged-pairs variant (`strategy` or `strategy+name`), its extra model as a path."""
    _, plus, name = variant.partition("+")
    if not plus:
        return config["bridge"]["editor"]
    if name not in TABLE4_EDITORS:
        raise ValueError(
            f"editor {name!r} is not in the config's table4_editors {sorted(TABLE4_EDITORS)}"
        )
    editor = dict(TABLE4_EDITORS[name])
    if str(editor["model"]).startswith("editor:"):
        editor["model"] = editor_model_dir(editor["model"])
    return editor


def editor_model_dir(model):
    """The folder of an extra editor model named "editor:<name>" (built by the editor_model rule)."""
    name = model.partition(":")[2]
    if name not in EDITOR_MODELS:
        raise ValueError(
            f"{model!r} names no entry of the config's editor_models {sorted(EDITOR_MODELS)}"
        )
    return f"{R}/models/editors/{name}"


def editor_models_needed(wildcards):
    model = str(editor_config(wildcards.strategy)["model"])
    return [model] if model.startswith(f"{R}/models/editors/") else []


def table_sets(task):
    """The test sets of a task's column in Tables 3 and 5 (instruction following: AlpacaEval's LC)."""
    return DATASETS[task] if task in REASONING else ["alpaca_eval"]


def variant_pairs(task):
    """Objectives trained both without and with BMC for a task (Table 5 rows), e.g. IPO and IPO-BMC."""
    methods = task_methods(task)
    return [m for m in methods if f"{m}-BMC" in methods]


def tables():
    names = [f"table1_{t}" for t in REASONING]
    names += ["table2"] if "if" in TASKS else []
    names += ["table3"] if TABLE3_STRATEGIES else []
    names += ["table4"] if TABLE4_EDITORS else []
    names += [f"table5_{t}" for t in TASKS if variant_pairs(t)]
    return [f"{R}/tables/{name}.{ext}" for name in names for ext in ("csv", "md")]


def judge_baseline(wildcards):
    """The baseline's generations for a judged test set: none for `reference` (shipped with the test set),
    else the named method's answers (first seed)."""
    name = config["judge"]["baselines"].get(wildcards.dataset, "reference")
    if name == "reference":
        return []
    return f"{R}/generations/if/{name}/seed{SEEDS[0]}/{wildcards.dataset}.jsonl"


def summaries():
    """Stage summaries shown in the report, per task: data, pair building, bridging (each strategy and
    each Table 4 editor used)."""
    methods = ["DPO-BMC", *TABLE3_METHODS, *TABLE4_METHODS.values()]
    strategies = dict.fromkeys(pairs_variant(get_method(m), STRATEGY) for m in methods)
    return [
        path
        for t in TASKS
        for path in (
            f"{R}/data/{t}/summary.json",
            f"{R}/pairs/{t}/summary.json",
            *(f"{R}/bridged/{t}/{s}/summary.json" for s in strategies),
        )
    ]


def final_outputs():
    # figures(): the config's analyses (workflow/rules/analysis.smk)
    return tables() + figures() + [f"{R}/report/index.md", f"{R}/report/index.html"]


# ---- the paper's quantitative analyses (workflow/rules/analysis.smk, bmc/analysis/) ----
# The config's `analysis.names` lists the ones that run; `analysis` holds their settings.
ANALYSIS = config.get("analysis") or {}
ANALYSES = ANALYSIS.get("names", [])
FIGURES = f"{R}/figures"
FIRST_SEED = SEEDS[0]


def figure_files(name):
    return [f"{FIGURES}/{name}.{ext}" for ext in ("png", "pdf", "csv", "json")]


def figures():
    """Every figure of the config's analyses (their .png; the rule writes .pdf, .csv and .json beside)."""
    return [f"{FIGURES}/{name}.png" for name in ANALYSES]


def trained_both(task):
    """Whether DPO and DPO-BMC are both trained for a task (the pair most analyses compare)."""
    return {"DPO", "DPO-BMC"} <= set(task_methods(task))


def bridged_pairs(task):
    return f"{R}/bridged/{task}/{STRATEGY}/pairs.jsonl"


def analysis_inputs(name):
    """(key, path) inputs of an analysis, see each module's `analyse`."""
    if name in ("fig2_span_surprise", "diff_algorithm", "sec31_similarity"):
        sweep = sweep_inputs(name) if name == "diff_algorithm" else []
        return sweep + [
            item
            for t in REASONING
            for item in (
                (f"model:{t}", SFT_MODEL.format(task=t)),
                (f"pairs:{t}", bridged_pairs(t)),
            )
        ]
    if name == "token_dynamics":
        return [
            (f"{m}:{t}", model_dir(t, m, FIRST_SEED))
            for t in TASKS
            if trained_both(t)
            for m in ("DPO", "DPO-BMC")
        ]
    if name == "sec53_reward":
        items = []
        for t in (t for t in REASONING if trained_both(t)):
            items += [(f"ref:{t}", SFT_MODEL.format(task=t))]
            items += [
                (f"{m}:{t}", model_dir(t, m, FIRST_SEED)) for m in ("DPO", "DPO-BMC")
            ]
            for d in DATASETS[t]:
                items += [
                    (f"test:{t}", f"{R}/data/{t}/test/{d}.jsonl"),
                    (
                        f"generations:{t}",
                        f"{R}/generations/{t}/SFT/seed{FIRST_SEED}/{d}.jsonl",
                    ),
                    (
                        f"records:{t}",
                        f"{R}/scores/{t}/SFT/seed{FIRST_SEED}/{d}/records.jsonl",
                    ),
                ]
        return items
    if name == "bridging_cost":
        return [("summary", s) for s in summaries() if "/bridged/" in s]
    if name in SWEEP_OF:
        return sweep_inputs(name)
    raise ValueError(f"unknown analysis {name!r}")


def analysis_params(name):
    """The analysis' settings: `analysis` keys, and per task the training settings it reads."""
    keys = ("beta", "prompt_format", "diff_algorithm", "stopword_forms")
    per_task = {
        t: {k: v for k, v in settings("train", t).items() if k in keys} for t in TASKS
    }
    shared = {k: v for k, v in ANALYSIS.items() if k != "names"}
    if (
        name == "sec31_similarity"
    ):  # the embedder's wheel is kept with the other downloads
        shared |= {
            "model_dir": f"{R}/cache/similarity_model",
            "download_cache": config.get("download_cache"),
        }
    return as_json({**shared, "tasks": per_task})


# ---- sweeps of the analyses (Figures 3 and 5, δ, diff algorithm): models trained beside the main runs ----
SWEEP_TASKS = [t for t in ANALYSIS.get("sweep_tasks", REASONING[:1]) if t in REASONING]
SWEEP_METHOD = {"proportion": "DPO-BMC", "delta": "DPO-BMC", "diff": "DPO-BMC"}
SWEEP_METHOD |= {"edit_distance_DPO": "DPO", "edit_distance_DPO-BMC": "DPO-BMC"}
SWEEP_OF = {  # analysis -> its sweeps
    "fig3_bridged_proportion": ["proportion"],
    "delta_sensitivity": ["delta"],
    "fig5_edit_distance": ["edit_distance_DPO", "edit_distance_DPO-BMC"],
    "diff_algorithm": ["diff"],
}


def _num(x):
    return f"{float(x):g}"


def sweep_points(sweep, task):
    """{point: the main run it equals (a method), or None when the sweep trains it}."""
    train = settings("train", task)
    trained = set(task_methods(task))

    def reuse(method, same):
        return method if same and method in trained else None

    if sweep == "proportion":
        return {
            _num(p): reuse({0.0: "DPO-MC", 1.0: "DPO-BMC"}.get(float(p)), True)
            for p in ANALYSIS.get("proportions", [])
        }
    if sweep == "delta":
        return {
            _num(d): reuse("DPO-BMC", float(d) == float(train["delta"]))
            for d in ANALYSIS.get("deltas", [])
        }
    if (
        sweep == "diff"
    ):  # DPO-BMC trained on the other algorithm's masks only when asked (`diff_training`)
        if not ANALYSIS.get("diff_training"):
            return {}
        algorithm = train.get("diff_algorithm", "difflib")
        return {a: reuse("DPO-BMC", a == algorithm) for a in ("difflib", "levenshtein")}
    return {str(k): None for k in range(int(ANALYSIS.get("edit_distance_bins", 0)))}


def sweep_dir(task, sweep, point):
    return f"{R}/sweeps/{task}/{sweep}/{point}"


def sweep_scores(task, sweep, point):
    """The scores of a sweep point: the main run's scores.json files, or the sweep's scores folder."""
    reused = sweep_points(sweep, task)[point]
    if reused:
        return [
            f"{R}/scores/{task}/{reused}/seed{FIRST_SEED}/{d}/scores.json"
            for d in DATASETS[task]
        ]
    return [f"{sweep_dir(task, sweep, point)}/seed{FIRST_SEED}/scores"]


def sweep_model(task, sweep, point):
    reused = sweep_points(sweep, task)[point]
    if reused:
        return model_dir(task, reused, FIRST_SEED)
    return f"{sweep_dir(task, sweep, point)}/seed{FIRST_SEED}/model"


def sweep_inputs(name):
    """(key, path) inputs of a sweep analysis: each point's scores (and Figure 5's models)."""
    items = []
    for t in SWEEP_TASKS:
        for sweep in SWEEP_OF[name]:
            for point in sweep_points(sweep, t):
                if sweep.startswith("edit_distance_"):
                    method = SWEEP_METHOD[sweep]
                    items.append(
                        (f"model:{t}:{method}:{point}", sweep_model(t, sweep, point))
                    )
                    if method == "DPO":
                        items += [
                            (f"score:{t}:DPO:{point}", p)
                            for p in sweep_scores(t, sweep, point)
                        ]
                else:
                    items += [
                        (f"score:{t}:{sweep}:{point}", p)
                        for p in sweep_scores(t, sweep, point)
                    ]
    return items


def sweep_train_pairs(wc):
    """The pairs a sweep model trains on."""
    if wc.sweep in ("delta", "diff"):
        return bridged_pairs(wc.task)
    return f"{sweep_dir(wc.task, wc.sweep, wc.point)}/pairs.jsonl"


def sweep_train_params(wc):
    """The task's training settings with the sweep point's change (δ, diff algorithm; one step for Figure 5's
    DPO-BMC gradient norm)."""
    train = settings("train", wc.task)
    if wc.sweep == "delta":
        train["delta"] = float(wc.point)
    if wc.sweep == "diff":
        train["diff_algorithm"] = wc.point
    if wc.sweep == "edit_distance_DPO-BMC":
        train["max_steps"] = 1
    return as_json(train)


def sweep_pairs_inputs(wc):
    if wc.sweep == "proportion":
        return {
            "pairs": f"{R}/pairs/{wc.task}/pairs.jsonl",
            "bridged": bridged_pairs(wc.task),
        }
    source = (
        bridged_pairs(wc.task)
        if SWEEP_METHOD[wc.sweep] == "DPO-BMC"
        else f"{R}/pairs/{wc.task}/pairs.jsonl"
    )
    return {"pairs": source, "model": SFT_MODEL.format(task=wc.task)}


def sweep_score_shell(wc, output):
    """Generate the sweep model's answers to every test set, then grade each set (the main runs' stages)."""
    sets = DATASETS[wc.task]
    gens = " ".join(f"{output}/generations/{d}.jsonl" for d in sets)
    label = f"{wc.sweep}={wc.point}"
    evals = [
        f"python -m bmc.cli evaluate --generations {output}/generations/{d}.jsonl --out {output}/{d}/scores.json"
        f" --model-name {label} --method {label} --seed {wc.seed} --task {wc.task} --dataset {d}"
        for d in sets
    ]
    return gens, " && ".join(evals)


def generation_records():
    """How every answer file behind the tables and every sampled training answer was generated: the
    `.meta.json` records of the generate and sample_losing jobs that the tables need, for the report.
    """
    runs = {(t, m, s) for t in TASKS for m, s in eval_runs(t)}
    extra = [*TABLE3_METHODS, *TABLE4_METHODS.values()]
    runs |= {(t, m, s) for t in TASKS for m in extra for s in SEEDS}
    return sorted(
        f"{R}/generations/{t}/{m}/seed{s}/{d}.jsonl.meta.json"
        for t, m, s in runs
        for d in DATASETS[t]
    ) + [f"{R}/pairs/{t}/samples.jsonl.meta.json" for t in SAMPLED_PAIR_TASKS]
