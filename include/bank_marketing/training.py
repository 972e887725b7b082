"""Training: one ``GridSearchCV`` (stratified k-fold, ROC AUC) per model family."""

from __future__ import annotations

import time
from typing import Any

from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from include.bank_marketing import config, storage
from include.bank_marketing.layout import run_key, s3_uri
from include.bank_marketing.preprocessing import build_preprocessor, features_and_target

_ESTIMATORS = {
    "logistic_regression": LogisticRegression,
    "random_forest": RandomForestClassifier,
    "hist_gradient_boosting": HistGradientBoostingClassifier,
}


def make_estimator(family: str, categorical_mask: list[bool] | None = None) -> Any:
    """The family's unfitted estimator with its fixed settings and the shared random_state."""
    if family not in _ESTIMATORS:
        raise ValueError(f"unknown model family {family!r}; expected one of {', '.join(config.FAMILIES)}")
    kwargs = dict(config.ESTIMATOR_SETTINGS.get(family, {}))
    if family != "logistic_regression":
        kwargs["random_state"] = config.RANDOM_STATE
    if family == "hist_gradient_boosting" and categorical_mask and any(categorical_mask):
        kwargs["categorical_features"] = categorical_mask
    return _ESTIMATORS[family](**kwargs)


def make_pipeline(family: str, numeric: list[str], categorical: list[str]) -> Pipeline:
    """``Pipeline([preprocess, model])`` for a family: scores raw rows once fitted."""
    encoding = config.ENCODING.get(family)
    if encoding is None:
        raise ValueError(f"unknown model family {family!r}; expected one of {', '.join(config.FAMILIES)}")
    # The preprocessor emits categorical columns first, so the mask is positional.
    mask = [True] * len(categorical) + [False] * len(numeric)
    return Pipeline(
        [
            ("preprocess", build_preprocessor(numeric, categorical, encoding)),
            ("model", make_estimator(family, mask)),
        ]
    )


def plan(families: list[str], overrides: dict[str, dict[str, list]] | None = None) -> list[dict[str, Any]]:
    """One ``{"family", "grid"}`` per requested family: the default grid, or the override given for it.

    Rejects unknown families, overrides for families not requested, unknown estimator parameters and
    empty value lists, so a typo in the trigger form fails before any training starts.
    """
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise ValueError(f"param_grids must be a JSON object of {{family: {{parameter: [values]}}}}, got {overrides!r}")
    if not families:
        raise ValueError("model_families is empty; choose at least one family")
    unknown = [f for f in [*families, *overrides] if f not in config.FAMILIES]
    if unknown:
        raise ValueError(f"unknown model family {unknown[0]!r}; expected one of {', '.join(config.FAMILIES)}")
    stray = [f for f in overrides if f not in families]
    if stray:
        raise ValueError(f"param_grids overrides {stray[0]!r}, which is not in model_families {families}")
    specs = []
    for family in dict.fromkeys(families):  # keep order, drop repeats
        grid = overrides.get(family, config.PARAM_GRIDS[family])
        if not isinstance(grid, dict) or not grid:
            raise ValueError(
                f"param_grids[{family!r}] must be a non-empty {{parameter: [values]}} object, got {grid!r}"
            )
        valid = make_estimator(family).get_params()
        for name, values in grid.items():
            if name not in valid:
                raise ValueError(
                    f"param_grids[{family!r}]: {name!r} is not a parameter of {_ESTIMATORS[family].__name__}"
                )
            if not isinstance(values, list) or not values:
                raise ValueError(f"param_grids[{family!r}][{name!r}] must be a non-empty list, got {values!r}")
        specs.append({"family": family, "grid": grid})
    return specs


def grid_search(
    family: str,
    train: Any,
    numeric: list[str],
    categorical: list[str],
    grid: dict[str, list],
    cv_folds: int = config.DEFAULT_CV_FOLDS,
    n_jobs: int = config.N_JOBS,
) -> tuple[Pipeline, dict[str, Any]]:
    """Fit ``GridSearchCV`` for one family on the training split; return the refitted best pipeline and a summary."""
    x, y = features_and_target(train)
    search = GridSearchCV(
        make_pipeline(family, numeric, categorical),
        {f"model__{k}": v for k, v in grid.items()},
        scoring="roc_auc",
        cv=StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=config.RANDOM_STATE),
        n_jobs=n_jobs,
        refit=True,
        error_score="raise",  # a failing fit is an error to see, not a NaN score to rank
    )
    started = time.perf_counter()
    search.fit(x, y)
    elapsed = time.perf_counter() - started
    i = search.best_index_
    results = search.cv_results_
    summary = {
        "family": family,
        "best_params": {k.removeprefix("model__"): _plain(v) for k, v in search.best_params_.items()},
        "cv_auc": round(float(search.best_score_), 4),
        "cv_auc_std": round(float(results["std_test_score"][i]), 4),
        "cv_folds": cv_folds,
        "candidates": len(results["params"]),
        "fit_seconds": round(elapsed, 2),
        "grid_results": [
            {"params": {k.removeprefix("model__"): _plain(v) for k, v in p.items()}, "cv_auc": round(float(m), 4)}
            for p, m in zip(results["params"], results["mean_test_score"], strict=True)
        ],
    }
    return search.best_estimator_, summary


def _plain(value: Any) -> Any:
    """numpy scalars to Python ones, so the summary is JSON for XCom."""
    return value.item() if hasattr(value, "item") else value


def train_family(
    s3: Any,
    train_uri: str,
    bucket: str,
    run_id: str,
    family: str,
    grid: dict[str, list],
    numeric: list[str],
    categorical: list[str],
    cv_folds: int,
) -> dict[str, Any]:
    """Grid-search one family on the training split in S3 and write its best pipeline to the run's candidates.

    Returns ``{family, best_params, cv_auc, model_uri, sha256, ...}`` for XCom (the pickle stays in S3).
    """
    train = storage.read_parquet(s3, train_uri)
    model, summary = grid_search(family, train, numeric, categorical, grid, cv_folds)
    saved = storage.save_model(s3, s3_uri(bucket, run_key(run_id, f"candidates/{family}.joblib")), model)
    return {**summary, "model_uri": saved["uri"], "sha256": saved["sha256"], "model_bytes": saved["bytes"]}


def train_planned(
    s3: Any, split: dict[str, Any], bucket: str, run_id: str, spec: dict[str, Any], cv_folds: int
) -> dict[str, Any]:
    """``train_family`` for one ``{"family", "grid"}`` of ``plan``, on the split that preprocessing wrote."""
    return train_family(
        s3, split["train_uri"], bucket, run_id, spec["family"], spec["grid"], split["numeric"], split["categorical"],
        cv_folds,
    )  # fmt: skip


__all__ = ["grid_search", "make_estimator", "make_pipeline", "plan", "train_family", "train_planned"]
