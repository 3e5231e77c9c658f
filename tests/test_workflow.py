"""The real Snakemake workflow on a tiny config: every stage runs, every artifact is checked, and the dry-run
job lists show that a config or code change reruns exactly the stages that depend on it."""

import base64
import contextlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from ddb import methods
from ddb.core.tables import read_table
from ddb.tools import screenshot
from helpers import (ENV, REPO, SNAKEMAKE, TINY, URBANCARS_SETTINGS, byo, copy_of_run, copy_workflow, planned_jobs,
                     rows_for, serve_downloadable_sources, snakemake, stanford_cars_files, tiny_with, waterbirds_archive)

METHODS = {name: methods.method(name) for name in methods.method_names()}
pytestmark = pytest.mark.slow  # real stage runs (make test-fast leaves them out)

# the result tables: the check of their inputs, then collect
TABLES = {"check_results": 1, "collect": 1}
# report figures that a change of the debiased runs redraws; and those of an amplifier and its synthetic set
RUN_FIGURES = {"plot_training_curves": 1, "plot_group_accuracy": 1}
AMPLIFIER_FIGURES = {"plot_synthetic_vs_real": 1, "plot_amplifier_scores": 1}
# rho of a synthetic set, and the figure that shows it with every amplifier's detection quality
SYNTHETIC_BIAS = {"measure_synthetic_bias": 1, "plot_bias_amplification": 1}
# the evaluation-only bias classifier and rho of the real training split
REAL_BIAS = {"train_bias_classifier": 1, "measure_real_bias": 1}


@pytest.fixture(scope="session")
def workflow_copy(finished_tiny_run, tmp_path_factory):
    """A copy of the finished tiny run (tests/conftest.py) of this file's own: code-edit tests edit and restore it."""
    return copy_of_run(finished_tiny_run, tmp_path_factory.mktemp("workflow") / "work")


def test_every_stage_writes_its_artifacts(workflow_copy):
    res = workflow_copy / "results"
    metadata = read_table(res / "shapes/data/metadata.parquet", "metadata")
    assert len(metadata) == 120 + 36 + 36
    assert all((res / "shapes/data" / p).exists() for p in metadata["path"])
    model = res / "shapes/diffusion/model"
    assert (model / "unet/diffusion_pytorch_model.safetensors").exists()
    assert json.loads((model / "unet/config.json").read_text())["num_class_embeds"] == 4
    assert (model / "scheduler/scheduler_config.json").exists()
    assert not list(model.rglob("*.bin")) and not list(model.rglob("*.pt"))  # safetensors only
    for k in range(3):
        assert len(list((res / f"shapes/synthetic/base/class_{k}/images").glob("*.png"))) == 6
        assert (res / f"shapes/synthetic/base/class_{k}/grid.png").stat().st_size > 0
    for source in ("synthetic/base", "real"):
        amp = res / f"shapes/amplifier/{source}"
        assert json.loads((amp / "model/model.json").read_text())["trained_on"] == source.split("/")[0]
        scores = read_table(amp / "scores.parquet", "scores")
        assert sorted(scores["sample_id"]) == sorted(metadata["sample_id"])
        assert (scores["pseudo_group"] == scores["label"] * 3 + scores["amp_pred"]).all()
        detection = json.loads((amp / "detection.json").read_text())
        assert detection["n"] == 120 and detection["amplifier"] == source and 0 <= detection["amp_auroc"] <= 1
    for method in METHODS:
        run = f"{method}/base" if METHODS[method].amplifier_trained_on == "synthetic" else method
        metrics = json.loads((res / f"shapes/debias/{run}/seed0/metrics.json").read_text())
        assert metrics["method"] == method and metrics["n_test"] == 36 and len(metrics["per_group"]) == 9
        assert re.match(r"(cpu|cuda): ", metrics["device"]) and metrics["torch_threads"] == 2  # the job's threads
        assert metrics["amplifier"] == {"synthetic": "synthetic/base", "real": "real", None: None}[METHODS[method].amplifier_trained_on]
        assert (res / f"shapes/debias/{run}/seed0/model/training_log.csv").exists()
    summary = pd.read_csv(res / "tables/summary.csv")
    assert sorted(summary["method"]) == sorted(METHODS)
    assert {"conflicting_acc", "unbiased_acc", "worst_group_acc", "uses_bias_labels", "amp_auroc"} <= set(summary.columns)
    assert summary.set_index("method")["uses_bias_labels"].to_dict() == {m: METHODS[m].uses_bias_labels for m in METHODS}
    assert {m for m in METHODS if METHODS[m].uses_bias_labels} == {"groupdro_oracle", "dfr_oracle"}
    assert summary.set_index("method").loc["ddb_i_real_amplifier", "amplifier"] == "real"
    assert summary.set_index("method")["amp_auroc"].isna().to_dict() == {m: METHODS[m].amplifier_trained_on is None for m in METHODS}
    assert "| ddb_ii" in (res / "tables/summary.md").read_text()
    assert "±" in (res / "tables/summary_mean.md").read_text()
    assert pd.read_csv(res / "tables/summary_mean.csv")["n_seeds"].eq(1).all()
    logs = list((res / "logs").rglob("*.log"))
    assert len(logs) == 48 and all(log.stat().st_size > 0 for log in logs)  # one per job
    # every log opens with the stage's resolved configuration
    assert all("resolved config: {" in log.read_text().splitlines()[0] for log in logs)
    assert len(list((res / "benchmarks").rglob("*.tsv"))) == 48
    assert not list(res.rglob("*.tmp-*"))  # no half-written leftovers


