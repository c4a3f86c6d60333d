rule base_model:
    output:
        directory(f"{R}/models/base"),
    log:
        f"{LOGS}/base_model.log",
    benchmark:
        f"{BENCH}/base_model.tsv"
    conda:
        "../../envs/train.yaml"
    resources:
        **job_resources("base_model"),
    params:
        model=as_json(config["model"]),
        cache=config.get("download_cache", "resources/downloads"),
    shell:
        "python -m bmc.cli model --out {output} --params {params.model} --cache {params.cache} > {log} 2>&1"


rule editor_model:
    output:
        directory(f"{R}/models/editors/{{name}}"),
    log:
        f"{LOGS}/editor_model/{{name}}.log",
    benchmark:
        f"{BENCH}/editor_model/{{name}}.tsv"
    conda:
        "../../envs/train.yaml"
    resources:
        **job_resources("editor_model"),
    params:
        model=lambda wc: as_json(PLAN.editor_models[wc.name]),
        cache=config.get("download_cache", "resources/downloads"),
    shell:
        "python -m bmc.cli model --out {output} --params {params.model} --cache {params.cache} > {log} 2>&1"
