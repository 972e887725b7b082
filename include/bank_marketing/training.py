"""Training: one ``GridSearchCV`` (stratified k-fold, ROC AUC) per model family."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator, Mapping
from typing import Any

import joblib
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline

from include.bank_marketing import config, families, layout, storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import Candidate, Grid, SearchSummary, Split, TrainingSpec
from include.bank_marketing.families import Encoding, FamilySpec, Parallelism
from include.bank_marketing.preprocessing import (
    CalendarFeatures,
    build_preprocessor,
    category_cap,
    derived_columns,
    features_and_target,
)

MODEL_STEP = "model"
PREPROCESS_STEP = "preprocess"
DERIVE_STEP = "derive"


def make_estimator(spec: FamilySpec, categorical_mask: list[bool] | None = None) -> Any:
    """The family's unfitted estimator with its fixed settings and, where it takes one, the shared random_state."""
    cls = spec.estimator_class()
    kwargs = dict(spec.settings)
    defaults = cls().get_params()
    if "random_state" in defaults:
        kwargs["random_state"] = config.RANDOM_STATE
    if "n_jobs" in defaults and spec.parallel is Parallelism.ESTIMATOR:
        kwargs["n_jobs"] = config.N_JOBS
    # Native categorical support needs to know which (positional) columns are categorical.
    if spec.encoding is Encoding.NATIVE and categorical_mask and any(categorical_mask):
        kwargs["categorical_features"] = categorical_mask
    return cls(**kwargs)


def make_pipeline(
    spec: FamilySpec, numeric: list[str], categorical: list[str], max_categories: int | None = None
) -> Pipeline:
    """``Pipeline([derive, preprocess, model])`` for a family: scores raw rows once fitted. ``derive`` adds the
    calendar columns (:class:`~include.bank_marketing.preprocessing.CalendarFeatures`), which ``preprocess``
    treats as numbers. ``max_categories``: see :func:`~include.bank_marketing.preprocessing.category_cap`."""
    numeric = numeric + derived_columns(numeric + categorical)
    # The preprocessor emits categorical columns first, so the mask is positional.
    mask = [True] * len(categorical) + [False] * len(numeric)
    return Pipeline(
        [
            (DERIVE_STEP, CalendarFeatures()),
            (PREPROCESS_STEP, build_preprocessor(numeric, categorical, spec.encoding, max_categories)),
            (MODEL_STEP, make_estimator(spec, mask)),
        ]
    )


def fold_jobs(spec: FamilySpec | None, n_jobs: int = config.N_JOBS) -> int:
    """``n_jobs`` for fitting a family's cross-validation folds: ``n_jobs`` when its estimator is
    single-threaded, 1 when it uses the cores itself (two multi-threaded fits side by side only contend)."""
    return n_jobs if spec is None or spec.parallel is Parallelism.FOLDS else 1


@contextlib.contextmanager
def in_threads() -> Generator[None]:
    """Run joblib's parallel loops (a search's or ``cross_val_predict``'s folds) in threads of this process.

    scikit-learn's fits spend their time in compiled code that releases the GIL, so threads use the cores as
    worker processes would, without a second copy of the data or of the libraries per worker
    (:class:`~include.bank_marketing.families.Parallelism`).
    """
    with joblib.parallel_config(backend="threading"):
        yield


def pipeline_param(name: str) -> str:
    """A grid key as a pipeline parameter: a bare name is the estimator's (``C`` -> ``model__C``)."""
    return name if "__" in name else f"{MODEL_STEP}__{name}"


def display_param(name: str) -> str:
    """A pipeline parameter as reports show it: the estimator's own without the step prefix."""
    return name.removeprefix(f"{MODEL_STEP}__")