def test_report_holds_every_section_and_figure(workflow_copy, tmp_path):
    """`snakemake --report` of the tiny run: one self-contained HTML file with the tables, pictures, score
    histograms, training curves and per-group bars, each as an embedded PNG with its caption."""
    snakemake(workflow_copy, "--configfile", "tiny.yaml", "--report", str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    results, categories = screenshot.embedded(html, "results"), screenshot.embedded(html, "categories")
    shown = {category: sorted(p for paths in sub.values() for p in paths) for category, sub in categories.items()}
    assert shown == {
        "1. Results": ["results/shapes/report/group_accuracy.png", "results/tables/summary.html"],
        "2. Synthetic vs real images": ["results/shapes/report/synthetic_vs_real/base.png"],
        "3. Bias amplifier scores": ["results/shapes/report/amplifier_scores/real.png",
                                     "results/shapes/report/amplifier_scores/synthetic/base.png",
                                     "results/shapes/report/bias_amplification.png"],
        "4. Training curves": ["results/shapes/report/training_curves.png"],
    }
    for path, result in results.items():
        mime = "text/html" if path.endswith(".html") else "image/png"
        assert result["mime_type"] == mime and result["data_uri"].startswith(f"data:{mime};")
        assert len(result["data_uri"]) > 2000
        if mime == "image/png":  # the embedded picture is the figure on disk, its caption names the dataset
            assert "<strong>shapes</strong>" in result["caption"]
            assert base64.b64decode(result["data_uri"].split("base64,")[1]) == (workflow_copy / path).read_bytes()
    table = base64.b64decode(results["results/tables/summary.html"]["data_uri"].split("base64,")[1]).decode()
    assert "Results, mean ± std over seeds" in table and "ddb_ii_real_amplifier" in table
    assert "How to read this report" in html  # the workflow description


def test_report_screenshots_show_every_category(workflow_copy, tmp_path):
    if not any(shutil.which(b) for b in screenshot.BROWSERS):
        pytest.skip("no headless Chromium here (.ci/run installs chromium-headless-shell)")
    snakemake(workflow_copy, "--configfile", "tiny.yaml", "--report", str(tmp_path / "report.html"))
    screenshot.main([str(tmp_path / "report.html"), "--out-dir", str(tmp_path / "shots"), "--size", "800x600"])
    shots = sorted(p.name for p in (tmp_path / "shots").glob("*.png"))
    assert shots == ["1_results.png", "2_synthetic_vs_real_images.png", "3_bias_amplifier_scores.png",
                     "4_training_curves.png", "overview.png"]
    pictures = {name: np.asarray(Image.open(tmp_path / "shots" / name).convert("RGB")) for name in shots}
    assert all(p.shape == (600, 800, 3) and p.std() > 10 for p in pictures.values())  # rendered, not blank
    assert len({p.tobytes() for p in pictures.values()}) == len(shots)  # each a different view


def test_complete_run_has_nothing_left_to_do(workflow_copy):
    assert planned_jobs(workflow_copy, "--configfile", "tiny.yaml") == {}


def test_a_damaged_metrics_json_stops_before_collect_and_the_previous_tables_stay(workflow_copy, tmp_path):
    work = copy_of_run(workflow_copy, tmp_path / "run")  # a copy: the other tests read the finished run
    tables = {p.name: p.read_bytes() for p in (work / "results/tables").iterdir()}
    metrics = sorted(work.glob("results/*/debias/**/metrics.json"))[0]
    metrics.write_text(metrics.read_text()[:40])  # cut short
    proc = snakemake(work, "--configfile", "tiny.yaml", "--keep-going", check=False)
    assert proc.returncode != 0
    log = (work / "results/logs/collect/check_results.log").read_text()
    assert f"{metrics.relative_to(work)}: is not valid JSON" in log and "snakemake --force" in log
    kept = {p.name: p.read_bytes() for p in (work / "results/tables").iterdir()}
    assert {name: kept.get(name) for name in tables if name != "checked_results.tsv"} == {
        name: data for name, data in tables.items() if name != "checked_results.tsv"}


def test_amplifier_job_reads_only_synthetic_images(workflow_copy):
    out = snakemake(workflow_copy, "--configfile", "tiny.yaml", "-n", "-p", "-f", "results/shapes/amplifier/synthetic/base/model").stdout
    command = next(line for line in out.splitlines() if "ddb.train_amplifier" in line)
    inputs = command.split("--synthetic")[1].split("--out")[0].split()
    assert inputs == [f"results/shapes/synthetic/base/class_{k}/images" for k in range(3)]
    assert "data/" not in command and "metadata" not in command


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"classifier": {"lr": 0.01}}, {"train_debiased": 12, "evaluate": 12, **TABLES, **RUN_FIGURES}),
        # Recipe I settings: ddb_i, ddb_i_error_set, ddb_i_real_amplifier
        ({"recipes": {"ddb_i": {"step_size": 0.5}}}, {"train_debiased": 3, "evaluate": 3, **TABLES, **RUN_FIGURES}),
        # the real-data ablation does not depend on the synthetic set
        ({"sampling": {"guidance_w": 2.0}},
         {"sample_synthetic": 3, "train_amplifier": 1, "score_real": 1, "evaluate_amplifier": 1,
          "train_debiased": 5, "evaluate": 5, **TABLES, **RUN_FIGURES, **AMPLIFIER_FIGURES,
          **SYNTHETIC_BIAS}),
        ({"diffusion": {"p_uncond": 0.2}},
         {"train_diffusion": 1, "sample_synthetic": 3, "train_amplifier": 1, "score_real": 1,
          "evaluate_amplifier": 1, "train_debiased": 5, "evaluate": 5, **TABLES, **RUN_FIGURES,
          **AMPLIFIER_FIGURES, **SYNTHETIC_BIAS}),
        ({"baselines": {"jtt": {"upweight": 5}}}, {"train_debiased": 1, "evaluate": 1, **TABLES, **RUN_FIGURES}),
        ({"real_amplifier": {"epochs": 2}},
         {"train_real_amplifier": 1, "score_real": 1, "evaluate_amplifier": 1, "train_debiased": 2, "evaluate": 2,
          **TABLES, "plot_amplifier_scores": 1, "plot_bias_amplification": 1, **RUN_FIGURES}),
        ({"classifier": {"selection": "label_free_pseudo_group"}},
         {"train_debiased": 12, "evaluate": 12, **TABLES, **RUN_FIGURES}),
    ],
    ids=["classifier", "recipe_i", "sampling", "diffusion", "baseline_jtt", "real_amplifier", "selection"],
)
def test_config_change_reruns_exactly_the_dependent_stages(workflow_copy, changes, expected):
    assert planned_jobs(workflow_copy, "--configfile", tiny_with(workflow_copy, "changed.yaml", **changes)) == expected


