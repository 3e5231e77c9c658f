localrules:
    download,


# Fetch a source's files (checksummed, resumable, mirrors in order; or placed by hand in results/downloads/<source>/)
# and extract them safely. A local rule: compute nodes often have no internet. Extra mirrors (tried first) come from
# the DDB_MIRRORS environment variable, not the config, so that switching mirrors reruns nothing.
rule download:
    output:
        extracted=directory("results/downloads/{download}/extracted"),
    log:
        "results/logs/download/{download}.log",
    benchmark:
        "results/benchmarks/download/{download}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 1
    params:
        downloads=lambda wildcards, output: Path(output.extracted).parent,
        files=lambda wildcards: PLAN.download_flags(wildcards.download),
        code=lambda wildcards: PLAN.download_code(wildcards.download),
    message:
        "Fetching and extracting the files of {wildcards.download}"
    shell:
        "python -m ddb.download {params.files} --downloads {params.downloads}" " --out {output.extracted} > {log} 2>&1"


# UrbanCars as its authors make it: Stanford Cars cars over Places365 scenes with LVIS/COCO objects, in the group
# sizes of the published bias ratios (ddb/datasets/urbancars_generation.py). Mask R-CNN cuts the cars out, on a GPU if present.
rule generate_urbancars:
    input:
        unpack(lambda wildcards: PLAN.mask_weights(wildcards.dataset)),
        cars="results/downloads/stanford_cars/extracted",
        places="results/downloads/places365/extracted",
        lvis="results/downloads/lvis_coco/extracted",
    output:
        generated=directory("results/{dataset}/data/urbancars"),
    log:
        "results/logs/generate_urbancars/{dataset}.log",
    benchmark:
        "results/benchmarks/generate_urbancars/{dataset}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 4
    resources:
        gpu=lambda wildcards: 1 if PLAN.mask_weights(wildcards.dataset) else 0,  # Mask R-CNN only with car_mask: maskrcnn
        mem_mb=sized("generate_urbancars", "mem_mb", 32000),
        runtime=sized("generate_urbancars", "runtime", 720),
    params:
        # image_size is prepare_data's: changing it does not composite the images again
        settings=lambda wc: canonical_json(
            {k: v for k, v in PLAN.source_settings(wc.dataset).items() if k != "image_size"}
        ),
        weights=lambda wildcards, input: cli_flags(input, ("mask_weights",)),
        code=PLAN.stage_code("generate_urbancars"),
    message:
        "Generating UrbanCars for {wildcards.dataset} from Stanford Cars, Places365 and LVIS/COCO"
    shell:
        "python -m ddb.generate_urbancars --cars {input.cars} --places {input.places} --lvis {input.lvis}"
        " {params.weights} --settings {params.settings:q} --out {output.generated} > {log} 2>&1"


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
    conda:
        "../envs/ddb.yaml"
    threads: 1
    resources:
        mem_mb=sized("prepare_data", "mem_mb", 4000),
        runtime=sized("prepare_data", "runtime", 60),
    params:
        source=lambda wildcards: PLAN.source(wildcards.dataset),
        settings=source_params,
        raw=lambda wildcards, input: f"--raw {input.raw}" if "raw" in input.keys() else "",
        code=lambda wildcards: PLAN.dataset_code("prepare_data", wildcards.dataset),
    message:
        "Preparing dataset {wildcards.dataset}"
    shell:
        "python -m ddb.prepare_data --source {params.source} {params.raw} --settings {params.settings:q}"
        " --images {output.images} --metadata {output.metadata} > {log} 2>&1"


# Decode every split once, at one resolution (native = as prepared; <n>px = the diffusion model's), into the image
# store the stages read batch by batch: no stage holds a split in memory or decodes an image again.
rule build_image_store:
    input:
        images=rules.prepare_data.output.images,
        metadata=rules.prepare_data.output.metadata,
    output:
        store=directory("results/{dataset}/data/store/{resolution}"),
    log:
        "results/logs/build_image_store/{dataset}/{resolution}.log",
    benchmark:
        "results/benchmarks/build_image_store/{dataset}/{resolution}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 1
    resources:
        mem_mb=sized("build_image_store", "mem_mb", 2000),
        runtime=sized("build_image_store", "runtime", 240),
    params:
        code=PLAN.stage_code("build_image_store"),
    message:
        "Building the {wildcards.resolution} image store of {wildcards.dataset}"
    shell:
        "python -m ddb.build_image_store --metadata {input.metadata} --resolution {wildcards.resolution}"
        " --out {output.store} > {log} 2>&1"
