rule sft:
    input:
        model=rules.base_model.output[0],
        data=f"{R}/data/{{task}}/sft.jsonl",
    output:
        directory(f"{R}/models/sft_{{task}}"),
    log:
        f"{LOGS}/sft/{{task}}.log",
    benchmark:
        f"{BENCH}/sft/{{task}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: JOB_THREADS
    resources:
        gpu=config.get("gpus", {}).get("sft", 0),
        mem_mb=32000,
    params:
        sft=task_json("sft"),
        launcher=TRAIN_LAUNCHER,
    shell:
        "{params.launcher} -m bmc.cli sft --model {input.model} --data {input.data} --out {output}"
        " --params {params.sft} > {log} 2>&1"