def test_switching_tensorboard_on_reruns_nothing_and_reaches_the_jobs(workflow_copy, tmp_path):
    assert planned_jobs(workflow_copy, "--configfile", "tiny.yaml", "--config", "tensorboard=true") == {}
    work = copy_of_run(workflow_copy, tmp_path / "work")  # a copy: the other tests read the finished run
    amplifier = "results/shapes/amplifier/synthetic/base/model"
    snakemake(work, "--configfile", "tiny.yaml", "--config", "tensorboard=true", "--force", amplifier)
    assert list((work / amplifier / "tensorboard").glob("events.out.tfevents.*"))
    assert not (work / f"{amplifier}.tensorboard").exists()


def test_nested_numbers_on_the_command_line_are_numbers(workflow_copy):
    """`--config 'diffusion={steps: 2}'`: Snakemake reads the 2 as a string; it reaches the schema as a number."""
    jobs = planned_jobs(workflow_copy, "--configfile", "tiny.yaml", "--config", "diffusion={steps: 2}")
    assert jobs["train_diffusion"] == 1 and "train_real_amplifier" not in jobs


def test_pseudo_group_selection_reads_amplifier_scores_and_is_recorded(workflow_copy, tmp_path):
    name = tiny_with(workflow_copy, "pseudo.yaml", classifier={"selection": "label_free_pseudo_group"})
    out = snakemake(workflow_copy, "-n", "-p", "--configfile", name).stdout
    commands = [line for line in out.splitlines() if "ddb.train_debiased" in line]
    erm = next(c for c in commands if "--method erm " in c)
    real = next(c for c in commands if "--method ddb_ii_real_amplifier " in c)
    assert "--selection-scores results/shapes/amplifier/synthetic/base/scores.parquet" in erm  # no own amplifier
    assert "--selection-scores results/shapes/amplifier/real/scores.parquet" in real  # the run's own amplifier
    res = workflow_copy / "results/shapes"
    settings = json.dumps({"steps": 3, "batch_size": 16, "eval_every": 3, "selection": "label_free_pseudo_group"})
    subprocess.run([sys.executable, "-m", "ddb.train_debiased", "--method", "erm", "--metadata",
                    str(res / "data/metadata.parquet"), "--store", str(res / "data/store/native"), "--selection-scores",
                    str(res / "amplifier/synthetic/base/scores.parquet"), "--out", str(tmp_path / "model"),
                    "--settings", settings], check=True, env=ENV, cwd=workflow_copy, capture_output=True)
    selection = json.loads((tmp_path / "model/selection.json").read_text())
    assert selection["selection"] == "label_free_pseudo_group" and selection["uses_bias_labels"] is False


