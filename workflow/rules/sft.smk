rule sft:
    input:
        model=rules.base_model.output[0],
        data=f"{R}/data/{{task}}/sft.jsonl",
    output:
        directory(SFT_MODEL),
    log:
        f"{LOGS}/sft/{{task}}.log",
    benchmark:
        f"{BENCH}/sft/{{task}}.tsv"
    wildcard_constraints:
        task=one_of(PLAN.trained_sft_tasks),
    conda:
        "../../envs/train.yaml"
    threads: job_threads("sft")
    resources:
        **job_resources("sft"),
    params:
        sft=task_json("sft"),
        # one process per GPU (config `gpus.sft`) under `accelerate launch`; the job checks the count
        launcher=launcher(config, "sft"),
    shell:
        "{params.launcher} -m bmc.cli sft --model {input.model} --data {input.data} --out {output}"
        " --params {params.sft} > {log} 2>&1"


# A task whose SFT model is given (config `sft_models`, e.g. the paper's released Llama-3-Base-8B-SFT for
# instruction following) takes it as is instead of training one.
rule sft_given:
    output:
        directory(SFT_MODEL),
    log:
        f"{LOGS}/sft_given/{{task}}.log",
    benchmark:
        f"{BENCH}/sft_given/{{task}}.tsv"
    wildcard_constraints:
        task=one_of(PLAN.given_sft_models),
    conda:
        "../../envs/train.yaml"
    resources:
        **job_resources("sft_given"),
    params:
        model=lambda wildcards: as_json(PLAN.given_sft_models[wildcards.task]),
        cache=config.get("download_cache", "resources/downloads"),
    shell:
        "python -m bmc.cli model --out {output} --params {params.model} --cache {params.cache} > {log} 2>&1"
