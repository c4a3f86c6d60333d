"""The plan of the paper's quantitative analyses (bmc/analysis/): each analysis' inputs and settings, and the
sweeps some of them train beside the main runs (Figure 3's bridged proportion, δ, Figure 5's edit distance,
the diff algorithm). A sweep point that equals a main run reuses that run instead of training it again.

An input is a (key, path) pair; the keys are those each analysis module's `analyse` reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bmc.alignment.methods import BMC, RELEASED, SFT
from bmc.config import AnalysisTask

if TYPE_CHECKING:  # Plan.analyses() reads this module
    from bmc.plan.runs import Plan

# the method each sweep trains
SWEEP_METHOD = {"proportion": BMC, "delta": BMC, "diff": BMC}
SWEEP_METHOD |= {"edit_distance_DPO": "DPO", "edit_distance_DPO-BMC": BMC}
SWEEP_OF = {  # analysis -> its sweeps
    "fig3_bridged_proportion": ["proportion"],
    "delta_sensitivity": ["delta"],
    "fig5_edit_distance": ["edit_distance_DPO", "edit_distance_DPO-BMC"],
    "diff_algorithm": ["diff"],
}
# analyses that read each graded task's SFT model and the config's bridged pairs
ON_BRIDGED_PAIRS = ("fig2_span_surprise", "diff_algorithm", "sec31_similarity")
COMPARED = ("DPO", BMC)  # the pair of methods most analyses compare
# analysis -> the `analysis` settings it reads (`tasks`: each task's training settings); a job gets only these,
# so that a setting of one analysis (or of the sweeps) does not re-run the others
SETTINGS_OF = {
    "fig2_span_surprise": ("max_pairs", "tasks"),
    "sec53_reward": ("max_pairs", "tasks"),
    "sec31_similarity": ("max_pairs", "similarity_model"),
    "diff_algorithm": ("tasks",),
    "bridging_cost": ("prices", "currency"),
}


def section(plan: Plan) -> dict[str, Any]:
    """The config's `analysis` section as given (its settings are handed to the jobs)."""
    return plan.config.get("analysis") or {}


def trained_both(plan: Plan, task: str) -> bool:
    """Whether DPO and DPO-BMC are both trained for a task."""
    return set(COMPARED) <= set(plan.task_methods(task))


def analysis_inputs(plan: Plan, name: str) -> list[tuple[str, str]]:
    """(key, path) inputs of an analysis."""
    first = plan.first_seed
    if name in ON_BRIDGED_PAIRS:
        if not plan.graded:
            return []
        items = sweep_inputs(plan, name) if name == "diff_algorithm" else []
        items += [("embedder", similarity_model_dir(plan))] if name == "sec31_similarity" else []
        for t in plan.graded:
            items += [(f"model:{t}", plan.sft_model(t)), (f"pairs:{t}", plan.bridged(t, plan.strategy))]
        return items
    if name == "token_dynamics":
        return [
            (f"{m}:{t}", plan.model_dir(t, m, first))
            for t in plan.tasks
            if trained_both(plan, t)
            for m in COMPARED
        ]
    if name == "sec53_reward":
        items = []
        for t in (t for t in plan.graded if trained_both(plan, t)):
            items += [(f"ref:{t}", plan.sft_model(t))]
            items += [(f"{m}:{t}", plan.model_dir(t, m, first)) for m in COMPARED]
            for d in plan.datasets[t]:
                items += [
                    (f"test:{t}", plan.test_set(t, d)),
                    (f"generations:{t}", plan.generations(t, SFT, first, d)),
                    (f"records:{t}", plan.scores(t, SFT, first, d, "records.jsonl")),
                ]
        return items
    if name == "bridging_cost":  # the bridgings this suite ran: the authors' released pairs cost it no call
        return [("summary", s) for s in plan.summaries() if "/bridged/" in s and f"/{RELEASED}/" not in s]
    if name in SWEEP_OF:
        return sweep_inputs(plan, name)
    raise ValueError(f"unknown analysis {name!r}")


def analysis_settings(plan: Plan, name: str) -> dict[str, Any]:
    """The settings an analysis reads (`SETTINGS_OF`): its `analysis` keys and, if it reads them, per task the
    training settings of `AnalysisTask`."""
    wanted = SETTINGS_OF.get(name, ())
    settings = {k: v for k, v in section(plan).items() if k in wanted}
    if "tasks" in wanted:
        keys = AnalysisTask.model_fields
        settings["tasks"] = {
            t: {k: v for k, v in plan.task_settings("train", t).items() if k in keys} for t in plan.tasks
        }
    return settings


def similarity_model_dir(plan: Plan) -> str:
    """The sentence-transformers folder of §3.1's embedder (`analysis.similarity_model`), made by the rule
    `similarity_model`."""
    return f"{plan.results}/models/similarity_model"


# ---- sweeps -----------------------------------------------------------------------------------------------
def sweep_tasks(plan: Plan) -> list[str]:
    """The graded tasks the sweeps run on (`analysis.sweep_tasks`, default the first graded task)."""
    chosen = plan.settings.analysis.sweep_tasks if plan.settings.analysis else None
    return [t for t in (plan.graded[:1] if chosen is None else chosen) if t in plan.graded]


def _num(x) -> str:
    return f"{float(x):g}"


