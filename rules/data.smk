# Materialise a dataset: images plus the normalised metadata table every later stage reads.
rule prepare_data:
    output:
        images=directory("results/{dataset}/data/images"),
        metadata="results/{dataset}/data/metadata.parquet",
    log:
        "results/logs/prepare_data/{dataset}.log",
    benchmark:
        "results/benchmarks/prepare_data/{dataset}.tsv"
    params:
        source=lambda wc: config["datasets"][wc.dataset]["source"],
        settings=dataset_settings,
        code=code_version("prepare_data"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../envs/ddb.yaml"
    message:
        "Preparing dataset {wildcards.dataset}"
    shell:
        "python -m ddb.prepare_data --source {params.source} --settings {params.settings:q}"
        " --images {output.images} --metadata {output.metadata} > {log} 2>&1"
