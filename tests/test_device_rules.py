"""The code runs on a CPU here and on GPUs for its users: each class of GPU-only mistake is guarded here, by a static
check over ddb/ where a CPU cannot show it, by a behaviour test where it can.

- a random draw names its generator and is made on that generator's device (PyTorch refuses a CPU generator for a
  draw on a GPU: the diffusion model crashed at step 1 on any GPU);
- every ``torch.load`` says where the tensors go (a checkpoint written on a GPU could not resume on a CPU-only node);
- no compute job downloads (cluster nodes have no internet): weights come staged from the login node;
- a training step reads nothing back to the host (on a GPU the host would wait for the device every step);
- bf16 only where the device computes it, deterministic kernels as a switch, bounded checkpoint I/O.
"""

import ast
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from helpers import REPO

DDB = REPO / "ddb"
# torch functions that draw random numbers and take device= (the others draw on their input's device)
FACTORIES = {"rand", "randn", "randint", "randperm", "rand_like", "randn_like", "randint_like"}
INPUT_DEVICE_DRAWS = {"multinomial", "normal", "bernoulli", "poisson", "normal_", "uniform_", "bernoulli_", "random_",
                      "exponential_", "geometric_", "cauchy_", "log_normal_"}


def calls(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            yield node


def name_of(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def keyword(call: ast.Call, name: str):
    return next((k.value for k in call.keywords if k.arg == name), None)


def modules():
    return sorted(DDB.rglob("*.py"))


def test_every_random_draw_names_its_generator_and_happens_on_its_device():
    problems = []
    for path in modules():
        for call in calls(path):
            name = name_of(call)
            is_torch = isinstance(call.func, ast.Attribute) and ast.unparse(call.func.value) == "torch"
            if name in FACTORIES and is_torch or name in INPUT_DEVICE_DRAWS and (is_torch or name.endswith("_")):
                generator = keyword(call, "generator")
                where = f"{path.relative_to(REPO)}:{call.lineno}: {ast.unparse(call)[:90]}"
                if generator is None:
                    problems.append(f"{where} (no generator=: the draw is not fixed by the stage's seed)")
                elif name in FACTORIES:
                    device = keyword(call, "device")
                    expected = f"{ast.unparse(generator)}.device"
                    if device is None or ast.unparse(device) != expected:
                        problems.append(f"{where} (device= must be {expected})")
    assert not problems, "random draws off the rule (ddb/training/device.py):\n" + "\n".join(problems)


def test_every_torch_load_says_where_the_tensors_go():
    problems = [f"{path.relative_to(REPO)}:{call.lineno}" for path in modules() for call in calls(path)
                if name_of(call) == "load" and ast.unparse(call.func).startswith("torch.")
                and keyword(call, "map_location") is None]
    assert not problems, f"torch.load without map_location (a GPU's tensors on a CPU-only node): {problems}"


def test_no_compute_code_can_download():
    """Downloads live in the download machinery (ddb/datasets/fetch.py), which only the login-node rules run;
    torchvision builders get weights=None and their staged weights loaded by ddb.models.staged."""
    problems = []
    for path in modules():
        if path == DDB / "datasets/fetch.py":
            continue
        source = path.read_text()
        for marker in ("torch.hub", "load_state_dict_from_url", "urllib", "_Weights.", "get_state_dict(",
                       "download_url"):
            if marker in source:
                problems.append(f"{path.relative_to(REPO)} uses {marker}")
        for call in calls(path):
            for name in ("weights", "weights_backbone"):
                value = keyword(call, name)
                if value is not None and not (isinstance(value, ast.Constant) and value.value is None):
                    problems.append(f"{path.relative_to(REPO)}:{call.lineno}: {name}={ast.unparse(value)}")
    assert not problems, "\n".join(problems)


# ---- checkpoints: written on a GPU, resumed on a CPU-only node; hashed as written; bounded by time ----
class TaggedAsGpu:
    """While active, torch.save records CPU tensors as cuda:0 tensors: the file a GPU job writes."""

    active = False

    @classmethod
    def tag(cls, storage):
        return "cuda:0" if cls.active and storage.device.type == "cpu" else None


torch.serialization.register_package(1, TaggedAsGpu.tag, lambda storage, location: None)


def small_state(seed: int):
    from ddb.training.checkpoint import RandomState, TrainingRecord

    torch.manual_seed(seed)
    model = torch.nn.Linear(4, 3)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    record = TrainingRecord()
    record.add(torch.tensor(0.5))
    return model, optimizer, record, RandomState(torch.Generator().manual_seed(seed))


@pytest.mark.skipif(torch.cuda.is_available(), reason="shows the CPU-only node's side")
def test_a_checkpoint_written_on_a_gpu_resumes_on_a_cpu_only_node(tmp_path):
    from ddb.training.checkpoint import Checkpoint

    model, optimizer, record, random = small_state(1)
    writer = Checkpoint(tmp_path / "model", {"settings": 1}, every=5)
    writer.track(model=model, optimizer=optimizer, record=record, random=random)
    TaggedAsGpu.active = True
    try:
        writer.save(5)
    finally:
        TaggedAsGpu.active = False
    fresh_model, fresh_optimizer, fresh_record, fresh_random = small_state(2)
    reader = Checkpoint(tmp_path / "model", {"settings": 1}, every=5)
    reader.track(model=fresh_model, optimizer=fresh_optimizer, record=fresh_record, random=fresh_random)
    assert reader.restore() == 5  # not "damaged": the tensors are loaded onto this node's CPU
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh_model.state_dict().values()))
    assert fresh_record.running_count == 1


