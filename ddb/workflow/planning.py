"""What the rules derive from the validated config, as plain Python that unit tests cover (rules/common.smk only
wires it to wildcards): the datasets to run (with the conflicting-ratio sweep), each dataset's stage sections (the
global section with the dataset's preset overrides), the sampling variants, the runs and the amplifiers they use,
the resources per dataset, and every job's params: its settings as canonical JSON and its code identity.

Names: a *method* is a module of ddb/methods/; a *run* is a method plus, for methods using the synthetic amplifier,
``/<sampling variant>`` and, for methods using a real-data amplifier of the memorisation sweep, ``/epochs=<n>``; an
*amplifier* is ``real``, ``real/epochs=<n>`` or ``synthetic/<sampling variant>``, the folder under
``results/<dataset>/amplifier/`` holding it.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import yaml
from snakemake.utils import validate

from ddb import datasets, methods
from ddb.models import pretrained
from ddb.models.unet import shape_problems
from ddb.workflow.code_identity import CodeIndex

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "ddb" / "config.schema.yaml"
# config sections a dataset's ``overrides`` may change
STAGE_SECTIONS = ("diffusion", "sampling", "amplifier", "real_amplifier", "bias_classifier", "classifier", "recipes",
                  "baselines")


def merged(base: dict, changes: dict) -> dict:
    """``base`` with ``changes`` merged in, recursively for nested sections (``recipes``)."""
    out = copy.deepcopy(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def checked_section(section: str, settings: dict, where: str) -> dict:
    """``settings`` validated as the config section ``section`` (defaults filled); errors name ``where``."""
    settings = copy.deepcopy(settings)
    try:
        validate({section: settings}, str(SCHEMA))
    except Exception as error:
        raise ValueError(f"config {where}: {error}") from None
    return settings


def checked_sections(sections: dict[str, dict], where: str) -> dict[str, dict]:
    """``sections`` (config section -> settings) validated in one pass (defaults filled); an error names
    ``where.<section>``. One pass, because every validation loads the schema anew (a third of a second) and every
    SLURM job plans the workflow twice."""
    checked = copy.deepcopy(sections)
    try:
        validate(checked, str(SCHEMA))
    except Exception:
        for section, settings in sections.items():  # find the section to name
            checked_section(section, settings, f"{where}.{section}")
        raise
    return checked


def coerce_to_schema(value, node: dict | None = None, defs: dict | None = None):
    """``value`` with strings turned into the numbers and booleans the schema asks for. Snakemake reads ``--config``
    values as strings (``--config 'diffusion={steps: 2}'`` gives ``{"steps": "2"}``), so this runs before
    validation; a string that is no such number stays a string, and validation names it."""
    if node is None:
        schema = yaml.safe_load(SCHEMA.read_text())
        node, defs = schema, schema["$defs"]
    if "$ref" in node:
        node = {**defs[node["$ref"].rsplit("/", 1)[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    if isinstance(value, dict):
        properties, other = node.get("properties", {}), node.get("additionalProperties")
        return {key: coerce_to_schema(item, properties.get(key, other if isinstance(other, dict) else {}), defs)
                for key, item in value.items()}
    if isinstance(value, list):
        return [coerce_to_schema(item, node.get("items", {}), defs) for item in value]
    if isinstance(value, str):
        kind = node.get("type")
        try:
            if kind == "integer" and re.fullmatch(r"[+-]?\d+", value.strip()):
                return int(value)
            if kind == "number":
                return float(value)
        except ValueError:
            return value
        if kind == "boolean" and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
    return value


def canonical_json(value) -> str:
    """A job's settings as a params value: equal settings give equal strings, so only real changes rerun a job."""
    return json.dumps(value, sort_keys=True)


def sampling_variant_name(override: dict) -> str:
    """The name of the synthetic set a ``sweeps.sampling`` entry adds (``num_inference_steps=1000,scheduler=ddpm``);
    the empty override is the base set."""
    return ",".join(f"{key}={override[key]}" for key in sorted(override)) or "base"


