"""The plan of a scale: from its config to every run, its paths, and what each table, figure and report reads.

A run trains one method on one task with one seed; its method name says which pairs it trains on:
- `<method>`: a registered method (bmc.alignment.methods) on the original pairs or, if it trains on bridged
  pairs, on those of the config's `bridge.strategy` and `bridge.editor`;
- `<method>@<strategy>`: on the pairs of another bridging strategy (Table 3); `released` names the authors'
  own GPT-4-bridged pairs (`bmc.data.released_pairs`), which take no editor;
- `<method>@<strategy>+<editor>`: on the pairs made by an editor of the config's `table4_editors` (Table 4).
The folder of a method's bridged pairs is its variant: `<strategy>` or `<strategy>+<editor>`. The grammar
(`parse_method_name`, the wildcard patterns) lives with the registry, in bmc.alignment.methods.

Pure functions of the config, no Snakemake: the rules (workflow/rules/*.smk) are wiring over `Plan`, and
tests/test_plan.py checks it without running Snakemake. The analyses' inputs and sweeps: bmc.plan.analyses.
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any

from bmc.alignment import reference
from bmc.alignment.methods import (  # the grammar of method names, re-exported for the rules and the analyses
    BMC,
    METHOD_PATTERN,  # noqa: F401
    METHODS,
    RELEASED,  # noqa: F401
    SFT,
    STRATEGY_PATTERN,
    VARIANT_PATTERN,  # noqa: F401
    MethodName,  # noqa: F401
    bmc_variant,
    format_method_name,
    method_entry,
    parse_method_name,
    split_variant,
)
from bmc.bridging.prompts import template_path
from bmc.config import ArenaHardPrompt, Release

if TYPE_CHECKING:
    from bmc.config import Config

ORIGINAL = "original"  # the reference sums of the original (unbridged) pairs
TASKS = ("qa", "math", "if")  # "if": instruction following, judged (Table 2); the others are graded


def variant_editors(config: dict[str, Any]) -> dict[str | None, dict[str, Any]]:
    """Every editor of a config's bridgings by the name its variants carry after "+" (None: `bridge.editor`, whose
    variants carry none); none without a `bridge.editor`. A Table 4 editor equal to `bridge.editor` is left out:
    its row is plain DPO-BMC, on the pairs `bridge.editor` makes."""
    main = (config.get("bridge") or {}).get("editor")
    if not main:
        return {}
    return {None: main} | {n: e for n, e in (config.get("table4_editors") or {}).items() if e != main}


def variants_of(editors: list[str | None]) -> str:
    """A pattern matching a whole bridged-pairs variant (never a prefix of one) made by one of `editors` (names
    of `variant_editors`; None: `bridge.editor`, variants without "+"); one matching nothing without editors."""
    names = [re.escape(e) for e in editors if e is not None]
    forms = [STRATEGY_PATTERN] if None in editors else []
    forms += [rf"{STRATEGY_PATTERN}\+(?:{'|'.join(names)})"] if names else []
    return f"(?:{'|'.join(forms)})(?![A-Za-z0-9_+-])" if forms else "(?!)"


def strategy_method(strategy: str, default_strategy: str) -> str:
    """Table 3's row of a bridging strategy: DPO-BMC, named after the strategy unless it is the config's."""
    return BMC if strategy == default_strategy else format_method_name(BMC, strategy)


class Plan:
    """What a config runs. Its structure (tasks, test sets, methods, seeds, strategies, analyses) comes from the
    typed settings; a section handed to a job, or compared as one (task settings, editors, models), from
    `config` as given: jobs' parameters are dumped in its key order, and another order would re-run every
    finished job."""

    def __init__(self, settings: Config, config: dict[str, Any]):
        self.settings, self.config = settings, config
        # the run's folders (config `run`, default the scale), beside those of the scale's other runs
        self.results = f"results/{settings.run_name}"
        self.logs = f"logs/{settings.run_name}"
        self.seeds = [str(s) for s in settings.seeds]
        self.first_seed = self.seeds[0]
        # `tasks` if given, else every task with a `data` section
        self.tasks: list[str] = settings.tasks or [t for t in TASKS if self._data(t)]
        self.graded = [t for t in self.tasks if t != "if"]  # Tables 1, 3 and 5 by gold answers
        self.datasets = {t: list(self._data(t).datasets) for t in self.tasks}
        self.strategy = settings.bridge.strategy
        self.resources = settings.resources or "workflow/resources"
        release = settings.release or Release()
        self.release_dir = release.folder  # laid out by the `release` rule
        self.release_manifest = release.manifest_path(self.resources)
        # Arena-Hard v0.1's judge prompt (the `arena_hard_judge` rule), when the judge asks for it
        prompt = settings.judge.arena_hard_prompt if settings.judge else None
        self.arena_hard_prompt = prompt is not None
        self.arena_hard_dir = (prompt or ArenaHardPrompt()).folder
        self.arena_hard_manifest = (prompt or ArenaHardPrompt()).manifest_path(self.resources)
        # tasks whose SFT model is given (`sft_models`), and those whose pairs come with the data (UltraFeedback)
        self.given_sft_models = {t: m for t, m in (config.get("sft_models") or {}).items() if t in self.tasks}
        self.trained_sft_tasks = [t for t in self.tasks if t not in self.given_sft_models]
        self.given_pair_tasks = [t for t in self.tasks if self._data(t).source == "ultrafeedback"]
        self.sampled_pair_tasks = [t for t in self.tasks if t not in self.given_pair_tasks]
        self.editor_models = config.get("editor_models") or {}
        self.table4_editors = config.get("table4_editors") or {}
        self.table3_strategies = list(settings.table3_strategies or [])
        # Table 3: DPO-BMC on the pairs of each other strategy; Table 4: on each editor's pairs (by name)
        self.table3_methods = [
            strategy_method(s, self.strategy) for s in self.table3_strategies if s != self.strategy
        ]
        self.table4_methods = {name: self.editor_method(name) for name in self.table4_editors}
        # the tasks each trains and reports (`table3_tasks`, `table4_tasks`: default every task; none without rows)
        self.table3_tasks = self._among(settings.table3_tasks) if self.table3_strategies else []
        self.table4_tasks = self._among(settings.table4_tasks) if self.table4_editors else []

    def _among(self, chosen: list[str] | None) -> list[str]:
        """The config's tasks that are `chosen` (all for None), in the config's order."""
        return [t for t in self.tasks if chosen is None or t in chosen]

    def _data(self, task: str):
        """The task's typed `data` section (None without one)."""
        return getattr(self.settings.data, "if_" if task == "if" else task)

    # ---- paths -------------------------------------------------------------------------------------------
    def sft_model(self, task: str) -> str:
        return f"{self.results}/models/sft_{task}"

    def model_dir(self, task: str, method: str, seed: str) -> str:
        """The model a (method, seed) row is evaluated from; SFT is trained once per task."""
        return self.sft_model(task) if method == SFT else f"{self.results}/models/{task}/{method}/seed{seed}"

    def test_set(self, task: str, dataset: str) -> str:
        return f"{self.results}/data/{task}/test/{dataset}.jsonl"

    def pairs(self, task: str, file: str = "pairs.jsonl") -> str:
        return f"{self.results}/pairs/{task}/{file}"

    def bridged(self, task: str, variant: str, file: str = "pairs.jsonl") -> str:
        return f"{self.results}/bridged/{task}/{variant}/{file}"

    def generations(self, task: str, method: str, seed: str, dataset: str) -> str:
        return f"{self.results}/generations/{task}/{method}/seed{seed}/{dataset}.jsonl"

    def scores(self, task: str, method: str, seed: str, dataset: str, file: str = "scores.json") -> str:
        return f"{self.results}/scores/{task}/{method}/seed{seed}/{dataset}/{file}"

    def figure(self, name: str, ext: str = "png") -> str:
        return f"{self.results}/figures/{name}.{ext}"

    def editor_model_dir(self, model: str) -> str:
        """The folder of an extra editor model named "editor:<name>" (built by the editor_model rule)."""
        name = model.partition(":")[2]
        if name not in self.editor_models:
            raise ValueError(
                f"{model!r} names no entry of the config's editor_models {sorted(self.editor_models)}"
            )
        return f"{self.results}/models/editors/{name}"

    def data_input(self, task: str) -> str:
        """The folder a data rule reads (`data.<task>.source`, default the shipped subsets); a source inside the
        release folder is read from the folder itself, which the `release` rule makes."""
        data = self._data(task)
        source = (data.source if data else None) or f"{self.resources}/data/{task}"
        inside = os.path.normpath(source).startswith(self.release_dir + os.sep)
        return self.release_dir if inside or os.path.normpath(source) == self.release_dir else source

    def grading_release(self, task: str) -> list[str]:
        """The release folder as an input of a task's evaluate jobs when the task's data comes from it: the
        authors' grading code there grades the released rule ([] otherwise: the re-implementation does)."""
        return [self.release_dir] if self.data_input(task) == self.release_dir else []

    # ---- settings of a task's jobs -------------------------------------------------------------------------
    def task_settings(self, section: str, task: str) -> dict[str, Any]:
        """A config section with the task's overrides (`task_overrides.<task>.<section>`) on top, and the task's
        prompt format in the sections that render prompts when it is not the paper's (left out otherwise, so
        that existing outputs keep their parameters). `train.methods` shapes the DAG, not a job: it is left
        out, so that adding a method does not re-run the methods already trained."""
        overrides = (self.config.get("task_overrides") or {}).get(task, {}).get(section, {})
        merged = {**self.config[section], **overrides}
        fmt = (self.config.get("prompt_formats") or {}).get(task, "paper")
        if section in ("sft", "sample", "train", "eval") and fmt != "paper":
            merged["prompt_format"] = fmt
        return {k: v for k, v in merged.items() if not (section == "train" and k == "methods")}

    def bridge_settings(self, variant: str) -> dict[str, Any]:
        """The `bridge` section for the bridging of a variant: its strategy and its editor."""
        return {
            **self.config["bridge"],
            "strategy": split_variant(variant)[0],
            "editor": self.editor_config(variant),
        }

    def bridge_template(self, task: str, variant: str) -> str:
        """The prompt template of a variant's bridging (a rule input: rewording it re-runs the bridging)."""
        version = self.settings.bridge.template_version
        return template_path(split_variant(variant)[0], version, task)

    def editor_config(self, variant: str) -> dict[str, Any]:
        """The editor of a bridged-pairs variant (`strategy` or `strategy+name`), an extra model as its path."""
        name = split_variant(variant)[1]
        if name is None:
            return self.config["bridge"]["editor"]
        if name not in self.table4_editors:
            raise ValueError(
                f"editor {name!r} is not in the config's table4_editors {sorted(self.table4_editors)}"
            )
        editor = dict(self.table4_editors[name])
        if str(editor["model"]).startswith("editor:"):
            editor["model"] = self.editor_model_dir(editor["model"])
        return editor

    def editor_method(self, name: str) -> str:
        """Table 4's row of an editor: DPO-BMC on its pairs; plain DPO-BMC if it is the config's bridge.editor."""
        own = name in variant_editors(self.config)
        return format_method_name(BMC, self.strategy, name) if own else BMC

    # ---- runs ------------------------------------------------------------------------------------------------
    def task_methods(self, task: str) -> list[str]:
        """The methods trained for a task: `task_overrides.<task>.train.methods`, else `train.methods`."""
        overrides = (self.settings.task_overrides or {}).get(task)
        methods = overrides.train.methods if overrides and overrides.train else None
        return methods or self.settings.train.methods

    def eval_runs(self, task: str) -> list[tuple[str, str]]:
        """(method, seed) rows of a task's Table 1 (or 2): SFT once, each of the task's methods per seed."""
        return [(SFT, self.first_seed)] + [(m, s) for m in self.task_methods(task) for s in self.seeds]

    def table_methods(self, task: str) -> list[str]:
        """The DPO-BMC runs of Tables 3 and 4 on a task: each strategy's and each editor's, where they run."""
        table3 = [BMC, *self.table3_methods] if task in self.table3_tasks else []
        table4 = list(self.table4_methods.values()) if task in self.table4_tasks else []
        return list(dict.fromkeys([*table3, *table4]))

    def runs(self) -> list[tuple[str, str, str]]:
        """Every (task, method, seed) trained: each task's methods, and its runs of Tables 3 and 4."""
        return list(
            dict.fromkeys(
                (t, m, s)
                for t in self.tasks
                for m in [*self.task_methods(t), *self.table_methods(t)]
                for s in self.seeds
            )
        )

    def training_pairs(self, task: str, method: str) -> str:
        """Bridged pairs for methods on bridged data (of the method's variant), else the original pairs."""
        if METHODS[parse_method_name(method).base].data == "bridged":
            return self.bridged(task, self.pairs_variant(method))
        return self.pairs(task)

    def pairs_variant(self, method: str) -> str:
        return parse_method_name(method).variant(self.strategy)

    # ---- reference sums shared by seeds and methods (rule `reference_sums`, bmc.alignment.reference) -------
    def run_settings(self, task: str, method: str) -> dict[str, Any]:
        """A run's training settings: the task's `train` settings with the method's `method_params` on top."""
        return reference.job_settings_of(self.task_settings("train", task), method)

    def train_params(self, task: str, method: str) -> dict[str, Any]:
        """What a run's train job is given: the task's `train` settings, `method_params` holding this method's
        entry only (`method_entry`: its base method's with its own on top), so that adding or changing an
        unrelated method's settings leaves its job as it was."""
        settings = self.task_settings("train", task)
        own = method_entry(settings.pop("method_params", None), method)
        return settings | ({"method_params": {method: own}} if own else {})

    def reference_source(self, method: str) -> str:
        """The pairs a method's reference sums score: `original`, or the name of its bridged-pairs variant."""
        bridged = METHODS[parse_method_name(method).base].data == "bridged"
        return self.pairs_variant(method) if bridged else ORIGINAL

    def reference_weighting(self, task: str, method: str) -> str:
        """The name of a run's reference sums among those of its pairs: `plain` or `bmc` when they depend on
        the task's settings only, else that name followed by the method's (its method_params change them)."""
        settings = self.run_settings(task, method)
        kind = reference.weighting(method, settings)
        task_wide = {**self.task_settings("train", task), "bmc_weights": kind == "bmc"}
        same = reference.reference_settings(method, settings) == reference.reference_settings(
            method, task_wide
        )
        return kind if same else f"{kind}-{method}"

    def reference_sums(self, task: str, method: str) -> str | None:
        """The reference sums a run reads (None: it computes none before training: reference-free, TDPO, or
        `precompute_ref_logps` off)."""
        if not reference.uses_shared_sums(method, self.run_settings(task, method)):
            return None
        source, name = self.reference_source(method), self.reference_weighting(task, method)
        return f"{self.results}/reference/{task}/{source}/{name}.json"

    def reference_pairs(self, task: str, source: str) -> str:
        return self.pairs(task) if source == ORIGINAL else self.bridged(task, source)

    def reference_params(self, task: str, source: str, weighting: str) -> dict[str, Any]:
        """What the sums (source, weighting) depend on (`bmc.alignment.reference.reference_settings`), the same
        for every run that reads them; ValueError when no run reads them."""
        path = f"{self.results}/reference/{task}/{source}/{weighting}.json"
        for t, method, _ in self.runs():
            if t == task and self.reference_sums(task, method) == path:
                return reference.reference_settings(method, self.run_settings(task, method))
        raise ValueError(f"no run of task {task} reads {path}")

    def editor_models_needed(self, variant: str) -> list[str]:
        """The extra editor model a bridging reads (none for a hub model or an endpoint)."""
        model = str(self.editor_config(variant)["model"])
        return [model] if model.startswith(f"{self.results}/models/editors/") else []

    def judge_baseline(self, dataset: str) -> str | None:
        """The baseline's answers for a judged test set: None for `reference` (shipped with the test set), else
        the named method's answers (first seed)."""
        name = self.settings.judge.baselines.get(dataset, "reference")
        return None if name == "reference" else self.generations("if", name, self.first_seed, dataset)

    # ---- tables and the report ---------------------------------------------------------------------------
    def table_sets(self, task: str) -> list[str]:
        """The test sets of a task's column in Tables 3 and 5 (instruction following: AlpacaEval's LC)."""
        return self.datasets[task] if task in self.graded else ["alpaca_eval"]

    def task_scores(self, task: str) -> list[str]:
        """Tables 1, 2 and 5 of a task: every evaluated run on every test set."""
        return [self.scores(task, m, s, d) for m, s in self.eval_runs(task) for d in self.datasets[task]]

    def column_sets(self, tasks: list[str]) -> list[str]:
        """The test sets of Table 3's or 4's task columns."""
        return [d for t in tasks for d in self.table_sets(t)]

    def _bmc_scores(self, methods: list[str], tasks: list[str]) -> list[str]:
        sets = {t: self.table_sets(t) for t in tasks}
        return [self.scores(t, m, s, d) for t in tasks for m in methods for s in self.seeds for d in sets[t]]

    def table3_scores(self) -> list[str]:
        """DPO-BMC on the config's strategy and each DPO-BMC@<strategy>, for each of Table 3's tasks."""
        return self._bmc_scores([BMC, *self.table3_methods], self.table3_tasks)

    def table4_scores(self) -> list[str]:
        """DPO-BMC on each Table 4 editor's pairs, for each of Table 4's tasks."""
        return self._bmc_scores(sorted(set(self.table4_methods.values())), self.table4_tasks)

    def bridging_summary(self, task: str, method: str) -> str | None:
        """The bridging summary of the pairs a run trains on (its `status` counts say how many were edited);
        None for SFT and the methods on the original pairs."""
        if method == SFT or METHODS[parse_method_name(method).base].data != "bridged":
            return None
        return self.bridged(task, self.pairs_variant(method), "summary.json")

    def _bridging(self, runs) -> dict[str, str]:
        """Each (task, method) of `runs` trained on bridged pairs, as "<task>:<method>", -> its bridging summary."""
        return {f"{t}:{m}": path for t, m in runs if (path := self.bridging_summary(t, m))}

    def task_bridging(self, task: str) -> dict[str, str]:
        """Tables 1, 2 and 5 of a task: the bridging summary of each row trained on bridged pairs."""
        return self._bridging((task, m) for m, _ in self.eval_runs(task))

    def table3_bridging(self) -> dict[str, str]:
        """Table 3: the bridging summary of each strategy's DPO-BMC on each of its tasks."""
        return self._bridging((t, m) for t in self.table3_tasks for m in [BMC, *self.table3_methods])

    def table4_bridging(self) -> dict[str, str]:
        """Table 4: the bridging summary of each editor's DPO-BMC on each of its tasks."""
        return self._bridging((t, m) for t in self.table4_tasks for m in self.table4_methods.values())

    def table5_variants(self, task: str) -> list[str]:
        """Objectives trained both without and with BMC for a task (Table 5 rows), e.g. IPO and IPO-BMC."""
        methods = self.task_methods(task)
        return [m for m in methods if bmc_variant(m) in methods]

    def tables(self) -> list[str]:
        names = [f"table1_{t}" for t in self.graded]
        names += ["table2"] if "if" in self.tasks else []
        names += ["table3"] if self.table3_tasks else []
        names += ["table4"] if self.table4_tasks else []
        names += [f"table5_{t}" for t in self.tasks if self.table5_variants(t)]
        return [f"{self.results}/tables/{name}.{ext}" for name in names for ext in ("csv", "md")]

    def bridged_variants(self, task: str) -> list[str]:
        """Every bridged-pairs variant the tables train on for a task: the config's, and each Table 3 strategy's
        and each Table 4 editor's where those tables run on the task."""
        return list(dict.fromkeys(self.pairs_variant(m) for m in [BMC, *self.table_methods(task)]))

    def summaries(self) -> list[str]:
        """Stage summaries shown in the report, per task: data, pair building, each bridging."""
        return [
            path
            for t in self.tasks
            for path in (
                f"{self.results}/data/{t}/summary.json",
                self.pairs(t, "summary.json"),
                *(self.bridged(t, v, "summary.json") for v in self.bridged_variants(t)),
            )
        ]

    def generation_records(self) -> list[str]:
        """How every answer behind the tables and every sampled training answer was generated: the
        `.meta.json` records of the generate and sample_losing jobs the tables need, for the report."""
        runs = [(t, SFT, self.first_seed) for t in self.tasks] + self.runs()
        answers = sorted(
            {f"{self.generations(t, m, s, d)}.meta.json" for t, m, s in runs for d in self.datasets[t]}
        )
        return answers + [self.pairs(t, "samples.jsonl.meta.json") for t in self.sampled_pair_tasks]

    def analyses(self) -> list[str]:
        """The config's analyses (`analysis.names`) this run makes inputs for: those of QA and math (Figure 2,
        §3.1, the sweeps) have nothing to read in a run of instruction following alone (Table 2's Mistral
        block); the report lists them as not produced, with the reason."""
        from bmc.plan.analyses import analysis_inputs  # it reads the plan

        names = self.settings.analysis.names if self.settings.analysis else []
        return [name for name in names if analysis_inputs(self, name)]

    def figures(self) -> list[str]:
        """Every figure of the config's analyses (their .png; the rule writes .pdf, .csv and .json beside)."""
        return [self.figure(name) for name in self.analyses()]

    def final_outputs(self) -> list[str]:
        """The workflow's targets: the tables, the figures and the report."""
        return (
            self.tables()
            + self.figures()
            + [f"{self.results}/report/index.md", f"{self.results}/report/index.html"]
        )