def test_a_model_built_on_a_model_chosen_with_bias_labels_says_so(workflow_copy, tmp_path):
    """ddb_llr refits the head of an ERM model: when that ERM checkpoint was chosen by worst-group accuracy (oracle
    selection), the ddb_llr row uses bias labels too, though its own choice of C does not."""
    res = workflow_copy / "results/shapes"
    data = ["--metadata", str(res / "data/metadata.parquet"), "--store", str(res / "data/store/native")]

    def train(method, out, *extra, settings=None):
        subprocess.run([sys.executable, "-m", "ddb.train_debiased", "--method", method, *data, *extra,
                        "--out", str(out), "--settings", json.dumps({"steps": 3, "batch_size": 16, "eval_every": 3,
                                                                     **(settings or {})})],
                       check=True, env=ENV, cwd=workflow_copy, capture_output=True)
        return json.loads((out / "selection.json").read_text())

    assert train("erm", tmp_path / "erm", settings={"selection": "oracle"})["uses_bias_labels"] is True
    llr = train("ddb_llr", tmp_path / "llr", "--base-model", str(tmp_path / "erm"), "--scores",
                str(res / "amplifier/synthetic/base/scores.parquet"), "--method-settings",
                json.dumps(yaml.safe_load(TINY.read_text())["recipes"]["ddb_llr"]))
    assert llr["method_uses_bias_labels"] is False and llr["uses_bias_labels"] is True
    assert llr["base_selection"] == "oracle" and llr["selection"] == "label_free_pseudo_group"
    assert str(llr["c"]) in llr["tuning_worst_group_acc"]