def test_checkpoint_digest_is_computed_while_writing_and_matches_the_file(tmp_path, monkeypatch):
    from ddb.core.integrity import file_digest
    from ddb.training import checkpoint as checkpoint_module

    model, optimizer, record, random = small_state(0)
    checkpoint = checkpoint_module.Checkpoint(tmp_path / "m", {}, every=1)
    checkpoint.track(model=model, optimizer=optimizer, record=record, random=random)
    monkeypatch.setattr(checkpoint_module, "file_digest", lambda *a: pytest.fail("the checkpoint was read back"))
    checkpoint.save(1)
    recorded = checkpoint.digest_path.read_text().split()[0]
    assert recorded == file_digest(checkpoint.path)


def test_checkpoints_are_bounded_by_time_not_by_the_devices_speed(monkeypatch):
    from ddb.training import checkpoint as checkpoint_module

    clock = [0.0]
    monkeypatch.setattr(checkpoint_module.time, "monotonic", lambda: clock[0])
    checkpoint = checkpoint_module.Checkpoint(Path("/nonexistent/m"), {}, every=100, minutes=10)
    clock[0] = 60.0  # a fast GPU reaches step 100 after a minute: too soon
    assert not checkpoint.wanted(100)
    clock[0] = 601.0
    assert not checkpoint.wanted(150) and checkpoint.wanted(200)  # on multiples of every, once 10 minutes passed
    assert checkpoint_module.Checkpoint(Path("/x/m"), {}, every=100, minutes=0).wanted(100)  # 0: every multiple


