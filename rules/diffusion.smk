# DDB stage 1: class-conditional diffusion model on the (biased) training split.
rule train_diffusion:
    input:
        metadata=rules.prepare_data.output.metadata,
        store=diffusion_store,
    output:
        model=directory("results/{dataset}/diffusion/model"),
    log:
        "results/logs/train_diffusion/{dataset}.log",
    benchmark:
        "results/benchmarks/train_diffusion/{dataset}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=sized("train_diffusion", "mem_mb", 16000),
        runtime=sized("train_diffusion", "runtime", 1440),
    params:
        settings=section_params("diffusion"),
        code=PLAN.stage_code("train_diffusion"),
    message:
        "Training the class-conditional diffusion model of {wildcards.dataset}"
    shell:
        "python -m ddb.train_diffusion --metadata {input.metadata} --store {input.store} --out {output.model}"
        " --settings {params.settings:q} --threads {threads} > {log} 2>&1"


# DDB stage 2: synthetic images of one class with classifier-free guidance (one job per class and sampling variant).
rule sample_synthetic:
    input:
        model=rules.train_diffusion.output.model,
    output:
        images=directory("results/{dataset}/synthetic/{sampling}/class_{class_index}/images"),
        grid="results/{dataset}/synthetic/{sampling}/class_{class_index}/grid.png",
    log:
        "results/logs/sample_synthetic/{dataset}/{sampling}/class_{class_index}.log",
    benchmark:
        "results/benchmarks/sample_synthetic/{dataset}/{sampling}/class_{class_index}.tsv"
    conda:
        "../envs/ddb.yaml"
    threads: 4
    resources:
        gpu=1,
        mem_mb=sized("sample_synthetic", "mem_mb", 8000),
        runtime=sized("sample_synthetic", "runtime", 240),
    params:
        settings=sampling_params,
        code=PLAN.stage_code("sample_synthetic"),
    message:
        "Sampling synthetic class {wildcards.class_index} of {wildcards.dataset} ({wildcards.sampling})"
    shell:
        "python -m ddb.sample_synthetic --model {input.model} --class-index {wildcards.class_index}"
        " --out {output.images} --grid {output.grid} --settings {params.settings:q} --threads {threads}"
        " > {log} 2>&1"