@pytest.mark.parametrize(
    ("sweeps", "expected"),
    [
        # a sampling sweep reuses the diffusion model: one synthetic set, amplifier and synthetic-amplifier runs per entry
        ({"sampling": [{"guidance_w": 3.0}, {"scheduler": "ddpm", "num_inference_steps": 4}, {"guidance_w": 1.0}]},
         {"sample_synthetic": 6, "train_amplifier": 2, "score_real": 2, "evaluate_amplifier": 2,
          "train_debiased": 10, "evaluate": 10, **TABLES, "plot_synthetic_vs_real": 2, "plot_amplifier_scores": 2,
          "measure_synthetic_bias": 2, "plot_bias_amplification": 1, **RUN_FIGURES}),
        # a ratio sweep is a whole new dataset per value
        ({"conflicting_ratio": [0.2]},
         {"prepare_data": 1, "build_image_store": 2, "train_diffusion": 1, "sample_synthetic": 3, "train_amplifier": 1,
          "train_real_amplifier": 1, "score_real": 2, "evaluate_amplifier": 2, "train_debiased": 12, "evaluate": 12,
          **TABLES, "plot_synthetic_vs_real": 1, "plot_amplifier_scores": 2, **RUN_FIGURES, **REAL_BIAS,
          **SYNTHETIC_BIAS}),
    ],
    ids=["sampling", "conflicting_ratio"],
)
def test_sweeps_add_exactly_their_runs(workflow_copy, sweeps, expected):
    name = tiny_with(workflow_copy, "sweep.yaml", sweeps=sweeps)
    assert planned_jobs(workflow_copy, "--configfile", name) == expected
    out = snakemake(workflow_copy, "-n", "--configfile", name).stdout
    if "sampling" in sweeps:  # the base run stays; each variant is named by its overrides
        assert "results/shapes/debias/ddb_i/guidance_w=3.0/seed0/model" in out
        assert "results/shapes/debias/ddb_ii/num_inference_steps=4,scheduler=ddpm/seed0/model" in out
        assert "guidance_w=1.0" not in out  # equal to the base: nothing to add
    else:
        assert "results/shapes_ratio0.2/data/metadata.parquet" in out


# ---- code edits: the edit matrix (dry runs of the finished tiny run after each edit) ----
ALL_JOBS = {"prepare_data": 1, "build_image_store": 2, "train_diffusion": 1, "sample_synthetic": 3, "train_amplifier": 1,
            "train_real_amplifier": 1, "score_real": 2, "evaluate_amplifier": 2, "train_debiased": 12, "evaluate": 12,
            **TABLES, "plot_synthetic_vs_real": 1, "plot_amplifier_scores": 2, **RUN_FIGURES, **REAL_BIAS,
            **SYNTHETIC_BIAS}
# every classifier (both amplifiers, every run) and what reads them; not the diffusion model or its samples
CLASSIFIERS_ONWARD = {k: v for k, v in ALL_JOBS.items() if k not in ("prepare_data", "build_image_store", "train_diffusion",
                                                                     "sample_synthetic", "plot_synthetic_vs_real")}
# the diffusion model and what descends from it: the synthetic amplifier and the runs that use it
DIFFUSION_ONWARD = {"train_diffusion": 1, "sample_synthetic": 3, "train_amplifier": 1, "score_real": 1,
                    "evaluate_amplifier": 1, "train_debiased": 5, "evaluate": 5, **TABLES, **RUN_FIGURES,
                    **AMPLIFIER_FIGURES, **SYNTHETIC_BIAS}
RUN_ONWARD = {"evaluate": 1, **TABLES, **RUN_FIGURES}


@contextlib.contextmanager
def edited(root: Path, edit, paths):
    """Apply ``edit(text) -> text`` to the files ``paths`` below ``root``; restore them afterwards."""
    originals = {path: (root / path).read_text() for path in paths}
    try:
        for path, text in originals.items():
            (root / path).write_text(edit(text))
        yield
    finally:
        for path, text in originals.items():
            (root / path).write_text(text)


def cosmetic(text: str) -> str:
    """The same code with its docstrings reworded, a comment added, blank lines and a line break changed."""
    text = re.sub(r'((?:^|\n)\s*(?:async )?(?:def|class) [^\n]*:\n\s*""")', r"\1Reworded. ", text)
    text = re.sub(r'^(\s*)"""', r'\1"""In other words: ', text, count=1)
    return text.replace("\n\n\n", "\n\n\n\n") + "\n# a comment at the end\n"


def behaviour(text: str) -> str:
    return text + "\nEDITED_BEHAVIOUR = 1\n"


def test_comment_docstring_and_formatting_edits_of_every_module_rerun_nothing(workflow_copy):
    modules = sorted(str(p.relative_to(workflow_copy)) for p in (workflow_copy / "ddb").rglob("*.py"))
    assert len(modules) > 60 and "ddb/datasets/builtin_shapes.py" in modules
    with edited(workflow_copy, cosmetic, modules):
        assert (workflow_copy / "ddb/models/classifiers.py").read_text() != \
            (REPO / "ddb/models/classifiers.py").read_text()  # the edit happened
        assert planned_jobs(workflow_copy, "--configfile", "tiny.yaml") == {}


