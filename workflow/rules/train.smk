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
    threads: job_threads("train")
    resources:
        **job_resources("train"),
    params:
        train=task_json("train"),
        # one process per GPU (config `gpus.train`) under `accelerate launch`; the job checks the count
        launcher=launcher(config, "train"),
    shell:
        "{params.launcher} -m bmc.cli train --method {wildcards.method} --seed {wildcards.seed} --model {input.sft}"
        " --pairs {input.pairs} --out {output} --params {params.train} > {log} 2>&1"
