rule evaluate_qa:
    input:
        f"{R}/generations/qa/{{method}}/seed{{seed}}/{{dataset}}.jsonl",
    output:
        scores=f"{R}/scores/qa/{{method}}/seed{{seed}}/{{dataset}}/scores.json",
        records=f"{R}/scores/qa/{{method}}/seed{{seed}}/{{dataset}}/records.jsonl",
    log:
        f"{LOGS}/evaluate_qa/{{method}}/seed{{seed}}/{{dataset}}.log",
    benchmark:
        f"{BENCH}/evaluate_qa/{{method}}/seed{{seed}}/{{dataset}}.tsv"
    conda:
        "../../envs/evaluate.yaml"
    shell:
        "python -m bmc.cli evaluate --generations {input} --out {output.scores} --model-name {wildcards.method}"
        " --method {wildcards.method} --seed {wildcards.seed} --task qa --dataset {wildcards.dataset}"
        " > {log} 2>&1"