@pytest.mark.parametrize(("module", "expected"), [
    ("ddb/datasets/builtin_shapes.py", ALL_JOBS),  # this dataset's builder: its whole chain
    ("ddb/datasets/waterbirds.py", {}),  # another dataset's builder: nothing here
    # the image store's builder: every job that reads a store, not the dataset's preparation
    ("ddb/build_image_store.py", {k: v for k, v in ALL_JOBS.items() if k != "prepare_data"}),
    # the target models' augmentation: their runs, not the amplifiers or the diffusion model
    ("ddb/training/augmentation.py", {"train_debiased": 12, "evaluate": 12, **TABLES, **RUN_FIGURES}),
    ("ddb/models/classifiers.py", CLASSIFIERS_ONWARD),
    ("ddb/training/loop.py", CLASSIFIERS_ONWARD),
    ("ddb/models/unet.py", DIFFUSION_ONWARD),
    ("ddb/algorithms/sampling.py", {k: v for k, v in DIFFUSION_ONWARD.items() if k != "train_diffusion"}),
    ("ddb/methods/jtt.py", {"train_debiased": 1, **RUN_ONWARD}),  # one method: its runs only
    # ERM: its runs and the runs built on its model (last-layer retraining), not DDB-I
    ("ddb/methods/erm.py", {"train_debiased": 3, "evaluate": 3, **TABLES, **RUN_FIGURES}),
    ("ddb/algorithms/groupdro.py", {"train_debiased": 4, "evaluate": 4, **TABLES, **RUN_FIGURES}),
    # metrics computed on the test split only, and the amplifier's detection quality
    ("ddb/algorithms/benchmark_conventions.py", {"evaluate": 12, **TABLES, "plot_group_accuracy": 1}),
    ("ddb/evaluate.py", {"evaluate": 12, **TABLES, "plot_group_accuracy": 1}),
    ("ddb/algorithms/detection.py", {"evaluate_amplifier": 2, **TABLES, "plot_amplifier_scores": 2,
                                     "plot_bias_amplification": 1}),
    # the accuracy metrics also pick each run's checkpoint on the validation split
    ("ddb/algorithms/metrics.py", {"train_debiased": 12, "evaluate": 12, **TABLES, **RUN_FIGURES}),
    ("ddb/figures/group_accuracy.py", {"plot_group_accuracy": 1}),  # a figure: that figure
    # the amplifiers' resolution: scoring (and every run reading the scores), rho, the Recipe II runs
    ("ddb/models/resolution.py", {"score_real": 2, "measure_real_bias": 1, "measure_synthetic_bias": 1,
                                  "train_debiased": 7, "evaluate": 7, "evaluate_amplifier": 2, **TABLES,
                                  "plot_amplifier_scores": 2, "plot_bias_amplification": 1, **RUN_FIGURES}),
])
def test_a_behaviour_edit_reruns_exactly_the_jobs_that_run_that_code(workflow_copy, module, expected):
    with edited(workflow_copy, behaviour, [module]):
        assert planned_jobs(workflow_copy, "--configfile", "tiny.yaml") == expected


def test_why_names_the_modules_whose_code_changed(workflow_copy):
    with edited(workflow_copy, behaviour, ["ddb/models/unet.py"]):
        proc = subprocess.run([sys.executable, "-m", "ddb.workflow.why", "--configfile", "tiny.yaml"], cwd=workflow_copy,
                              env=ENV, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    at = lines.index("Training the class-conditional diffusion model of shapes")
    assert lines[at + 1].strip() == "code changed: ddb.models.unet"
    sampling = lines.index("Sampling synthetic class 0 of shapes (base)")
    assert lines[sampling + 1].strip() == "Input files updated by another job: results/shapes/diffusion/model"
    assert lines[-1] == f"{sum(DIFFUSION_ONWARD.values())} jobs would run."
    nothing = subprocess.run([sys.executable, "-m", "ddb.workflow.why", "--configfile", "tiny.yaml"],
                             cwd=workflow_copy, env=ENV, capture_output=True, text=True)
    assert nothing.stdout.startswith("Nothing to be done")


def test_finished_results_survive_a_change_of_the_key_scheme_with_one_touch(workflow_copy):
    """docs/configuration.md, "Upgrading keeps finished results": a new key scheme plans every job once; `--touch` keeps them."""
    scheme = "ddb/workflow/code_identity.py"
    other = lambda text: text.replace('SCHEME = "ast1"', 'SCHEME = "ast0"')
    with edited(workflow_copy, other, [scheme]):
        assert planned_jobs(workflow_copy, "--configfile", "tiny.yaml") == ALL_JOBS
        why = subprocess.run([sys.executable, "-m", "ddb.workflow.why", "--configfile", "tiny.yaml"],
                             cwd=workflow_copy, env=ENV, capture_output=True, text=True).stdout
        assert "code identity from an older ddb" in why
        snakemake(workflow_copy, "--configfile", "tiny.yaml", "--touch")
        assert planned_jobs(workflow_copy, "--configfile", "tiny.yaml") == {}
    snakemake(workflow_copy, "--configfile", "tiny.yaml", "--touch")  # back to the scheme the other tests use
    assert planned_jobs(workflow_copy, "--configfile", "tiny.yaml") == {}


def test_bad_config_key_is_a_clear_error(tmp_path):
    (tmp_path / "bad.yaml").write_text("diffusoin:\n  steps: 3\n")
    proc = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "--configfile",
                           str(tmp_path / "bad.yaml")], capture_output=True, text=True, env=ENV, cwd=REPO)
    assert proc.returncode != 0
    assert "diffusoin" in proc.stdout + proc.stderr