# ---- the training step reads nothing back to the host ----
def test_a_training_step_reads_nothing_back_to_the_host(monkeypatch):
    """Counts reads of tensor values by ddb's code (item, tolist, float/int/bool, numpy): the loop does them once per
    logged row, never per step, so twice the steps between rows cost no more reads. (PyTorch's Adam reads its step
    counter every step, a CPU tensor on every device unless the optimiser is fused or capturable.)"""
    import sys
    from ddb.algorithms.groupdro import GroupDRO
    from ddb.core.images import ImageSet
    from ddb.training.loop import fit, new_classifier

    reads = [0]
    for method in ("item", "tolist", "__float__", "__int__", "__bool__", "numpy"):
        original = getattr(torch.Tensor, method)

        def counted(self, *args, _original=original, **kwargs):
            reads[0] += str(DDB) in sys._getframe(1).f_code.co_filename
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, counted)
    generator = torch.Generator().manual_seed(0)
    data = ImageSet(torch.randint(0, 256, (64, 3, 8, 8), dtype=torch.uint8, generator=generator),
                    torch.arange(64) % 2, [str(i) for i in range(64)])
    settings = {"batch_size": 8, "lr": 1e-3, "weight_decay": 0.0, "precision": "fp32", "arch": "small_cnn",
                "pretrained": "no"}

    def reads_for(steps):
        model = new_classifier(settings, 2, torch.device("cpu"))
        objective = GroupDRO(torch.arange(64) % 4, {"step_size": 0.01, "adjustment": 0.0,
                                                     "balanced_sampler": False}, torch.device("cpu"))
        reads[0] = 0
        fit(model, data, settings, steps, torch.Generator().manual_seed(0), torch.device("cpu"), eval_every=steps,
            objective=objective)
        return reads[0]

    assert reads_for(8) == reads_for(4)


# ---- precision, determinism ----
def test_auto_precision_is_fp32_on_gpus_that_only_emulate_bf16(monkeypatch):
    from ddb.training.device import uses_bf16

    cuda = torch.device("cuda")
    for natively, expected in ((False, False), (True, True)):  # a V100 / T4, then an A100 / H100
        monkeypatch.setattr(torch.cuda, "is_bf16_supported",
                            lambda including_emulation=True, natively=natively: natively or including_emulation)
        assert uses_bf16(cuda, "auto") is expected
        assert uses_bf16(cuda, "bf16") is True  # asked for explicitly: the user's choice


@pytest.mark.parametrize("mode, cuda, deterministic", [("auto", False, True), ("auto", True, False),
                                                        ("yes", True, True), ("no", False, False)])
def test_deterministic_kernels_are_a_switch_on_by_default_on_a_cpu(monkeypatch, mode, cuda, deterministic):
    from ddb.training import device as device_module

    monkeypatch.setenv(device_module.DETERMINISTIC_ENV, mode)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    before = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.benchmark)
    try:
        device = device_module.setup(0)
        assert device.type == ("cuda" if cuda else "cpu")
        assert torch.are_deterministic_algorithms_enabled() is deterministic
        assert torch.backends.cudnn.benchmark is (cuda and not deterministic)
        assert torch.utils.deterministic.fill_uninitialized_memory is False  # no NaN-filling of every new tensor
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=True)
        torch.backends.cudnn.benchmark = before[1]


def test_deterministic_kernels_are_torch_s_switch_without_its_compiler_import():
    """ddb.training.device.use_deterministic_kernels skips torch.use_deterministic_algorithms' import of the compiler's
    config (it loads torch._dynamo, seconds of every job): correct only while torch's function sets nothing else.
    A torch upgrade that changes that function fails here; then read it again and adapt the shortcut."""
    source = textwrap.dedent(inspect.getsource(torch.use_deterministic_algorithms))
    body = ast.parse(source).body[0].body
    statements = [ast.unparse(node) for node in body[1:]]  # after the docstring
    assert statements == ["import torch._inductor.config as inductor_config", "inductor_config.deterministic = mode",
                          "_C._set_deterministic_algorithms(mode, warn_only=warn_only)"]

    # a stage that only evaluates: deterministic kernels (warnings where there are none), and torch._dynamo never loaded
    script = ("import sys, torch\nfrom ddb.training.device import setup\nsetup(0)\n"
              "print(torch.are_deterministic_algorithms_enabled(),"
              " torch.is_deterministic_algorithms_warn_only_enabled(), 'torch._dynamo' in sys.modules)")
    env = {**os.environ, "DDB_DEVICE": "cpu", "DDB_DETERMINISTIC": "yes"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True", "False"]

    # the compiler's flag follows: loaded already, set as torch sets it; loaded later, read from its variable
    import torch._inductor.config as inductor_config

    from ddb.training.device import use_deterministic_kernels

    before = torch.are_deterministic_algorithms_enabled(), inductor_config.deterministic
    try:
        for mode in (True, False):
            use_deterministic_kernels(mode)
            assert torch.are_deterministic_algorithms_enabled() is mode and inductor_config.deterministic is mode
            assert os.environ["TORCHINDUCTOR_DETERMINISTIC"] == str(int(mode))  # what a later import reads
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=True)
        inductor_config.deterministic = before[1]
        os.environ.pop("TORCHINDUCTOR_DETERMINISTIC", None)