def plan(names: list[str], overrides: Mapping[str, Grid] | None = None) -> list[TrainingSpec]:
    """One ``{"family", "grid"}`` per requested family: the default grid, or the override given for it.

    Rejects unknown families, overrides for families not requested, parameters that no pipeline step has and
    empty value lists, so a typo in the trigger form fails before any training starts.
    """
    overrides = overrides or {}
    if not isinstance(overrides, Mapping):
        raise ValueError(f"param_grids must be a JSON object of {{family: {{parameter: [values]}}}}, got {overrides!r}")
    if not names:
        raise ValueError("model_families is empty; choose at least one family")
    for name in [*names, *overrides]:
        families.get(name)  # raises on an unknown family
    stray = [f for f in overrides if f not in names]
    if stray:
        raise ValueError(f"param_grids overrides {stray[0]!r}, which is not in model_families {names}")
    specs: list[TrainingSpec] = []
    for name in dict.fromkeys(names):  # keep order, drop repeats
        family = families.get(name)
        grid = overrides.get(name, family.grid)
        if not isinstance(grid, Mapping) or not grid:
            raise ValueError(f"param_grids[{name!r}] must be a non-empty {{parameter: [values]}} object, got {grid!r}")
        # Column names do not matter to the parameter names, so an empty pipeline lists them all.
        valid = make_pipeline(family, [], []).get_params()
        spelled: dict[str, str] = {}
        for key, values in grid.items():
            if pipeline_param(key) in spelled:  # "C" and "model__C": one list would silently replace the other
                raise ValueError(
                    f"param_grids[{name!r}] names one parameter twice: {spelled[pipeline_param(key)]!r} and {key!r}"
                )
            spelled[pipeline_param(key)] = key
            if pipeline_param(key) not in valid:
                raise ValueError(
                    f"param_grids[{name!r}]: {key!r} is not a parameter of {family.estimator.rsplit('.', 1)[-1]} "
                    f"nor of a pipeline step (write e.g. {PREPROCESS_STEP}__numeric__impute__strategy)"
                )
            if not isinstance(values, list) or not values:
                raise ValueError(f"param_grids[{name!r}][{key!r}] must be a non-empty list, got {values!r}")
        specs.append({"family": name, "grid": dict(grid)})
    return specs


def grid_search(
    spec: TrainingSpec,
    train: Any,
    numeric: list[str],
    categorical: list[str],
    cv_folds: int,
    *,
    n_jobs: int = config.N_JOBS,
) -> tuple[Pipeline, SearchSummary]:
    """Fit ``GridSearchCV`` for one family on the training split; return the refitted best pipeline and a summary.

    ``n_jobs`` cores at most, in threads: across folds, or inside each fit (``fold_jobs``)."""
    x, y = features_and_target(train)
    family = families.get(spec["family"])
    search = GridSearchCV(
        make_pipeline(family, numeric, categorical, category_cap(x[categorical])),
        {pipeline_param(k): v for k, v in spec["grid"].items()},
        scoring="roc_auc",
        cv=StratifiedKFold(n_splits=cv_folds, shuffle=True, random_state=config.RANDOM_STATE),
        n_jobs=fold_jobs(family, n_jobs),
        refit=True,
        error_score="raise",  # a failing fit is an error to see, not a NaN score to rank
    )
    started = time.perf_counter()
    with in_threads():
        search.fit(x, y)
    elapsed = time.perf_counter() - started
    i = search.best_index_
    results = search.cv_results_
    summary: SearchSummary = {
        "family": spec["family"],
        "best_params": _params(search.best_params_),
        "cv_auc": round(float(search.best_score_), 4),
        "cv_auc_std": round(float(results["std_test_score"][i]), 4),
        "cv_folds": cv_folds,
        "candidates": len(results["params"]),
        "fit_seconds": round(elapsed, 2),
        "grid_results": [
            {"params": _params(p), "cv_auc": round(float(m), 4)}
            for p, m in zip(results["params"], results["mean_test_score"], strict=True)
        ],
    }
    return search.best_estimator_, summary


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as reports show them, numpy scalars made Python ones so the summary is JSON for XCom."""
    return {display_param(k): v.item() if hasattr(v, "item") else v for k, v in params.items()}


def train_planned(run: RunContext, split: Split, spec: TrainingSpec, cv_folds: int) -> Candidate:
    """Grid-search one planned family on the split's training rows and write its best pipeline to the run's
    candidates; returns the ``Candidate`` for XCom (the pickle stays in S3)."""
    train = storage.read_parquet(run.s3, split["train_uri"])
    model, summary = grid_search(spec, train, split["numeric"], split["categorical"], cv_folds)
    saved = storage.save_model(run.s3, run.uri(layout.candidate(spec["family"])), model)
    return {**summary, "model_uri": saved["uri"], "sha256": saved["sha256"], "model_bytes": saved["bytes"]}


__all__ = ["fold_jobs", "grid_search", "in_threads", "make_estimator", "make_pipeline", "plan", "train_planned"]
