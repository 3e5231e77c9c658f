"""Workflow planning without Snakemake running: datasets and sweeps, stage sections, runs and amplifiers, the
registries against the schema, and which modules each job's code identity covers."""

import copy
import re

import pytest
import yaml
from snakemake.utils import validate

from ddb import datasets, methods
from ddb.workflow.code_identity import parse_identity
from ddb.workflow.planning import REPO, SCHEMA, Plan, coerce_to_schema


def plan(**changes) -> Plan:
    config = yaml.safe_load((REPO / "tests" / "tiny_config.yaml").read_text())
    config.update(copy.deepcopy(changes))
    validate(config, str(SCHEMA))  # fills the defaults, as rules/common.smk does
    return Plan(config)


def modules(identity: str) -> set[str]:
    return set(parse_identity(identity))


def test_runs_pair_synthetic_amplifier_methods_with_every_sampling_variant():
    p = plan(methods=["erm", "ddb_i", "ddb_ii_real_amplifier"],
             sweeps={"sampling": [{"guidance_w": 3.0}, {"scheduler": "ddpm", "num_inference_steps": 4},
                                  {"guidance_w": 1.0}]})
    assert list(p.sampling_variants) == ["base", "guidance_w=3.0", "num_inference_steps=4,scheduler=ddpm"]
    assert p.runs() == ["erm", "ddb_i/base", "ddb_i/guidance_w=3.0", "ddb_i/num_inference_steps=4,scheduler=ddpm",
                        "ddb_ii_real_amplifier"]
    assert [p.amplifier_of(run) for run in ("erm", "ddb_i/guidance_w=3.0", "ddb_ii_real_amplifier")] == [
        None, "synthetic/guidance_w=3.0", "real"]
    assert p.used_amplifiers() == ["real", "synthetic/base", "synthetic/guidance_w=3.0",
                                   "synthetic/num_inference_steps=4,scheduler=ddpm"]
    assert p.sampling_section("shapes", "guidance_w=3.0")["guidance_w"] == 3.0


def test_method_inputs_follow_the_method_and_the_selection_rule():
    p = plan()
    assert p.method_inputs("shapes", "ddb_i/base", 0) == {"scores": "results/shapes/amplifier/synthetic/base/scores.parquet"}
    assert p.method_inputs("shapes", "ddb_ii_real_amplifier", 0) == {"amplifier": "results/shapes/amplifier/real/model"}
    assert p.method_inputs("shapes", "erm", 0) == {}
    pseudo = plan(classifier={"steps": 6, "selection": "label_free_pseudo_group"})
    assert pseudo.method_inputs("shapes", "erm", 0) == {  # no amplifier of its own: the synthetic one
        "selection_scores": "results/shapes/amplifier/synthetic/base/scores.parquet"}
    assert pseudo.method_inputs("shapes", "ddb_i_real_amplifier", 0)["selection_scores"].endswith("real/scores.parquet")


def test_a_run_built_on_another_run_reads_its_model_of_the_same_seed_and_is_keyed_on_its_code():
    p = plan(sweeps={"sampling": [{"guidance_w": 3.0}]})
    assert p.method_inputs("shapes", "ddb_llr/guidance_w=3.0", 2) == {
        "scores": "results/shapes/amplifier/synthetic/guidance_w=3.0/scores.parquet",
        "base_model": "results/shapes/debias/erm/seed2/model"}
    assert p.method_inputs("shapes", "dfr_oracle", 1) == {"base_model": "results/shapes/debias/erm/seed1/model"}
    assert methods.methods_built_on("ddb_llr") == ["ddb_llr", "erm"]
    assert "ddb.methods.erm" in modules(p.method_code("ddb_llr"))  # an edit of ERM reruns what was built on it
    assert "ddb.methods.erm" not in modules(p.method_code("ddb_i"))


def test_the_method_contract_refuses_what_the_planning_could_not_wire():
    with pytest.raises(ValueError, match="unknown input kinds \\['val'\\]"):
        methods.Method(needs=("val",))
    with pytest.raises(ValueError, match="builds_on"):
        methods.Method(needs=("base_model",))
    with pytest.raises(ValueError, match="trained_on"):
        methods.Method(needs=("scores",))
    # every input kind has a flag of the stage's command line and a path the workflow can fill
    from ddb.train_debiased import parse_args

    args = parse_args(["--method", "erm", "--metadata", "m", "--store", "s", "--out", "o",
                       *(arg for kind in methods.INPUT_KINDS for arg in (methods.input_flag(kind), kind))])
    assert all(str(getattr(args, kind)) == kind for kind in methods.INPUT_KINDS)
    fields = {"dataset": "d", "amplifier": "a", "base_run": "erm", "seed": 0}
    assert all(spec.path.format(**fields).startswith("results/d/") for spec in methods.INPUT_KINDS.values())


