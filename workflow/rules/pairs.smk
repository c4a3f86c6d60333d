rule sample_losing_qa:
    input:
        model=rules.sft_qa.output[0],
        data=rules.data_qa.output.prefs,
    output:
        f"{R}/pairs/qa/samples.jsonl",
    log:
        f"{LOGS}/sample_losing_qa.log",
    benchmark:
        f"{BENCH}/sample_losing_qa.tsv"
    conda:
        "../../envs/generate.yaml"
    threads: workflow.cores
    resources:
        gpu=config.get("gpus", {}).get("generate", 0),
    params:
        sample=as_json(config["sample"]),
    shell:
        "python -m bmc.cli sample --model {input.model} --data {input.data} --out {output}"
        " --params {params.sample} > {log} 2>&1"


rule build_pairs_qa:
    input:
        rules.sample_losing_qa.output[0],
    output:
        pairs=f"{R}/pairs/qa/pairs.jsonl",
        summary=f"{R}/pairs/qa/summary.json",
    log:
        f"{LOGS}/build_pairs_qa.log",
    benchmark:
        f"{BENCH}/build_pairs_qa.tsv"
    conda:
        "../../envs/data.yaml"
    shell:
        "python -m bmc.cli pairs --samples {input} --out {output.pairs} --summary {output.summary} > {log} 2>&1"