def test_a_cpu_run_keeps_the_one_stream_it_always_had():
    from ddb.training.device import device_generator

    generator = torch.Generator().manual_seed(0)
    assert device_generator(generator, torch.device("cpu")) is generator  # CPU results stay those of before


# ---- SLURM: the partition follows from the gpu resource ----
def test_no_rule_or_profile_names_a_partition():
    texts = {path: path.read_text() for path in [*REPO.glob("rules/*.smk"), REPO / "slurm/config.yaml"]}
    assert not [path for path, text in texts.items() if "slurm_partition" in text]
    assert "slurm-partition-config: slurm/partitions.yaml" in texts[REPO / "slurm/config.yaml"]


class Job:
    def __init__(self, rule: str, gpu: int, threads: int = 4):
        self.name, self.threads = rule, threads
        self.resources = {"gpu": gpu, "mem_mb": 8000, "runtime": 240} if gpu else {"mem_mb": 4000, "runtime": 60}


class Logger:
    def info(self, *args):
        pass

    debug = warning = info


@pytest.mark.parametrize("partitions", ["profile", "site"])
def test_gpu_jobs_go_to_the_gpu_partition_and_the_rest_to_the_cpu_one(tmp_path, partitions):
    from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file

    from ddb.tools.slurm_profile import site_partitions

    path = REPO / "slurm/partitions.yaml"
    if partitions == "site":  # after `make slurm-profile ... CPU_PARTITION=short GPU_PARTITION=a100`
        path = tmp_path / "partitions.yaml"
        path.write_text(site_partitions((REPO / "slurm/partitions.yaml").read_text(), "short", "a100"))
    names = {"cpu": "cpu", "gpu": "gpu"} if partitions == "profile" else {"cpu": "short", "gpu": "a100"}
    available = read_partition_file(path)
    for rule, gpu in (("train_bias_classifier", 1), ("train_diffusion", 1), ("evaluate", 0), ("prepare_data", 0)):
        assert get_best_partition(available, Job(rule, gpu), Logger()) == names["gpu" if gpu else "cpu"]


def test_a_job_given_gpus_that_cuda_cannot_use_stops_instead_of_training_on_the_cpu(monkeypatch):
    from ddb.training.device import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for name in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "SLURM_GPUS_ON_NODE", "CUDA_VISIBLE_DEVICES", "DDB_DEVICE"):
        monkeypatch.delenv(name, raising=False)
    assert pick_device().type == "cpu"  # no GPU given: the CPU, as on a laptop
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    with pytest.raises(SystemExit, match=r"given GPUs \(CUDA_VISIBLE_DEVICES=0\).*nvidia-smi.*DDB_DEVICE=cpu"):
        pick_device()
    monkeypatch.setenv("DDB_DEVICE", "cpu")
    assert pick_device().type == "cpu"


def test_group_losses_keep_their_precision_under_bf16_autocast():
    from ddb.algorithms.groupdro import group_mean_losses

    losses = torch.rand(64, generator=torch.Generator().manual_seed(0)) * 3
    groups = torch.arange(64) % 4
    exact, _ = group_mean_losses(losses, groups, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast, _ = group_mean_losses(losses, groups, 4)
    assert autocast.dtype == torch.float32 and torch.equal(autocast, exact)
