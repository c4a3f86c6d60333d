rule evaluate:
    input:
        f"{R}/generations/{{task}}/{{method}}/seed{{seed}}/{{dataset}}.jsonl",
    output:
        scores=f"{R}/scores/{{task}}/{{method}}/seed{{seed}}/{{dataset}}/scores.json",
        records=f"{R}/scores/{{task}}/{{method}}/seed{{seed}}/{{dataset}}/records.jsonl",
    log:
        f"{LOGS}/evaluate/{{task}}/{{method}}/seed{{seed}}/{{dataset}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{task}}/{{method}}/seed{{seed}}/{{dataset}}.tsv"
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "python -m bmc.cli evaluate --generations {input} --out {output.scores} --model-name {wildcards.method}"
        " --method {wildcards.method} --seed {wildcards.seed} --task {wildcards.task} --dataset {wildcards.dataset}"
        " > {log} 2>&1"