def sweep_points(plan: Plan, sweep: str, task: str) -> dict[str, str | None]:
    """{point: the main run it equals (a method), or None when the sweep trains it}."""
    analysis = plan.settings.analysis
    train = plan.task_settings("train", task)
    trained = set(plan.task_methods(task))

    def reuse(method: str | None, same: bool) -> str | None:
        return method if same and method in trained else None

    if analysis is None:
        return {}
    if sweep == "proportion":
        return {_num(p): reuse({0.0: "DPO-MC", 1.0: BMC}.get(float(p)), True) for p in analysis.proportions}
    if sweep == "delta":
        return {_num(d): reuse(BMC, float(d) == float(train["delta"])) for d in analysis.deltas}
    if sweep == "diff":  # DPO-BMC trained on the other algorithm's masks only when asked (`diff_training`)
        if not analysis.diff_training:
            return {}
        algorithm = train.get("diff_algorithm") or AnalysisTask.model_fields["diff_algorithm"].default
        return {a: reuse(BMC, a == algorithm) for a in ("difflib", "levenshtein")}
    return {str(k): None for k in range(analysis.edit_distance_bins)}


def sweep_runs(plan: Plan) -> list[tuple[str, str, str]]:
    """Every (task, sweep, point) the config's analyses train (the points that equal no main run)."""
    sweeps = [sweep for name in plan.analyses() for sweep in SWEEP_OF.get(name, [])]
    return [
        (t, sweep, point)
        for t in sweep_tasks(plan)
        for sweep in sweeps
        for point, reused in sweep_points(plan, sweep, t).items()
        if reused is None
    ]


def sweep_dir(plan: Plan, task: str, sweep: str, point: str) -> str:
    return f"{plan.results}/sweeps/{task}/{sweep}/{point}"


def sweep_scores(plan: Plan, task: str, sweep: str, point: str) -> list[str]:
    """The scores of a sweep point: the main run's scores.json files, or the sweep's scores folder."""
    reused = sweep_points(plan, sweep, task)[point]
    if reused:
        return [plan.scores(task, reused, plan.first_seed, d) for d in plan.datasets[task]]
    return [f"{sweep_dir(plan, task, sweep, point)}/seed{plan.first_seed}/scores"]


def sweep_model(plan: Plan, task: str, sweep: str, point: str) -> str:
    reused = sweep_points(plan, sweep, task)[point]
    if reused:
        return plan.model_dir(task, reused, plan.first_seed)
    return f"{sweep_dir(plan, task, sweep, point)}/seed{plan.first_seed}/model"


def sweep_inputs(plan: Plan, name: str) -> list[tuple[str, str]]:
    """(key, path) inputs of a sweep analysis: each point's scores (and Figure 5's models)."""
    items = []
    for t in sweep_tasks(plan):
        for sweep in SWEEP_OF[name]:
            for point in sweep_points(plan, sweep, t):
                if not sweep.startswith("edit_distance_"):
                    items += [(f"score:{t}:{sweep}:{point}", p) for p in sweep_scores(plan, t, sweep, point)]
                    continue
                method = SWEEP_METHOD[sweep]
                items.append((f"model:{t}:{method}:{point}", sweep_model(plan, t, sweep, point)))
                if method == "DPO":
                    items += [(f"score:{t}:DPO:{point}", p) for p in sweep_scores(plan, t, sweep, point)]
    return items


def sweep_pairs_inputs(plan: Plan, task: str, sweep: str, point: str) -> dict[str, str]:
    """What a sweep's pairs are drawn from: Figure 3 mixes the original and the bridged pairs; Figure 5 bins
    a method's pairs by edit distance, with the SFT model."""
    if sweep == "proportion":
        return {"pairs": plan.pairs(task), "bridged": plan.bridged(task, plan.strategy)}
    source = plan.bridged(task, plan.strategy) if SWEEP_METHOD[sweep] == BMC else plan.pairs(task)
    return {"pairs": source, "model": plan.sft_model(task)}


def sweep_pairs_settings(plan: Plan) -> dict[str, Any]:
    """The settings of the sweep_pairs jobs: Figure 5's number of edit-distance bins."""
    bins = plan.settings.analysis.edit_distance_bins if plan.settings.analysis else 0
    return {"seed": 0, "bins": bins or 1}


def sweep_train_pairs(plan: Plan, task: str, sweep: str, point: str) -> str:
    """The pairs a sweep model trains on: the config's bridged pairs for δ and the diff algorithm, else the
    sweep's own."""
    if sweep in ("delta", "diff"):
        return plan.bridged(task, plan.strategy)
    return f"{sweep_dir(plan, task, sweep, point)}/pairs.jsonl"


def sweep_train_settings(plan: Plan, task: str, sweep: str, point: str) -> dict[str, Any]:
    """The task's training settings as its method's train job gets them (`Plan.train_params`: of `method_params`
    its own only) with the sweep point's change (δ, diff algorithm; one step for Figure 5's DPO-BMC gradient
    norm)."""
    train = plan.train_params(task, SWEEP_METHOD[sweep])
    if sweep == "delta":
        train["delta"] = float(point)
    if sweep == "diff":
        train["diff_algorithm"] = point
    if sweep == "edit_distance_DPO-BMC":
        train["max_steps"] = 1
    return train
