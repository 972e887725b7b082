"""The default search against the one it replaced, on the pipeline's own split of banking.csv, in one process.

``python -m devtools.bench_search --out FILE`` (``make bench`` runs it in a child process): for each side, every
family searched with its default grid on the training split (3-fold CV, ROC AUC), the family the evaluate
stage would pick (best CV AUC, ties to the earlier family), and that model's test AUC; once with ``duration``
and once without it.

* **before**: the default search of 2026-11-28 (``BEFORE``): ``GridSearchCV`` with ``n_jobs=-1`` (joblib's
  worker processes), no calendar columns, random forest 100 trees x 4 candidates, boosting 4 candidates
  with early stopping at learning rate 0.05 or 0.1.
* **after**: ``training.grid_search`` as the DAG runs it today.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from devtools import local_aws

# The families as they were on 2026-11-28 (commit d0b1fb5), for the "before" side.
BEFORE: dict[str, dict[str, Any]] = {
    "logistic_regression": {"settings": {"max_iter": 2000}, "grid": {"C": [0.1, 1.0, 10.0]}},
    "random_forest": {
        "settings": {"n_estimators": 100, "max_samples": 0.5},
        "grid": {"max_depth": [12, 24], "min_samples_leaf": [2, 5]},
    },
    "hist_gradient_boosting": {
        "settings": {"max_iter": 300, "early_stopping": "auto", "validation_fraction": 0.1},
        "grid": {"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]},
    },
}


def _before_search(family: str, train: Any, numeric: list[str], categorical: list[str]) -> tuple[Any, float]:
    """The 2026-11-28 search of one family: its pipeline had no calendar step and its folds ran in processes."""
    from dataclasses import replace

    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import Pipeline

    from include.bank_marketing import config, families, training
    from include.bank_marketing.families import Parallelism
    from include.bank_marketing.preprocessing import build_preprocessor, features_and_target

    spec = replace(families.get(family), settings=BEFORE[family]["settings"], parallel=Parallelism.FOLDS)
    x, y = features_and_target(train)
    pipe = Pipeline(
        [
            (training.PREPROCESS_STEP, build_preprocessor(numeric, categorical, spec.encoding)),
            (training.MODEL_STEP, training.make_estimator(spec, [True] * len(categorical) + [False] * len(numeric))),
        ]
    )
    search = GridSearchCV(
        pipe,
        {training.pipeline_param(k): v for k, v in BEFORE[family]["grid"].items()},
        scoring="roc_auc",
        cv=StratifiedKFold(n_splits=config.DEFAULT_CV_FOLDS, shuffle=True, random_state=config.RANDOM_STATE),
        n_jobs=-1,
        refit=True,
    )
    started = time.perf_counter()
    search.fit(x, y)
    return search, time.perf_counter() - started


def compare(drop_duration: bool) -> dict[str, Any]:
    """Both sides on one split: per family its search time and CV AUC; the pick and its test AUC."""
    from sklearn.metrics import roc_auc_score

    from include.bank_marketing import config, families, preprocessing, training, validation
    from include.bank_marketing.preprocessing import features_and_target

    parsed = validation.parse_csv(local_aws.DATA_FILE.read_bytes())
    frame, numeric, categorical = parsed.frame, list(parsed.numeric), list(parsed.categorical)
    if drop_duration:
        frame, numeric = frame.drop(columns="duration"), [c for c in numeric if c != "duration"]
    train, test = preprocessing.split(frame)
    x_test, y_test = features_and_target(test)
    out: dict[str, Any] = {}
    for side in ("before", "after"):
        fits: dict[str, dict[str, Any]] = {}
        models = {}
        for family in families.FAMILIES:
            if side == "before":
                search, seconds = _before_search(family, train, numeric, categorical)
                models[family], cv_auc = search.best_estimator_, float(search.best_score_)
                params = {training.display_param(k): v for k, v in search.best_params_.items()}
            else:
                spec = {"family": family, "grid": dict(families.get(family).grid)}
                started = time.perf_counter()
                models[family], summary = training.grid_search(spec, train, numeric, categorical, 3)
                seconds, cv_auc, params = time.perf_counter() - started, summary["cv_auc"], summary["best_params"]
            fits[family] = {"seconds": round(seconds, 2), "cv_auc": round(cv_auc, 4), "best_params": params}
        pick = max(families.FAMILIES, key=lambda f: (fits[f]["cv_auc"], -families.rank(f)))
        auc = roc_auc_score(y_test, models[pick].predict_proba(x_test)[:, 1])
        out[side] = {
            "families": fits,
            "search_s": round(sum(f["seconds"] for f in fits.values()), 2),
            "pick": pick,
            "test_auc": round(float(auc), 4),
        }
    out["rows"] = {"train": len(train), "test": len(test), "seed": config.RANDOM_STATE}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    result = {"with_duration": compare(False), "without_duration": compare(True)}
    args.out.write_text(json.dumps(result, indent=1))
    for name, sides in result.items():
        for side in ("before", "after"):
            s = sides[side]
            print(f"search {name} {side}: {s['search_s']} s, pick {s['pick']}, test AUC {s['test_auc']}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