def test_ratio_sweep_adds_a_dataset_per_value_and_presets_override_sections():
    p = plan(sweeps={"conflicting_ratio": [0.2, 0.05]},
             datasets={"shapes": {"source": "builtin_shapes", "builtin_shapes": {"num_classes": 3},
                                  "overrides": {"classifier": {"lr": 0.01}, "baselines": {"jtt": {"upweight": 5}}},
                                  "resources": {"train_debiased": {"mem_mb": 123}}}})
    assert p.datasets == ["shapes", "shapes_ratio0.2", "shapes_ratio0.05"]
    assert p.source_settings("shapes_ratio0.05")["conflicting_ratio"] == 0.05
    assert p.class_indices("shapes_ratio0.2") == [0, 1, 2]
    assert p.section("shapes", "classifier")["lr"] == 0.01 and p.section("shapes", "classifier")["steps"] == 6
    assert p.method_settings("shapes", "jtt") == {"identification_epochs": 1, "upweight": 5}
    assert p.method_settings("shapes", "erm") == {}
    assert p.resource("shapes", "train_debiased", "mem_mb", 8000) == 123
    assert p.resource("shapes", "train_diffusion", "mem_mb", 16000) == 16000


def test_bad_preset_and_unknown_dataset_are_named():
    with pytest.raises(ValueError, match="datasets.shapes.overrides.classifier"):
        plan(datasets={"shapes": {"source": "builtin_shapes", "overrides": {"classifier": {"lr": "fast"}}}})
    with pytest.raises(ValueError, match="run_datasets names \\['nope'\\]"):
        plan(run_datasets=["nope"])


def test_registries_match_the_schema_enums():
    schema = yaml.safe_load(SCHEMA.read_text())
    assert sorted(schema["properties"]["methods"]["items"]["enum"]) == methods.method_names()
    assert sorted(schema["$defs"]["source_name"]["enum"]) == datasets.source_names()
    described = schema["$defs"]["dataset"]["properties"]["source"]["description"]
    assert [name for name in datasets.source_names() if name not in described] == []  # the description names each
    # every source has its own settings section in the schema
    assert set(datasets.source_names()) <= set(schema["$defs"]["dataset"]["properties"])


