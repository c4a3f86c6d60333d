rule table1:
    input:
        scores=lambda wc: PLAN.task_scores(wc.task),
        bridging=lambda wc: list(PLAN.task_bridging(wc.task).values()),
        paper=f"{RESOURCES}/paper_values.yaml",
    output:
        csv=report(
            f"{R}/tables/table1_{{task}}.csv",
            category="Tables",
            caption="../report/table1.rst",
        ),
        md=f"{R}/tables/table1_{{task}}.md",
    log:
        f"{LOGS}/table1_{{task}}.log",
    conda:
        "../../envs/report.yaml"
    params:
        table="table1",
        label=shlex.quote(config["label"]),
        datasets=lambda wc: " ".join(DATASETS[wc.task]),
        bridging=lambda wc: as_json(PLAN.task_bridging(wc.task)),
    shell:
        "python -m bmc.cli table --table {params.table}_{wildcards.task} --scores {input.scores} --datasets {params.datasets}"
        " --bridging {params.bridging} --paper-values {input.paper} --label {params.label}"
        " --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


use rule table1 as table5 with:
    output:
        csv=report(
            f"{R}/tables/table5_{{task}}.csv",
            category="Tables",
            caption="../report/table5.rst",
        ),
        md=f"{R}/tables/table5_{{task}}.md",
    log:
        f"{LOGS}/table5_{{task}}.log",
    params:
        table="table5",
        label=shlex.quote(config["label"]),
        datasets=lambda wc: " ".join(PLAN.table_sets(wc.task)),
        bridging=lambda wc: as_json(PLAN.task_bridging(wc.task)),


rule table2:
    input:
        scores=PLAN.task_scores("if") if "if" in TASKS else [],
        bridging=list(PLAN.task_bridging("if").values()) if "if" in TASKS else [],
        paper=f"{RESOURCES}/paper_values.yaml",
    output:
        csv=report(
            f"{R}/tables/table2.csv", category="Tables", caption="../report/table2.rst"
        ),
        md=f"{R}/tables/table2.md",
    log:
        f"{LOGS}/table2.log",
    conda:
        "../../envs/report.yaml"
    params:
        label=shlex.quote(config["label"]),
        paper_key=config.get("table2_paper_values", "table2"),
        pairs_source=config["data"].get("if", {}).get("source", "sharegpt"),
        bridging=as_json(PLAN.task_bridging("if") if "if" in TASKS else {}),
    shell:
        "python -m bmc.cli table --table table2 --scores {input.scores} --paper-values {input.paper}"
        " --paper-key {params.paper_key} --pairs-source {params.pairs_source} --label {params.label}"
        " --bridging {params.bridging}"
        " --out-csv {output.csv} --out-md {output.md}"
        " > {log} 2>&1"


rule table3:
    input:
        scores=PLAN.table3_scores(),
        bridging=list(PLAN.table3_bridging().values()),
        paper=f"{RESOURCES}/paper_values.yaml",
    output:
        csv=report(
            f"{R}/tables/table3.csv", category="Tables", caption="../report/table3.rst"
        ),
        md=f"{R}/tables/table3.md",
    log:
        f"{LOGS}/table3.log",
    conda:
        "../../envs/report.yaml"
    params:
        label=shlex.quote(config["label"]),
        datasets=" ".join(PLAN.column_sets(PLAN.table3_tasks)),
        default=PLAN.strategy,
        bridging=as_json(PLAN.table3_bridging()),
    shell:
        "python -m bmc.cli table --table table3 --scores {input.scores} --datasets {params.datasets}"
        " --default-strategy {params.default} --bridging {params.bridging}"
        " --paper-values {input.paper} --label {params.label}"
        " --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule table4:
    input:
        scores=PLAN.table4_scores(),
        bridging=list(PLAN.table4_bridging().values()),
        paper=f"{RESOURCES}/paper_values.yaml",
    output:
        csv=report(
            f"{R}/tables/table4.csv", category="Tables", caption="../report/table4.rst"
        ),
        md=f"{R}/tables/table4.md",
    log:
        f"{LOGS}/table4.log",
    conda:
        "../../envs/report.yaml"
    params:
        label=shlex.quote(config["label"]),
        datasets=" ".join(PLAN.column_sets(PLAN.table4_tasks)),
        editors=" ".join(
            f"{name}={method}" for name, method in PLAN.table4_methods.items()
        ),
        bridging=as_json(PLAN.table4_bridging()),
    shell:
        "python -m bmc.cli table --table table4 --scores {input.scores} --datasets {params.datasets}"
        " --editors {params.editors} --bridging {params.bridging}"
        " --paper-values {input.paper} --label {params.label}"
        " --out-csv {output.csv} --out-md {output.md} > {log} 2>&1"


rule report:
    input:
        tables=[t for t in PLAN.tables() if t.endswith(".md")],
        summaries=PLAN.summaries(),
        figures=PLAN.figures(),
        generation=PLAN.generation_records(),
    output:
        md=f"{R}/report/index.md",
        html=report(f"{R}/report/index.html", category="Report"),
    log:
        f"{LOGS}/report.log",
    conda:
        "../../envs/report.yaml"
    params:
        label=shlex.quote(config["label"]),
        config=as_json(config),
        bench=BENCH,
    shell:
        "python -m bmc.cli report --tables {input.tables} --summaries {input.summaries} --figures {input.figures}"
        " --benchmarks-dir {params.bench} --config-json {params.config} --label {params.label}"
        " --generation {input.generation} --out-md {output.md} --out-html {output.html} > {log} 2>&1"
