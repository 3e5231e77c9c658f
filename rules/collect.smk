localrules:
    collect,


# Every run's metrics into one table (CSV for machines, Markdown for people).
rule collect:
    input:
        metrics=all_metrics(),
        detection=all_detections(),
    output:
        csv="results/tables/summary.csv",
        markdown="results/tables/summary.md",
    log:
        "results/logs/collect/summary.log",
    benchmark:
        "results/benchmarks/collect/summary.tsv"
    params:
        code=code_version("collect"),
    threads: 1
    conda:
        "../envs/ddb.yaml"
    message:
        "Collecting result tables"
    shell:
        "python -m ddb.collect --metrics {input.metrics} --detection {input.detection}"
        " --csv {output.csv} --markdown {output.markdown} > {log} 2>&1"
