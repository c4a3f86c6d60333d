rule sft_qa:
    input:
        model=rules.base_model.output[0],
        data=rules.data_qa.output.sft,
    output:
        directory(f"{R}/models/sft_qa"),
    log:
        f"{LOGS}/sft_qa.log",
    benchmark:
        f"{BENCH}/sft_qa.tsv"
    conda:
        "../../envs/train.yaml"
    threads: workflow.cores
    resources:
        gpu=config.get("gpus", {}).get("sft", 0),
        mem_mb=32000,
    params:
        sft=as_json(config["sft"]),
        launcher=TRAIN_LAUNCHER,
    shell:
        "{params.launcher} -m bmc.cli sft --model {input.model} --data {input.data} --out {output}"
        " --params {params.sft} > {log} 2>&1"
