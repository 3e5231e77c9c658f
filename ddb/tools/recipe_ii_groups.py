"""Recipe II's weights per group of the real training set, for diagnosis (uses bias labels: a tool, not a stage).

For each amplifier and each finished Recipe II model given, on the training images as the model sees them at
evaluation (its eval view), per group (class x bias-aligned / -conflicting): the amplifier's accuracy, its mean
probability of the label p_y, its mean loss L_amp, the model's mean loss L_model, and the mean weight
W = L_amp / (L_amp + L_model) that Recipe II's formula gives each sample against that model. The amplifier sees the
images either as they come (``as_batch``: what Recipe II showed it before the resize) or resized to its training
resolution (``resized``: what it sees now; ddb/models/resolution.py), its logits divided by the temperature each
model's run used (``recipes.ddb_ii.amplifier_temperature``).

The CSV has a row per class and alignment; the Markdown beside it (and the output) one per alignment.

    python -m ddb.tools.recipe_ii_groups --metadata results/shapes/data/metadata.parquet \
        --store results/shapes/data/store/native --amplifier synthetic=results/shapes/amplifier/synthetic/base/model \
        --model seed0=results/shapes/debias/ddb_ii/base/seed0/model --out groups.csv
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from ddb.core.images import load_split
from ddb.core.tables import read_table
from ddb.models.classifiers import load_classifier, predict_logits
from ddb.models.resolution import AtTrainedResolution
from ddb.training.augmentation import eval_view

CPU = torch.device("cpu")  # a diagnosis of finished models: the CPU is enough


def named_folders(values: list[str]) -> dict[str, Path]:
    """``{name: folder}`` of ``name=folder`` arguments."""
    pairs = [value.partition("=") for value in values]
    if any(not sep or not folder for _, sep, folder in pairs):
        raise SystemExit(f"give each model as name=folder, not {' '.join(values)}")
    return {name: Path(folder) for name, _, folder in pairs}


def sample_table(labels: torch.Tensor, aligned: pd.Series, amp_logits: torch.Tensor,
                 model_logits: torch.Tensor | None) -> pd.DataFrame:
    """Per training image: label, aligned, amp_acc, amp_p_label, amp_loss, the weight W_start = L_amp / (L_amp +
    ln K) against a model at chance (the start of training) and, with a finished model, its model_loss and W."""
    amp_loss = F.cross_entropy(amp_logits, labels, reduction="none")
    chance = math.log(amp_logits.shape[1])
    frame = pd.DataFrame({"label": labels.numpy(), "aligned": aligned.to_numpy(dtype=bool),
                          "amp_acc": (amp_logits.argmax(1) == labels).float().numpy(),
                          "amp_p_label": amp_logits.softmax(1).gather(1, labels[:, None])[:, 0].numpy(),
                          "amp_loss": amp_loss.numpy(), "W_start": (amp_loss / (amp_loss + chance)).numpy()})
    if model_logits is not None:
        model_loss = F.cross_entropy(model_logits, labels, reduction="none")
        frame["model_loss"] = model_loss.numpy()
        frame["W"] = (amp_loss / (amp_loss + model_loss + 1e-8)).numpy()
    return frame


def group_table(samples: pd.DataFrame, by: tuple[str, ...] = ("label", "aligned")) -> pd.DataFrame:
    """The means of :func:`sample_table` per group (``by``: class and alignment, or alignment alone), with n."""
    grouped = samples.drop(columns=[c for c in ("label", "aligned") if c not in by]).groupby(list(by))
    return grouped.mean().assign(n=grouped.size()).reset_index()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--metadata", required=True, type=Path)
    p.add_argument("--store", required=True, type=Path, help="the image store the Recipe II models trained on")
    p.add_argument("--amplifier", nargs="+", required=True, help="name=folder of each amplifier")
    p.add_argument("--model", nargs="*", default=[], help="name=folder of each finished Recipe II model")
    p.add_argument("--out", required=True, type=Path, help="CSV of the table (a Markdown copy beside it)")
    args = p.parse_args(argv)
    metadata = read_table(args.metadata, "metadata")
    train = load_split(metadata, args.store, "train")
    aligned = metadata.loc[metadata["split"] == "train", "bias_aligned"]
    models = {name: load_classifier(folder) for name, folder in named_folders(args.model).items()}
    model_logits = {name: predict_logits(model, train.images, CPU, view=eval_view(info["settings"]))
                    for name, (model, info) in models.items()} or {"-": None}
    # the models' eval view (a centre crop for resized_crop protocols) is the batch Recipe II's amplifier is shown
    view = eval_view(next(iter(models.values()))[1]["settings"]) if models else None
    tables, overall = [], []
    for amp_name, folder in named_folders(args.amplifier).items():
        amplifier, info = load_classifier(folder)
        for shown, net in (("as_batch", amplifier), ("resized", AtTrainedResolution(amplifier, info))):
            amp_logits = predict_logits(net, train.images, CPU, view=view)
            for model_name, logits in model_logits.items():
                # the temperature the Recipe II run divided the amplifier's logits by (recipes.ddb_ii)
                temperature = models[model_name][1].get("method_settings", {}).get("amplifier_temperature", 1) \
                    if model_name in models else 1
                names = {"amplifier": amp_name, "shown": shown, "model": model_name, "temperature": temperature}
                samples = sample_table(train.labels, aligned, amp_logits / temperature, logits)
                tables.append(group_table(samples).assign(**names))
                overall.append(group_table(samples, ("aligned",)).assign(**names))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    first = ["amplifier", "shown", "model", "temperature"]
    per_class, summary = (pd.concat(t, ignore_index=True) for t in (tables, overall))
    per_class[first + [c for c in per_class.columns if c not in first]].to_csv(args.out, index=False)
    summary = summary[first + [c for c in summary.columns if c not in first]]
    args.out.with_suffix(".md").write_text(summary.to_markdown(index=False, floatfmt=".3f"))
    print(summary.to_markdown(index=False, floatfmt=".3f"))


if __name__ == "__main__":
    main()
