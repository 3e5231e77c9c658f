"""The benchmark script runs end to end and reports what a reader compares: throughput, ratio, memory, notes.
(Its numbers are measurements, not test targets.)"""

import json

import pandas as pd
import pytest

from ddb.tools import bench, gpu_check


def test_bench_writes_a_table_with_ratios_against_the_baseline(tmp_path, capsys):
    out = tmp_path / "bench.json"
    bench.main(["--out", str(out), "--only", "sampling", "data_loading", "--presets", "tiny", "--repeats", "1",
                "--warmup", "0", "--long-steps", "1", "--sample-batch", "2", "--data-images", "16", "--workers", "1"])
    result = json.loads(out.read_text())
    rows = result["rows"]
    assert result["machine"]["device"] == "cpu" and result["machine"]["repeats"] == 1
    samplers = [r for r in rows if r["group"] == "sampling"]
    assert [r["config"].split(", ")[1] for r in samplers if r["variant"] == "fp32, batched CFG, batch 2"] == [
        "ddpm 1000 steps", "ddim 50 steps", "ddim 25 steps", "dpmsolver++ 20 steps"]
    ddpm = next(r for r in samplers if "ddpm" in r["config"])
    assert ddpm["note"] == "timed over 1 of 1000 steps"  # scaled from the steps it timed, and says so
    assert [r["variant"] for r in samplers if "ddim 25" in r["config"]] == [
        "fp32, batched CFG, batch 2", "fp32, unbatched CFG, batch 2", "fp32, batched CFG, batch 1",
        "bf16, batched CFG, batch 2"]
    loading = [r["variant"] for r in rows if r["group"] == "data_loading"]
    assert loading == ["decode per epoch, 0 workers", "decode per epoch, 1 workers",
                       "decoded uint8 cache in memory (ddb before the store)", "image store, batches read from disk (ddb)"]
    for row in rows:
        assert row["images_per_s"] > 0 and row["s_min"] <= row["s_per_call"] <= row["s_max"]
        assert row["peak_mb"] > 0 and 0 <= row["peak_added_mb"] <= row["peak_mb"]
    first = {}
    for row in rows:  # the first variant of each configuration is its baseline
        first.setdefault(row["config"], row)
        assert abs(row["vs_baseline"] - row["images_per_s"] / first[row["config"]]["images_per_s"]) < 1e-9
    text = out.with_suffix(".md").read_text()
    assert text.startswith("# ddb benchmark\n") and "| sampling" in text and text in capsys.readouterr().out
    assert result["machine"]["command"].startswith("python -m ddb.tools.bench --out ")  # the caption says it
    assert "Measured with `python -m ddb.tools.bench --out" in text and "median of 1 timed repeats" in text
    assert "| batched CFG -> unbatched CFG |" in text  # and what each switch buys


def test_a_switch_s_speed_up_pairs_rows_that_differ_by_that_switch_alone():
    rows = pd.DataFrame([
        {"group": "amplifier", "config": "train", "variant": v, "images_per_s": speed}
        for v, speed in (("fp32", 100.0), ("bf16", 150.0), ("fp32+channels_last", 200.0), ("bf16+channels_last", 330.0))
    ] + [{"group": "data_loading", "config": "epoch", "variant": v, "images_per_s": speed}
         for v, speed in (("decode per epoch, 0 workers", 10.0), ("decoded cache", 400.0))])
    effects = bench.switch_effects(rows)
    found = {(e.switch, e.with_): round(e.speed_up, 3) for e in effects.rename(columns={"with": "with_"}).itertuples()}
    assert found == {("fp32 -> bf16", ""): 1.5, ("fp32 -> bf16", "channels_last"): 1.65,
                     ("+ channels_last", "fp32"): 2.0, ("+ channels_last", "bf16"): 2.2}
    # bf16 -> fp32+channels_last changes two switches, and the cache is not a switch of decoding: neither is paired


@pytest.mark.slow  # a ResNet-50 at 224 px on the CPU: about a minute
def test_gpu_check_runs_end_to_end_on_the_cpu_at_tiny_sizes(tmp_path):
    """The check prepared for a lent GPU (python -m ddb.tools.gpu_check) runs its whole code path here first."""
    out = tmp_path / "gpu_check.json"
    gpu_check.main(["--tiny", "--no-rehearsal", "--device", "cpu", "--out", str(out), "--workers", "1"])
    result = json.loads(out.read_text())
    rows = result["rows"]
    machine, text = result["machine"], out.with_suffix(".md").read_text()
    assert machine["cpu_model"] and f"on {machine['cpu_model']} (cpu, " in text  # the caption names the processor,
    assert ("native bf16" if machine["native_bf16"] else "bf16 emulated") in text  # and whether it computes bf16
    assert "| crop on the device (ddb) -> crop in 1 DataLoader workers |" in text  # the input pipeline's switch
    assert {r["group"] for r in rows} == {"diffusion_train", "sampling", "input_pipeline"}
    assert [r["variant"] for r in rows if r["group"] == "diffusion_train"] == [
        "fp32", "bf16", "fp32+channels_last", "bf16+channels_last"]  # + torch.compile on a GPU
    assert {r["config"].split(", ")[1] for r in rows if r["group"] == "sampling"} == {
        "dpmsolver++ 20 steps", "ddpm 1000 steps"}
    assert [r["variant"].split(", ", 1)[1] for r in rows if r["group"] == "input_pipeline"] == [
        "tensors already on the device (the limit)", "store, crop on the device (ddb)",
        "store, crop in 1 DataLoader workers"]  # pinned memory on a GPU only
    assert all(r["images_per_s"] > 0 and r["peak_mb"] > 0 for r in rows)
