rule generate_qa:
    input:
        model=lambda wc: model_dir(wc.method, wc.seed),
        data=expand(f"{R}/data/qa/test/{{dataset}}.jsonl", dataset=QA_SETS),
    output:
        expand(
            f"{R}/generations/qa/{{{{method}}}}/seed{{{{seed}}}}/{{dataset}}.jsonl",
            dataset=QA_SETS,
        ),
    log:
        f"{LOGS}/generate_qa/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/generate_qa/{{method}}/seed{{seed}}.tsv"
    conda:
        "../../envs/generate.yaml"
    threads: workflow.cores
    resources:
        gpu=config.get("gpus", {}).get("generate", 0),
    params:
        eval=as_json(config["eval"]),
    shell:
        "python -m bmc.cli generate --model {input.model} --data {input.data} --out {output}"
        " --params {params.eval} > {log} 2>&1"
