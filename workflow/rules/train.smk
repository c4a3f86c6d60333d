rule reference_sums:
    # the reference's sums of one pairs file under one weighting, read by every seed's run (and every method's
    # with the same weighting) instead of each computing them (bmc/alignment/reference.py)
    input:
        sft=SFT_MODEL,
        pairs=lambda wc: PLAN.reference_pairs(wc.task, wc.source),
    output:
        f"{R}/reference/{{task}}/{{source}}/{{weighting}}.json",
    log:
        f"{LOGS}/reference_sums/{{task}}/{{source}}/{{weighting}}.log",
    benchmark:
        f"{BENCH}/reference_sums/{{task}}/{{source}}/{{weighting}}.tsv"
    wildcard_constraints:
        source=rf"original|{VARIANT_PATTERN}",
        weighting=rf"(plain|bmc)(-{METHOD_PATTERN})?",
    conda:
        "../../envs/train.yaml"
    threads: job_threads("reference_sums")
    resources:
        **job_resources("reference_sums"),
    params:
        settings=lambda wc: as_json(
            PLAN.reference_params(wc.task, wc.source, wc.weighting)
        ),
        launcher=launcher(config, "train"),
    shell:
        "{params.launcher} -m bmc.cli reference_sums --model {input.sft} --pairs {input.pairs} --out {output}"
        " --params {params.settings} > {log} 2>&1"


rule train:
    input:
        sft=SFT_MODEL,
        pairs=training_pairs,
        # the reference's sums, where the run reads them (rule reference_sums)
        ref_sums=lambda wc: PLAN.reference_sums(wc.task, wc.method) or [],
    output:
        directory(f"{R}/models/{{task}}/{{method}}/seed{{seed}}"),
    log:
        f"{LOGS}/train/{{task}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/train/{{task}}/{{method}}/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        # the task's settings, and of `method_params` this method's own only (PLAN.train_params)
        train=lambda wc: as_json(PLAN.train_params(wc.task, wc.method)),
        # one process per GPU (config `gpus.train`) under `accelerate launch`; the job checks the count
        launcher=launcher(config, "train"),
        ref_sums=lambda wc, input: (
            f" --ref-sums {input.ref_sums}" if input.ref_sums else ""
        ),
    shell:
        "{params.launcher} -m bmc.cli train --method {wildcards.method} --seed {wildcards.seed} --model {input.sft}"
        " --pairs {input.pairs} --out {output} --params {params.train}{params.ref_sums} > {log} 2>&1"
