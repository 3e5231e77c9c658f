localrules:
    check_results,
    collect,


# Every result file the tables read is checked first: Snakemake deletes collect's outputs before it runs, so a
# damaged file stops this job instead and the previous tables stay.
rule check_results:
    input:
        metrics=all_metrics(),
        detection=all_detections(),
        bias_share=all_bias_shares(),
    output:
        "results/tables/checked_results.tsv",
    log:
        "results/logs/collect/check_results.log",
    benchmark:
        "results/benchmarks/collect/check_results.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 1
    params:
        code=PLAN.stage_code("check_results"),
    message:
        "Checking the result files before the tables are rebuilt"
    shell:
        "python -m ddb.check_results --metrics {input.metrics} --detection {input.detection}"
        " --bias-share {input.bias_share} --out {output} > {log} 2>&1"


# Every run's metrics into one table (CSV for machines, Markdown and HTML for people).
rule collect:
    input:
        checked=rules.check_results.output[0],
        metrics=all_metrics(),
        detection=all_detections(),
        bias_share=all_bias_shares(),
    output:
        csv="results/tables/summary.csv",
        markdown="results/tables/summary.md",
        mean_csv="results/tables/summary_mean.csv",
        mean_markdown="results/tables/summary_mean.md",
        amplifiers_csv="results/tables/amplifiers.csv",
        amplifiers_markdown="results/tables/amplifiers.md",
        html=report(
            "results/tables/summary.html",
            caption="../report/results_table.rst",
            category="1. Results",
            labels={"dataset": "all", "figure": "result tables"},
        ),
    log:
        "results/logs/collect/summary.log",
    benchmark:
        "results/benchmarks/collect/summary.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 1
    params:
        out_dir=lambda wildcards, output: Path(output.csv).parent,
        # every other finished run below results/ is kept in the tables (ddb/collect.py)
        results_root=lambda wildcards, output: Path(output.csv).parents[1],
        code=PLAN.stage_code("collect"),
    message:
        "Collecting result tables"
    shell:
        "python -m ddb.collect --metrics {input.metrics} --detection {input.detection} --bias-share {input.bias_share}"
        " --results-root {params.results_root} --out-dir {params.out_dir} > {log} 2>&1"
