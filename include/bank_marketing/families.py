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

    def estimator_class(self) -> type:
        """The estimator class (imported on first use, so this module stays cheap at parse time)."""
        module, _, name = self.estimator.rpartition(".")
        return getattr(import_module(module), name)


# In the order they are tried and tie-broken. Grids sized so all three train on banking.csv in well under
# 60 s on 2 cores (BENCHMARKS.md).
SPECS: tuple[FamilySpec, ...] = (
    FamilySpec(
        name="logistic_regression",
        label="Logistic regression (the original lab's model), one-hot encoded and scaled",
        estimator="sklearn.linear_model.LogisticRegression",
        encoding=Encoding.ONEHOT,
        settings={"max_iter": 2000},
        grid={"C": [0.1, 1.0, 10.0]},
    ),
    FamilySpec(
        name="random_forest",
        label="Random forest, ordinal-encoded categoricals",
        estimator="sklearn.ensemble.RandomForestClassifier",
        encoding=Encoding.ORDINAL,
        # Each tree sees a bootstrap half of the rows: half the fit time, no measurable loss of CV AUC here.
        settings={"n_estimators": 100, "max_samples": 0.5},
        grid={"max_depth": [12, 24], "min_samples_leaf": [2, 5]},
    ),
    FamilySpec(
        name="hist_gradient_boosting",
        label="Histogram gradient boosting, native categorical support",
        estimator="sklearn.ensemble.HistGradientBoostingClassifier",
        encoding=Encoding.NATIVE,
        # "auto": early stopping on a 10 % validation split once the training fold has over 10,000 rows; tiny
        # inputs train without it (a split of a few rows would hold one class only).
        settings={"max_iter": 300, "early_stopping": "auto", "validation_fraction": 0.1},
        grid={"learning_rate": [0.05, 0.1], "max_leaf_nodes": [15, 31]},
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


def rank(name: str) -> int:
    """Position of a family in ``SPECS``: ties on a score go to the lower rank. Unknown names rank last."""
    order = list(FAMILIES)
    return order.index(name) if name in order else len(order)
