"""Label-free health signals of a synthetic set and its amplifier, and how well they predict the labelled measures.

A user with their own data has no bias labels, so cannot measure rho or detection. For every synthetic amplifier
under the results roots this computes signals that need no bias label (from model.json, training_log.csv and
scores.parquet) next to the measures that do (rho_synthetic, detection AUROC / precision / recall), then the
Spearman rank correlation of each signal with each measure across all of them:

- ``holdout_acc`` / ``holdout_loss``: the amplifier on its held-out synthetic images (at the kept epoch);
- ``real_error_rate``: the share of real training images it misclassifies (its error set);
- ``worst_class_error_rate`` / ``class_error_spread``: the largest per-class share, and the max / mean ratio;
- ``error_confidence``: its mean confidence on the real images it misclassifies (a bias it follows is confident);
- ``error_concentration``: the share of errors in the most frequent (class, predicted class) pair of their class
  (always 1 with two classes).

Each amplifier also gets the verdict ``evaluate_amplifier`` writes (``health``, ddb/algorithms/amplifier_health.py),
and a table gives the measures of the amplifiers of each verdict.

The correlations are taken within each dataset (datasets differ in every signal, so pooling them would rank the
datasets) and over all points pooled, for reference.

    python -m ddb.tools.health_signal --results /work/claims/results /work/sweep/results --out results/health
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from ddb.algorithms.amplifier_health import health_signals, health_verdict
from ddb.tools.generator_sweep import point_files

SIGNALS = ["holdout_acc", "holdout_loss", "real_error_rate", "worst_class_error_rate", "class_error_spread",
           "error_confidence", "error_concentration"]
MEASURES = ["rho_synthetic", "amp_auroc", "amp_precision", "amp_recall"]
# the verdict, the signals it is made of, and the labelled measures it should predict
VERDICT_COLUMNS = ["dataset", "variant", "health", "real_error_rate", "worst_class_error_rate", "holdout_margin",
                   *MEASURES]


def signals(model_info: dict, training_log: pd.DataFrame, scores: pd.DataFrame) -> dict[str, float]:
    """The label-free signals of one amplifier (``scores``: its scores.parquet rows of the training split)."""
    kept = training_log.set_index("epoch").loc[model_info["best_epoch"]]
    per_class = scores.groupby("label")["amp_misclassified"].mean()
    error_set = health_signals(scores["label"], scores["amp_misclassified"], model_info["holdout_acc"])
    errors = scores[scores["amp_misclassified"]]
    pair_share = (errors.groupby(["label", "amp_pred"]).size().groupby(level=0).max().sum() / len(errors)
                  if len(errors) else float("nan"))
    return {"holdout_acc": model_info["holdout_acc"], "holdout_loss": float(kept["holdout_loss"]),
            **error_set,
            "class_error_spread": float(per_class.max() / per_class.mean()) if per_class.mean() > 0 else float("nan"),
            "error_confidence": float(errors["amp_confidence"].mean()) if len(errors) else float("nan"),
            "error_concentration": float(pair_share)}


def amplifier_rows(root: Path) -> list[dict]:
    rows = []
    for model_json in sorted(root.glob("*/amplifier/synthetic/*/model/model.json")):
        folder, dataset = model_json.parent.parent, model_json.parts[-6]
        variant = folder.name
        point = point_files(dataset, variant, root)
        files = {"log": folder / "model/training_log.csv", "scores": folder / "scores.parquet",
                 "detection": point["detection"], "rho": point["rho_synthetic"]}
        if not all(path.exists() for path in files.values()):
            continue
        scores = pd.read_parquet(files["scores"])
        detection = json.loads(files["detection"].read_text())
        values = signals(json.loads(model_json.read_text()), pd.read_csv(files["log"]),
                         scores[scores["split"] == "train"])
        rows.append({"root": str(root), "dataset": dataset, "variant": variant, "health": health_verdict(values),
                     **values,
                     "rho_synthetic": json.loads(files["rho"].read_text())["rho"],
                     **{k: detection.get(k) for k in MEASURES[1:]}})
    return rows


def correlations(rows: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rho of each signal with each measure, within each dataset family (``cfmnist_steps500`` counts as
    ``cfmnist``) and pooled; a column ``n`` gives the points."""
    families = rows["dataset"].str.split("_").str[0]
    tables = []
    for name, part in [*rows.groupby(families), ("all", rows)]:
        table = part[SIGNALS + MEASURES].astype(float).corr(method="spearman").loc[SIGNALS, MEASURES]
        tables.append(table.assign(dataset=name, n=len(part)).rename_axis("signal").reset_index())
    return pd.concat(tables, ignore_index=True)


def by_verdict(rows: pd.DataFrame) -> pd.DataFrame:
    """The labelled measures of the amplifiers of each health verdict: how many, mean, min and max."""
    table = rows.groupby("health")[MEASURES].agg(["mean", "min", "max"])
    table.columns = [f"{measure} {stat}" for measure, stat in table.columns]
    return table.assign(n=rows.groupby("health").size()).reset_index()


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", nargs="+", type=Path, default=[Path("results")])
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    # the same (dataset, synthetic set) under two roots (a sweep that copied a finished run) counts once
    rows = pd.DataFrame([row for root in args.results for row in amplifier_rows(root)])
    rows = rows.drop_duplicates(["dataset", "variant"], ignore_index=True)
    if rows.empty:
        raise SystemExit(f"no synthetic amplifier with its scores, detection and rho under {args.results}")
    args.out.mkdir(parents=True, exist_ok=True)
    rows.to_csv(args.out / "health_signals.csv", index=False)
    table = correlations(rows)
    table.to_csv(args.out / "health_correlations.csv", index=False)
    verdicts = rows[VERDICT_COLUMNS].sort_values(["dataset", "health", "amp_auroc"], ascending=[True, False, False])
    text = (f"{len(rows)} synthetic amplifiers (every signal in health_signals.csv)\n\n"
            f"{verdicts.to_markdown(index=False, floatfmt='.3f')}\n\n"
            f"Spearman rank correlation, signal x measure:\n\n{table.to_markdown(index=False, floatfmt='.2f')}\n\n"
            f"The measures by health verdict:\n\n{by_verdict(rows).to_markdown(index=False, floatfmt='.3f')}\n")
    (args.out / "health.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
