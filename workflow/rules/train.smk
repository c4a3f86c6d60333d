rule train:
    input:
        sft=SFT_MODEL,
        pairs=training_pairs,
    output:
        directory(f"{R}/models/{{task}}/{{method}}/seed{{seed}}"),
    log:
        f"{LOGS}/train/{{task}}/{{method}}/seed{{seed}}.log",
    benchmark:
        f"{BENCH}/train/{{task}}/{{method}}/seed{{seed}}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: JOB_THREADS
    resources:
        gpu=config.get("gpus", {}).get("train", 0),
        mem_mb=32000,
    params:
        train=task_json("train"),
        launcher=TRAIN_LAUNCHER,
    shell:
        "{params.launcher} -m bmc.cli train --method {wildcards.method} --seed {wildcards.seed} --model {input.sft}"
        " --pairs {input.pairs} --out {output} --params {params.train} > {log} 2>&1"
