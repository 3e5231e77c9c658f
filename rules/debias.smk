# DDB stage 5: the debiased model; the {method} wildcard picks ERM, Recipe I or Recipe II (ddb/methods.py).
rule train_debiased:
    input:
        unpack(method_inputs),
        metadata=rules.prepare_data.output.metadata,
    output:
        model=directory("results/{dataset}/debias/{method}/seed{seed}/model"),
    log:
        "results/logs/train_debiased/{dataset}/{method}/seed{seed}.log",
    benchmark:
        "results/benchmarks/train_debiased/{dataset}/{method}/seed{seed}.tsv"
    params:
        method_inputs=method_flags,
        settings=settings_json(config["classifier"]),
        recipe=recipe_settings,
        code=code_version("train_debiased"),
    threads: 4
    resources:
        gpu=1,
        mem_mb=8000,
        runtime=720,
    conda:
        "../envs/ddb.yaml"
    message:
        "Training {wildcards.method} (seed {wildcards.seed}) on {wildcards.dataset}"
    shell:
        "python -m ddb.train_debiased --method {wildcards.method} --metadata {input.metadata}"
        " {params.method_inputs} --seed {wildcards.seed} --out {output.model}"
        " --settings {params.settings:q} --recipe-settings {params.recipe:q} --threads {threads} > {log} 2>&1"