def test_lint_is_clean():
    proc = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--lint"], capture_output=True, text=True,
                          env=ENV, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_snakefmt_is_clean():
    """The Snakemake files as snakefmt writes them (its line length is in pyproject.toml); `make lint` checks both."""
    snakefmt = Path(sys.executable).parent / "snakefmt"
    proc = subprocess.run([str(snakefmt), "--check", "Snakefile", "rules"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("preset", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_every_preset_plans_a_full_dag(preset, tmp_path):
    proc = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "--configfile",
                           str(REPO / "configs" / preset)], capture_output=True, text=True, env=ENV, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert re.search(r"^train_diffusion\s+\d+", proc.stdout, re.M) and re.search(r"^collect\s+1", proc.stdout, re.M)


@pytest.mark.parametrize(("preset", "dataset", "prepared", "crop"), [
    ("celeba.yaml", "celeba", 224, {"crop_size": 224, "crop_scale": [0.7, 1.0], "crop_ratio": [1.0, 4 / 3]}),
    ("imagenet9.yaml", "imagenet9", 256, {"crop_size": 224, "crop_scale": [0.08, 1.0], "crop_ratio": [0.75, 4 / 3]}),
])
def test_celeba_and_imagenet9_presets_train_the_target_model_at_224_px(preset, dataset, prepared, crop, tmp_path):
    """The protocols' resolution: images prepared at 224 (CelebA) or 256 (ImageNet-9) px and read from the native
    store, random resized crops of 224 px for the target model; the diffusion model keeps its 64 px store."""
    proc = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "-n", "-p", "--configfile",
                           str(REPO / "configs" / preset)], capture_output=True, text=True, env=ENV, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    commands = {line.split("python -m ")[1].split()[0]: line for line in proc.stdout.splitlines()
                if line.startswith("Shell command: python -m ddb.")}
    prepare_settings = json.loads(commands["ddb.prepare_data"].split("--settings '")[1].split("'")[0])
    assert prepare_settings["image_size"] == prepared
    training = commands["ddb.train_debiased"]
    assert f"--store results/{dataset}/data/store/native " in training
    settings = json.loads(training.split("--settings '")[1].split("'")[0])
    assert settings["augmentation"] == "resized_crop" and settings["arch"].startswith("resnet")
    assert {key: settings[key] for key in crop} == crop
    assert f"--store results/{dataset}/data/store/64px " in commands["ddb.train_diffusion"]


def test_downloaded_and_own_datasets_plan_and_prepare_through_the_workflow(file_server, tmp_path):
    work = copy_workflow(tmp_path / "work")
    file_server.files["/mirror/waterbird_complete95_forest2water2.tar.gz"] = waterbirds_archive()
    settings = byo(tmp_path, rows_for())
    config = yaml.safe_load(TINY.read_text())
    config["datasets"] = {"wb": {"source": "waterbirds", "waterbirds": {"image_size": 16}},
                          "bar": {"source": "bar"},
                          "mine": {"source": "folder", "folder": {**settings, "image_size": 16}}}
    config["run_datasets"] = ["wb", "bar", "mine"]  # not config.yaml's shapes
    (work / "datasets.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(work, "--configfile", "datasets.yaml")
    assert jobs["download"] == 2 and jobs["prepare_data"] == 3 and jobs["train_diffusion"] == 3
    assert jobs["sample_synthetic"] == 2 + 6 + 2  # classes of waterbirds, BAR and the CSV, known before running
    env = {**ENV, "DDB_MIRRORS": f"{file_server.url}/mirror"}
    cmd = [*SNAKEMAKE, "-s", str(work / "Snakefile"), "-d", str(work), "--cores", "2", "--configfile",
           "datasets.yaml", "--", "results/wb/data/metadata.parquet", "results/mine/data/metadata.parquet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert len(read_table(work / "results/wb/data/metadata.parquet", "metadata")) == 12
    assert (work / "results/downloads/waterbirds/waterbird_complete95_forest2water2.tar.gz").exists()
    assert read_table(work / "results/mine/data/metadata.parquet", "metadata")["split"].value_counts()["val"] == 2
    target = ("--configfile", "datasets.yaml", "--", "results/mine/data/metadata.parquet")
    assert planned_jobs(work, *target) == {}
    edited_image = Path(settings["root"]) / "img/tr3.png"
    Image.new("RGB", (20, 24), (250, 0, 0)).save(edited_image)  # an edit of one of your images
    assert planned_jobs(work, *target) == {"prepare_data": 1}


def test_urbancars_is_generated_from_its_sources_by_a_rule(file_server, tmp_path):
    work = copy_workflow(tmp_path / "work")
    serve_downloadable_sources(file_server)
    (work / "results/downloads/stanford_cars").mkdir(parents=True)
    for name, data in stanford_cars_files().items():  # the by-hand part, placed where the stage says
        (work / "results/downloads/stanford_cars" / name).write_bytes(data)
    config = yaml.safe_load(TINY.read_text())
    config["datasets"] = {"cars": {"source": "urbancars", "urbancars": {**json.loads(URBANCARS_SETTINGS), "image_size": 16}},
                          "whac": {"source": "urbancars", "urbancars": {"origin": "drop_in"}}}
    config["run_datasets"] = ["cars", "whac"]
    (work / "uc.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(work, "--configfile", "uc.yaml")
    # three source downloads and the generation for `cars`; the by-hand urbancars.zip for `whac`
    assert jobs["download"] == 4 and jobs["generate_urbancars"] == 1 and jobs["prepare_data"] == 2
    env = {**ENV, "DDB_MIRRORS": f"{file_server.url}/mirror"}
    cmd = [*SNAKEMAKE, "-s", str(work / "Snakefile"), "-d", str(work), "--cores", "2", "--configfile", "uc.yaml",
           "--", "results/cars/data/metadata.parquet"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=work)
    assert proc.returncode == 0, proc.stderr[-4000:]
    table = read_table(work / "results/cars/data/metadata.parquet", "metadata")
    assert table.groupby("split").size().to_dict() == {"test": 8, "train": 40, "val": 8}
    assert (work / "results/cars/data/urbancars/provenance.csv").exists()
    # prepare_data's image size is not the generator's business: changing it prepares again, generates nothing
    config["datasets"]["cars"]["urbancars"]["image_size"] = 24
    (work / "uc.yaml").write_text(yaml.safe_dump(config))
    jobs = planned_jobs(work, "--configfile", "uc.yaml", "--", "results/cars/data/metadata.parquet")
    assert jobs == {"prepare_data": 1}


def test_readme_cluster_commands_set_the_site_and_plan_the_dag(tmp_path):
    """The README's cluster block: `make slurm-profile`, then the card's command verbatim, which plans from the
    repository root as it stands (tests/test_slurm.py runs it through SLURM); its preset variant plans Waterbirds."""
    readme = (REPO / "README.md").read_text()
    block = readme.split("## On a GPU cluster (SLURM)")[1].split("```bash")[1].split("```")[0]
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert commands[1].startswith("make slurm-profile ACCOUNT=") and commands[-1] == "snakemake --profile slurm all"
    card = subprocess.run("snakemake --profile slurm all --dry-run", shell=True, capture_output=True, text=True,
                          cwd=REPO, env={**ENV, "PATH": f"{Path(sys.executable).parent}:{ENV['PATH']}"})
    assert card.returncode == 0, card.stdout[-2000:] + card.stderr[-3000:]
    assert "Using profile slurm" in card.stdout + card.stderr
    preset = next(line.strip("`") for line in re.findall(r"`snakemake --profile slurm --configfile [^`]+`", readme))
    proc = subprocess.run([*SNAKEMAKE, "-n", *preset.split()[1:]], capture_output=True, text=True, env=ENV, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert re.search(r"^download\s+1", proc.stdout, re.M) and re.search(r"^train_diffusion\s+1", proc.stdout, re.M)