class Plan:
    """The workflow's plan for one validated config (defaults filled by the schema)."""

    def __init__(self, config: dict, code_root: str | Path = REPO):
        self.config = config
        self.code = CodeIndex(code_root)
        self.specs = self._dataset_specs()
        self.datasets = list(self.specs)
        self.methods = tuple(config["methods"])
        self.method_info = {name: methods.method(name) for name in methods.method_names()}
        self.synthetic_methods = tuple(m for m in self.methods if self.amplifier_trained_on(m) == "synthetic")
        self.sampling_variants = self._sampling_variants()
        base_epochs = config["real_amplifier"]["epochs"]
        # the memorisation sweep: real-data amplifiers by epochs ("" = the base amplifier, folder ``real``)
        self.real_variants = {"": {}} | {f"epochs={n}": {"epochs": n}
                                         for n in config["sweeps"]["real_amplifier_epochs"] if n != base_epochs}
        self.sections = {dataset: self._stage_sections(dataset) for dataset in self.datasets}
        self._dataset_inputs: dict[str, dict] = {}
        for dataset in self.datasets:  # a bad CSV of your own dataset stops here, before any job runs
            check = datasets.source(self.source(dataset)).check
            if check is not None:
                check(self.source_settings(dataset))

    # ---- datasets ----
    def _dataset_specs(self) -> dict[str, dict]:
        """``run_datasets`` (all configured datasets when empty), plus one copy of every built-in benchmark per
        ``sweeps.conflicting_ratio`` value, named ``<name>_ratio<value>``."""
        configured = self.config["datasets"]
        unknown = sorted(set(self.config["run_datasets"]) - set(configured))
        if unknown:
            raise ValueError(f"config run_datasets names {unknown}, which are not under datasets: {sorted(configured)}")
        specs = {name: self._finally_overridden(name, configured[name])
                 for name in self.config["run_datasets"] or configured}
        ratios = self.config["sweeps"]["conflicting_ratio"]
        builtin = {name: spec for name, spec in specs.items() if spec["source"] == "builtin_shapes"}
        if ratios and not builtin:
            raise ValueError("config sweeps.conflicting_ratio needs a dataset with source: builtin_shapes")
        for name, spec in builtin.items():
            for ratio in ratios:
                swept = copy.deepcopy(spec)
                swept["builtin_shapes"]["conflicting_ratio"] = ratio
                specs.setdefault(f"{name}_ratio{ratio:g}", swept)
        return specs

    def _finally_overridden(self, name: str, spec: dict) -> dict:
        """A dataset's spec with ``final_overrides.sources.<its source>`` merged into its source settings."""
        changes = self.config["final_overrides"]["sources"].get(spec["source"])
        if not changes:
            return spec
        spec = merged(spec, {spec["source"]: changes})
        return checked_section("datasets", {name: spec}, f"final_overrides.sources.{spec['source']}")[name]

    def source(self, dataset: str) -> str:
        return self.specs[dataset]["source"]

    def source_settings(self, dataset: str) -> dict:
        """The dataset's own settings (``datasets.<name>.<source>``)."""
        return self.specs[dataset][self.source(dataset)]

    def class_indices(self, dataset: str) -> list[int]:
        """Class indices of a dataset, known before any job runs so that a dry run shows the whole DAG."""
        return list(range(datasets.source(self.source(dataset)).num_classes(self.source_settings(dataset))))

    def source_spec(self, dataset: str):
        """The dataset's ``SOURCE`` record: only the configured datasets' source modules are ever imported."""
        return datasets.source(self.source(dataset))

    def dataset_inputs(self, dataset: str) -> dict[str, str | list[str]]:
        """What the dataset's preparation reads: what its source declares (a generated folder; a CSV of your own and
        the images it lists), else the folder its download extracted ({} for a built-in benchmark)."""
        if dataset not in self._dataset_inputs:
            spec = self.source_spec(dataset)
            declared = spec.inputs(dataset, self.source_settings(dataset))
            downloaded = {"raw": f"results/downloads/{self.source(dataset)}/extracted"} if spec.files else {}
            self._dataset_inputs[dataset] = declared or downloaded
        return self._dataset_inputs[dataset]

    def _download_owners(self) -> dict[str, str]:
        """Every download the configured datasets need (a source with files, or a component another source is made
        of) -> the source that declares its files."""
        owners = {}
        for source in sorted({self.source(dataset) for dataset in self.datasets}):
            spec = datasets.source(source)
            owners |= ({source: source} if spec.files else {}) | {component: source for component in spec.components}
        return owners

    def downloads(self) -> list[str]:
        return sorted(self._download_owners())

    def download_owner(self, download: str) -> str:
        return self._download_owners()[download]

    def download_flags(self, download: str) -> str:
        """The download stage's ``--source <owner>``, plus ``--component <download>`` for a component's files."""
        owner = self.download_owner(download)
        return f"--source {owner}" + ("" if owner == download else f" --component {download}")

    def resource(self, dataset: str, rule: str, resource: str, default: int) -> int:
        """``datasets.<name>.resources.<rule>.<resource>`` (its preset), else the rule's default."""
        return self.specs[dataset].get("resources", {}).get(rule, {}).get(resource, default)

    # ---- stage sections ----
    def _stage_sections(self, dataset: str) -> dict[str, dict]:
        """Every stage section for one dataset: the global section with the dataset's ``overrides`` (its preset), then
        ``final_overrides`` (a rehearsal's sizes), checked against the schema and against each other (the UNet's
        shape, the sampler's steps)."""
        overrides, final = self.specs[dataset].get("overrides", {}), self.config["final_overrides"]
        sections = checked_sections({section: merged(merged(self.config[section], overrides.get(section, {})),
                                                     final.get(section, {}))
                                     for section in STAGE_SECTIONS}, f"datasets.{dataset}.overrides")
        problems = shape_problems(sections["diffusion"])
        timesteps = sections["diffusion"]["num_train_timesteps"]
        for variant, override in self.sampling_variants.items():
            steps = (sections["sampling"] | override)["num_inference_steps"]
            if steps > timesteps:
                problems.append(f"sampling variant {variant}: num_inference_steps {steps} exceeds the diffusion "
                                f"model's num_train_timesteps {timesteps}")
        if problems:
            raise ValueError(f"config for dataset {dataset} (diffusion / sampling sections and the dataset's "
                             f"overrides): {'; '.join(problems)}")
        return sections

    def _sampling_variants(self) -> dict[str, dict]:
        """Synthetic-set variants by name: ``base`` (the ``sampling`` section as is), and one per ``sweeps.sampling``
        entry, named by its overrides (``guidance_w=2.0``, ``num_inference_steps=1000,scheduler=ddpm``)."""
        base = self.config["sampling"]
        variants = {"base": {}}
        for index, override in enumerate(self.config["sweeps"]["sampling"]):
            checked_section("sampling", base | override, f"sweeps.sampling[{index}] = {override}")
            if any(base.get(key) != value for key, value in override.items()):  # else: the base again
                variants[sampling_variant_name(override)] = override
        return variants

    def section(self, dataset: str, section: str) -> dict:
        return self.sections[dataset][section]

    def sampling_section(self, dataset: str, variant: str) -> dict:
        return self.section(dataset, "sampling") | self.sampling_variants[variant]

    def real_amplifier_section(self, dataset: str, amplifier: str = "real") -> dict:
        """The ablation's amplifier ``real`` or ``real/epochs=<n>``: the amplifier section with the
        ``real_amplifier`` changes and the sweep entry's."""
        variant = amplifier.partition("/")[2]
        return self.section(dataset, "amplifier") | self.section(dataset, "real_amplifier") | self.real_variants[variant]

    def bias_classifier_section(self, dataset: str) -> dict:
        """The evaluation-only bias classifier: the amplifier section with the ``bias_classifier`` changes."""
        return self.section(dataset, "amplifier") | self.section(dataset, "bias_classifier")

    # ---- pretrained weights: results/weights/<name>, staged on the login node (rule stage_weights) ----
    @staticmethod
    def weight_names() -> list[str]:
        return sorted(pretrained.WEIGHTS)

    def _weight_users(self) -> list[tuple[str, str]]:
        """(weight name, pretrained setting) of every classifier or detector a configured dataset may build."""
        users = []
        for dataset in self.datasets:
            real = [self.real_amplifier_section(dataset, f"real/{v}" if v else "real") for v in self.real_variants]
            sections = [self.section(dataset, "classifier"), self.section(dataset, "amplifier"),
                        self.bias_classifier_section(dataset), *real]
            users += [(pretrained.weights_needed(s["arch"], s["pretrained"]), s["pretrained"]) for s in sections]
            users += [(name, "yes") for name in self.source_spec(dataset).staged_weights(self.source_settings(dataset))]
        return [(name, setting) for name, setting in users if name]

    def weight_optional(self, name: str) -> bool:
        """Whether every user of weight ``name`` says ``pretrained: auto`` (staging may then fail with a warning)."""
        return all(setting == "auto" for weight, setting in self._weight_users() if weight == name)

    def weight_source(self, name: str) -> dict:
        """The config's {url, sha256} for weight ``name`` ({}: torchvision's file)."""
        return self.config["pretrained_weights"].get(name, {})

    @staticmethod
    def staged_weights(name: str | None, key: str = "pretrained_weights") -> dict[str, str]:
        """The input of a job that starts from weight ``name``: ``{key: results/weights/<name>}`` ({}: none)."""
        return {key: f"results/weights/{name}"} if name else {}

    def classifier_weights(self, settings: dict) -> dict[str, str]:
        """The staged-weights input of a job training a classifier of ``settings`` (arch, pretrained)."""
        return self.staged_weights(pretrained.weights_needed(settings["arch"], settings["pretrained"]))

    def mask_weights(self, dataset: str) -> dict[str, str]:
        """UrbanCars' generation (rule generate_urbancars): the staged weights its source declares, the Mask R-CNN
        with ``car_mask: maskrcnn``."""
        names = self.source_spec(dataset).staged_weights(self.source_settings(dataset))
        return self.staged_weights(names[0] if names else None, "mask_weights")

    # ---- image stores: results/<dataset>/data/store/<resolution> ----
    def diffusion_resolution(self, dataset: str) -> str:
        """The store the diffusion model trains on, which the synthetic amplifier and the bias classifier see too."""
        return f"{self.section(dataset, 'diffusion')['image_size']}px"

    def amplifier_resolution(self, dataset: str, amplifier: str) -> str:
        """The store an amplifier scores: the real images as prepared for a real-data amplifier (it trained on
        them), at the synthetic images' resolution for one trained on a synthetic set."""
        return "native" if amplifier.startswith("real") else self.diffusion_resolution(dataset)

    def measures_bias(self, dataset: str) -> bool:
        """Whether rho is measured for the dataset: it has bias labels and some method uses a synthetic set."""
        return bool(self.synthetic_methods) and datasets.source(self.source(dataset)).has_bias_labels(
            self.source_settings(dataset))

    def method_settings(self, dataset: str, method: str) -> dict:
        """The method's own section (``recipes.ddb_i``, ``baselines.jtt``) for this dataset; {} when it has none."""
        key = self.method_info[method].settings_key()
        if key is None:
            return {}
        section, name = key
        return self.section(dataset, section)[name]

    # ---- runs and amplifiers ----
    def amplifier_trained_on(self, method: str) -> str | None:
        return self.method_info[method].amplifier_trained_on

    def runs(self) -> list[str]:
        """Every configured run: one per method, one per sampling variant for synthetic-amplifier methods, and one
        per entry of the memorisation sweep for real-amplifier methods."""
        runs = []
        for method in self.methods:
            if method in self.synthetic_methods:
                runs += [f"{method}/{v}" for v in self.sampling_variants]
            elif self.amplifier_trained_on(method) == "real":
                runs += [f"{method}/{v}" if v else method for v in self.real_variants]
            else:
                runs.append(method)
        return runs

    def run_seeds(self, run: str) -> list[int]:
        """The seeds of a run: every seed, but for runs on the memorisation sweep's amplifiers those of
        ``sweeps.real_amplifier_seeds`` when given (its amplifiers are cheap, a run per seed is not)."""
        chosen = self.config["sweeps"]["real_amplifier_seeds"]
        swept = (self.amplifier_of(run) or "").startswith("real/")
        return [s for s in self.config["seeds"] if s in chosen] if swept and chosen else list(self.config["seeds"])

    def run_seed_pairs(self) -> list[tuple[str, int]]:
        return [(run, seed) for run in self.runs() for seed in self.run_seeds(run)]

    @staticmethod
    def run_method(run: str) -> str:
        return run.split("/")[0]

    def amplifier_of(self, run: str) -> str | None:
        """The amplifier a run uses (``real``, ``real/epochs=<n>``, ``synthetic/<variant>``), or None."""
        method, _, variant = run.partition("/")
        trained_on = self.amplifier_trained_on(method)
        return f"{trained_on}/{variant}" if trained_on and variant else trained_on

    def used_amplifiers(self) -> list[str]:
        return sorted({self.amplifier_of(run) for run in self.runs()} - {None})

    def base_run(self, run: str) -> str | None:
        """The run whose finished model ``run`` reads (its method's ``builds_on``, with the run's sampling or
        memorisation variant when that method uses the same kind of amplifier), or None."""
        method, _, variant = run.partition("/")
        base = self.method_info[method].builds_on
        if base is None:
            return None
        same_amplifier = variant and self.amplifier_trained_on(base) == self.amplifier_trained_on(method)
        return f"{base}/{variant}" if same_amplifier else base

    def method_inputs(self, dataset: str, run: str, seed: int | str) -> dict[str, str]:
        """What a run's training job reads besides the metadata, by input kind (methods.INPUT_KINDS): what its
        method needs, and for pseudo-group model selection the scores of its amplifier, or of the synthetic one when
        it has none."""
        amplifier = self.amplifier_of(run)
        kinds = list(self.method_info[self.run_method(run)].needs)
        if self.section(dataset, "classifier")["selection"] == "label_free_pseudo_group":
            kinds.append("selection_scores")
        fields = {"dataset": dataset, "amplifier": amplifier or "synthetic/base", "base_run": self.base_run(run),
                  "seed": seed}
        return {kind: methods.INPUT_KINDS[kind].path.format(**fields) for kind in kinds}

    def wildcard_patterns(self) -> dict[str, str]:
        """Regular expressions of the ``sampling``, ``real_amplifier``, ``amplifier`` and ``run`` wildcards."""
        variant = "|".join(re.escape(name) for name in self.sampling_variants)
        swept = "|".join(re.escape(name) for name in self.real_variants if name)
        real = rf"(?:/(?:{swept}))?" if swept else ""
        by_amplifier = {name: self.amplifier_trained_on(name) for name in self.method_info}
        return {
            "sampling": variant,
            "real_amplifier": rf"real{real}",
            "amplifier": rf"real{real}|synthetic/(?:{variant})",
            "run": "|".join([re.escape(m) for m, on in by_amplifier.items() if on is None]
                            + [rf"{m}{real}" for m, on in by_amplifier.items() if on == "real"]
                            + [rf"{m}/(?:{variant})" for m, on in by_amplifier.items() if on == "synthetic"]),
        }

    # ---- code identities: the ``code`` param of every rule ----
    def stage_code(self, stage: str) -> str:
        """A stage whose code does not depend on the job's wildcards."""
        return self.code.identity(f"ddb.{stage}")

    def dataset_code(self, stage: str, dataset: str) -> str:
        """A stage that loads the dataset's source module by name (prepare_data)."""
        return self.code.identity(f"ddb.{stage}", f"ddb.datasets.{self.source(dataset)}")

    def download_code(self, download: str) -> str:
        """The download stage for one download: the source module that declares its files."""
        return self.code.identity("ddb.download", f"ddb.datasets.{self.download_owner(download)}")

    def method_code(self, method: str) -> str:
        """train_debiased for one method: the method's module (which the stage loads by name), and the modules of
        the methods whose models it builds on (an edit of ERM reruns what was built on ERM's model)."""
        return self.code.identity("ddb.train_debiased", *(f"ddb.methods.{m}" for m in methods.methods_built_on(method)))