def test_planning_imports_only_the_configured_datasets_sources():
    # a broken or heavy source costs the others nothing: planning a built-in benchmark never imports another source
    import subprocess
    import sys

    code = ("import sys, yaml; from snakemake.utils import validate; from ddb.workflow.planning import Plan; "
            "config = yaml.safe_load(open('tests/tiny_config.yaml')); "
            "validate(config, 'ddb/config.schema.yaml'); p = Plan(config); p.downloads(); p.dataset_inputs('shapes'); "
            "[p.class_indices(d) for d in p.datasets]; p.wildcard_patterns(); "
            "print(sorted(m for m in sys.modules if m.startswith('ddb.datasets.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True).stdout
    assert eval(loaded) == ["ddb.datasets.builtin_shapes", "ddb.datasets.common", "ddb.datasets.fetch"]


def test_sources_declare_what_their_preparation_reads_and_which_weights_their_generation_needs(tmp_path):
    cars = plan(datasets={"cars": {"source": "urbancars"}, "dropped": {"source": "urbancars",
                                                                       "urbancars": {"origin": "drop_in"}},
                          "shapes": {"source": "builtin_shapes"}})
    assert cars.dataset_inputs("cars") == {"raw": "results/cars/data/urbancars"}  # generated by a rule
    assert cars.dataset_inputs("dropped") == {"raw": "results/downloads/urbancars/extracted"}  # its own archive
    assert cars.dataset_inputs("shapes") == {}
    assert cars.mask_weights("cars") == {"mask_weights": "results/weights/maskrcnn_resnet50_fpn_v2"}
    assert cars.mask_weights("dropped") == {}
    assert cars.downloads() == ["lvis_coco", "places365", "stanford_cars", "urbancars"]


def test_methods_and_dataset_sources_declare_themselves_without_loading_torch():
    # snakemake plans the workflow at every start, twice in every SLURM job: importing torch costs seconds each time
    import subprocess
    import sys

    code = ("import sys; from ddb import datasets, methods; [methods.method(n) for n in methods.method_names()]; "
            "[datasets.source(n) for n in datasets.source_names()]; "
            "print('torch' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO).stdout.strip() == "False"


# ---- code identities: which modules a job's key covers ----
def test_diffusion_and_sampling_do_not_depend_on_classifiers_methods_metrics_or_figures():
    p = plan()
    for stage in ("train_diffusion", "sample_synthetic"):
        covered = modules(p.stage_code(stage))
        assert not {m for m in covered if m.startswith(("ddb.models.classifiers", "ddb.methods", "ddb.algorithms.metrics",
                                                        "ddb.figures", "ddb.training.loop", "ddb.workflow"))}, stage
    assert "ddb.models.unet" in modules(p.stage_code("train_diffusion"))
    assert "ddb.algorithms.sampling" in modules(p.stage_code("sample_synthetic"))
    assert "ddb.algorithms.sampling" not in modules(p.stage_code("train_diffusion"))  # a sampler fix keeps the model


def test_classifier_stages_do_not_depend_on_the_unet_samplers_or_robust_training():
    p = plan()
    for stage in ("train_amplifier", "score_real", "evaluate"):
        covered = modules(p.stage_code(stage))
        assert "ddb.models.classifiers" in covered
        assert not covered & {"ddb.models.unet", "ddb.algorithms.sampling", "ddb.algorithms.diffusion",
                              "ddb.algorithms.groupdro", "ddb.algorithms.reweighting", "ddb.methods"}, stage


def test_each_dataset_and_each_method_is_keyed_on_its_own_module():
    p = plan(datasets={"shapes": {"source": "builtin_shapes"}, "wb": {"source": "waterbirds"}})
    shapes, waterbirds = modules(p.dataset_code("prepare_data", "shapes")), modules(p.dataset_code("prepare_data", "wb"))
    assert "ddb.datasets.builtin_shapes" in shapes and "ddb.datasets.waterbirds" not in shapes
    assert "ddb.datasets.waterbirds" in waterbirds and "ddb.datasets.builtin_shapes" not in waterbirds
    assert {"ddb.datasets.common", "ddb.datasets.fetch"} <= shapes  # the shared image and download helpers
    urbancars = plan(datasets={"cars": {"source": "urbancars"}})
    assert "ddb.datasets.urbancars" in modules(urbancars.download_code("places365"))
    assert urbancars.download_flags("places365") == "--source urbancars --component places365"
    jtt, ddb_i = modules(p.method_code("jtt")), modules(p.method_code("ddb_i_error_set"))
    assert "ddb.methods.jtt" in jtt and "ddb.methods.ddb_i" not in jtt and "ddb.algorithms.groupdro" not in jtt
    assert {"ddb.methods.ddb_i_error_set", "ddb.methods.ddb_i", "ddb.algorithms.groupdro"} <= ddb_i
    assert "ddb.algorithms.jtt" not in ddb_i


def test_a_figure_depends_on_its_own_plotting_code():
    p = plan()
    covered = modules(p.stage_code("figures.group_accuracy"))
    assert "ddb.figures.group_accuracy" in covered and "ddb.figures.common" in covered
    assert not covered & {"ddb.figures.training_curves", "ddb.figures.amplifier_scores", "ddb.figures.synthetic_vs_real"}


def test_command_line_strings_become_the_numbers_the_schema_asks_for():
    given = {"diffusion": {"steps": "2", "lr": "1e-3", "ema": "false", "block_out_channels": ["8", "16"]},
             "seeds": ["0", "1"], "classifier": {"pretrained": "no"},
             "datasets": {"mine": {"source": "folder", "folder": {"root": "007", "csv": "x.csv", "image_size": "32"}}}}
    assert coerce_to_schema(given) == {
        "diffusion": {"steps": 2, "lr": 0.001, "ema": False, "block_out_channels": [8, 16]}, "seeds": [0, 1],
        "classifier": {"pretrained": "no"},  # an enum of strings stays a string
        "datasets": {"mine": {"source": "folder", "folder": {"root": "007", "csv": "x.csv", "image_size": 32}}}}
    assert coerce_to_schema({"diffusion": {"steps": "two"}}) == {"diffusion": {"steps": "two"}}  # validation names it


@pytest.mark.parametrize(("diffusion", "sampling", "message"), [
    ({"image_size": 9}, {}, "image_size 9 is not divisible by 2\\^1"),
    ({"block_out_channels": [12, 16], "norm_num_groups": 8}, {}, "\\[12\\] are not divisible by norm_num_groups 8"),
    ({"attention_levels": [3]}, {}, "attention_levels \\[3\\]"),
    ({}, {"num_inference_steps": 80}, "num_inference_steps 80 exceeds the diffusion model's num_train_timesteps 50"),
])
def test_unet_shapes_and_sampler_steps_are_checked_when_the_config_loads(diffusion, sampling, message):
    tiny = yaml.safe_load((REPO / "tests" / "tiny_config.yaml").read_text())
    with pytest.raises(ValueError, match=f"dataset shapes .*{message}"):
        plan(diffusion=tiny["diffusion"] | diffusion, sampling=tiny["sampling"] | sampling)


def test_an_implausible_learning_rate_is_a_schema_error():
    with pytest.raises(Exception, match="greater than the maximum of 1"):
        plan(diffusion={"lr": 1e6})


def test_the_memorisation_sweep_adds_real_amplifiers_by_epochs_and_their_runs():
    p = plan(methods=["erm", "ddb_i", "ddb_ii_real_amplifier"], real_amplifier={"epochs": 1},
             sweeps={"real_amplifier_epochs": [1, 3, 10]})
    assert p.runs() == ["erm", "ddb_i/base", "ddb_ii_real_amplifier", "ddb_ii_real_amplifier/epochs=3",
                        "ddb_ii_real_amplifier/epochs=10"]  # epochs 1 is the base amplifier `real`
    assert p.amplifier_of("ddb_ii_real_amplifier/epochs=10") == "real/epochs=10"
    assert p.used_amplifiers() == ["real", "real/epochs=10", "real/epochs=3", "synthetic/base"]
    assert p.real_amplifier_section("shapes", "real/epochs=10")["epochs"] == 10
    assert p.real_amplifier_section("shapes", "real")["epochs"] == 1
    assert p.real_amplifier_section("shapes")["select_epoch"] == "last"  # exactly N epochs, no held-out pick
    patterns = p.wildcard_patterns()
    import re
    assert re.fullmatch(patterns["amplifier"], "real/epochs=3") and not re.fullmatch(patterns["amplifier"], "real/")
    assert re.fullmatch(patterns["run"], "ddb_i_real_amplifier/epochs=10")
    assert not re.fullmatch(patterns["run"], "erm/epochs=10")


def test_rho_is_measured_where_there_are_bias_labels_and_a_synthetic_set():
    assert plan().measures_bias("shapes")
    assert not plan(methods=["erm", "jtt"]).measures_bias("shapes")
    bar = plan(datasets={"bar": {"source": "bar"}}, methods=["erm", "ddb_i"])
    assert not bar.measures_bias("bar")
    sections = plan(amplifier={"arch": "small_cnn", "epochs": 4}).bias_classifier_section("shapes")
    assert sections["epochs"] == 30 and sections["holdout_fraction"] == 0.5 and sections["arch"] == "small_cnn"


def test_final_overrides_come_after_each_datasets_own_and_reach_its_source_settings():
    datasets_config = {"shapes": {"source": "builtin_shapes", "builtin_shapes": {"n_train": 500},
                                  "overrides": {"classifier": {"steps": 11250, "arch": "resnet50"}}}}
    p = plan(datasets=datasets_config, final_overrides={"classifier": {"steps": 2},
                                                        "sources": {"builtin_shapes": {"n_train": 40}}})
    assert p.section("shapes", "classifier")["steps"] == 2  # the rehearsal's size wins over the preset's
    assert p.section("shapes", "classifier")["arch"] == "resnet50"  # the preset's model stays
    assert p.source_settings("shapes")["n_train"] == 40
    assert p.source_settings("shapes")["n_val"] == 1000  # the rest as they were
    with pytest.raises(ValueError, match="final_overrides.sources.builtin_shapes"):
        plan(datasets=datasets_config, final_overrides={"sources": {"builtin_shapes": {"n_trian": 40}}})


def test_the_how_to_docs_name_every_part_of_the_contracts():
    """docs/add-a-method.md's table of input kinds is INPUT_KINDS; every field of Method, MethodContext and Source is
    named in its doc (a new field without a word in the doc fails here)."""
    import dataclasses

    from ddb.datasets.common import Source

    method_doc = (REPO / "docs/add-a-method.md").read_text()
    assert re.findall(r"^ *\| `(\w+)` \|", method_doc, re.M) == list(methods.INPUT_KINDS)
    for record, doc in ((methods.Method, method_doc), (methods.MethodContext, method_doc),
                        (Source, (REPO / "docs/add-a-dataset.md").read_text())):
        missing = [f.name for f in dataclasses.fields(record) if f"`{f.name}`" not in doc and f"`{f.name}(" not in doc]
        assert not missing, f"{record.__name__} fields not in the doc: {missing}"


def test_the_methods_table_lists_every_method_and_its_use_of_bias_labels():
    rows = re.findall(r"^\| `([\w`, ]+)` \| .* \| (\*\*yes\*\*|no) \|$", (REPO / "docs/pipeline.md").read_text(), re.M)
    listed = {name.strip("` "): labels == "**yes**" for names, labels in rows for name in names.split(",")}
    assert listed == {name: methods.method(name).uses_bias_labels for name in methods.method_names()}
