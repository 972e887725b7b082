"""The model families: one ``FamilySpec`` each, the only place a family is described.

Light on purpose (the estimator is named by its import path, not imported): the DAG file reads the names and
labels at parse time for the trigger form; ``training`` builds the estimators when a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib import import_module
from typing import Any

from include.bank_marketing.contracts import Grid


class Encoding(StrEnum):
    """How a family's pipeline presents categorical columns to its estimator."""

    ONEHOT = "onehot"  # one-hot, and numbers standardised: what a linear model needs
    ORDINAL = "ordinal"  # ordinal codes: enough for tree ensembles
    NATIVE = "native"  # ordinal codes declared categorical to the estimator (its native categorical support)


class Parallelism(StrEnum):
    """Where a family's fits use the cores (``config.N_JOBS`` of them), always as threads of the task's process.

    Threads, not joblib's worker processes: each worker process re-imports scikit-learn and holds its own copy
    of the training folds (355 MB at 16x the rows, BENCHMARKS.md), and under the LocalExecutor workers that
    outlive the task keep its output open, which held every training task 60 s past its end.
    """

    FOLDS = "folds"  # a single-threaded estimator: the search fits its folds side by side
    ESTIMATOR = "estimator"  # the estimator is multi-threaded itself (trees, OpenMP): folds one after another
    # One fold after another on one core, when side by side gains no time but doubles memory: logistic
    # regression's folds in threads hold the GIL (sparse one-hot input) and each holds its own transformed copy
    # of the data (at 16x the rows: 656 MB added in threads, 410 MB serially, 4.5 s against 4.3 s at 1x).
    SERIAL = "serial"


@dataclass(frozen=True)
class FamilySpec:
    """A model family: its label, estimator, encoding, fixed settings and default grid.

    ``grid`` keys are parameters of the family's ``Pipeline([("preprocess", ...), ("model", ...)])``: a name
    without ``__`` is the estimator's own (``C`` means ``model__C``), a full name reaches any step
    (``preprocess__numeric__impute__strategy``).
    """

    name: str
    label: str
    estimator: str  # import path of the scikit-learn class
    encoding: Encoding
    settings: Mapping[str, Any] = field(default_factory=dict)  # fixed, not searched
    grid: Grid = field(default_factory=dict)
    parallel: Parallelism = Parallelism.FOLDS

    def estimator_class(self) -> type:
        """The estimator class (imported on first use, so this module stays cheap at parse time)."""
        module, _, name = self.estimator.rpartition(".")
        return getattr(import_module(module), name)


# In the order they are tried and tie-broken. Settings and grids chosen from measurement (BENCHMARKS.md,
# "Faster to a better model"): all three search banking.csv in about a third of the 2026-11-28 grid's time.
SPECS: tuple[FamilySpec, ...] = (
    FamilySpec(
        name="logistic_regression",
        label="Logistic regression (the original lab's model), one-hot encoded and scaled",
        estimator="sklearn.linear_model.LogisticRegression",
        encoding=Encoding.ONEHOT,
        settings={"max_iter": 2000},
        grid={"C": [0.1, 1.0, 10.0]},
        parallel=Parallelism.SERIAL,
    ),
    FamilySpec(
        name="random_forest",
        label="Random forest, ordinal-encoded categoricals",
        estimator="sklearn.ensemble.RandomForestClassifier",
        encoding=Encoding.ORDINAL,
        # 60 trees, each on a bootstrap half of the rows: test AUC 0.9367 against 0.9365 for 100 trees, in 60 %
        # of the time. Depth capped at 24 (the old grid's deeper choice): unbounded trees grow with the rows.
        settings={"n_estimators": 60, "max_samples": 0.5, "max_depth": 24},
        grid={"min_samples_leaf": [3, 10]},
        parallel=Parallelism.ESTIMATOR,
    ),
    FamilySpec(
        name="hist_gradient_boosting",
        label="Histogram gradient boosting, native categorical support",
        estimator="sklearn.ensemble.HistGradientBoostingClassifier",
        encoding=Encoding.NATIVE,
        # "auto": early stopping on a 10 % validation split once the training fold has over 10,000 rows; tiny
        # inputs train without it (a split of a few rows would hold one class only). Learning rate 0.1 with
        # early stopping matched 0.05 without it (test AUC 0.9391 and 0.9388) in 40 % of the time.
        settings={"max_iter": 300, "early_stopping": "auto", "validation_fraction": 0.1, "learning_rate": 0.1},
        grid={"max_leaf_nodes": [15, 31]},
        parallel=Parallelism.ESTIMATOR,
    ),
)

FAMILIES: dict[str, FamilySpec] = {spec.name: spec for spec in SPECS}
# Name -> label, for the trigger form's choice list and the report.
LABELS: dict[str, str] = {spec.name: spec.label for spec in SPECS}


def get(name: str) -> FamilySpec:
    """The spec of family ``name``; ``ValueError`` naming the known ones otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family {name!r}; expected one of {', '.join(FAMILIES)}") from None


def of_estimator(estimator: Any) -> FamilySpec | None:
    """The family whose estimator class ``estimator`` is an instance of (None for another class)."""
    return next((spec for spec in SPECS if type(estimator) is spec.estimator_class()), None)


def rank(name: str) -> int:
    """Position of a family in ``SPECS``: ties on a score go to the lower rank. Unknown names rank last."""
    order = list(FAMILIES)
    return order.index(name) if name in order else len(order)
