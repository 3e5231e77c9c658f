localrules:
    download,


# Fetch a source's files (checksummed, resumable, mirrors in order; or placed by hand in results/downloads/<source>/)
# and extract them safely. A local rule: compute nodes often have no internet. Extra mirrors (tried first) come from
# the DDB_MIRRORS environment variable, not the config, so that switching mirrors reruns nothing.
rule download:
    output:
        extracted=directory("results/downloads/{source}/extracted"),
    log:
        "results/logs/download/{source}.log",
    benchmark:
        "results/benchmarks/download/{source}.tsv"
    params:
        downloads=lambda wildcards, output: Path(output.extracted).parent,
        code=code_version("download"),
    threads: 1
    conda:
        "../envs/ddb.yaml"
    message:
        "Fetching and extracting the files of {wildcards.source}"
    shell:
        "python -m ddb.download --source {wildcards.source} --downloads {params.downloads}"
        " --out {output.extracted} > {log} 2>&1"


# Materialise a dataset: images plus the normalised metadata table every later stage reads.
rule prepare_data:
    input:
        unpack(dataset_inputs),
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
        raw=lambda wildcards, input: f"--raw {input.raw}" if "raw" in input.keys() else "",
        code=code_version("prepare_data"),
    threads: 1
    resources:
        mem_mb=sized("prepare_data", "mem_mb", 4000),
        runtime=sized("prepare_data", "runtime", 60),
    conda:
        "../envs/ddb.yaml"
    message:
        "Preparing dataset {wildcards.dataset}"
    shell:
        "python -m ddb.prepare_data --source {params.source} {params.raw} --settings {params.settings:q}"
        " --images {output.images} --metadata {output.metadata} > {log} 2>&1"
