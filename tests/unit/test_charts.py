"""charts: the run's four PNG charts."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from include.bank_marketing import charts, families
from tests.conftest import ROOT

CHART_NAMES = {"roc.png", "precision_recall.png", "confusion_matrix.png", "cv_auc.png"}
GRID_RESULTS = [
    {"family": "logistic_regression", "params": {"C": 0.1}, "cv_auc": 0.9011},
    {"family": "logistic_regression", "params": {"C": 1.0}, "cv_auc": 0.9023},
    {"family": "random_forest", "params": {"max_depth": 12, "min_samples_leaf": 2}, "cv_auc": 0.9187},
    {"family": "hist_gradient_boosting", "params": {"learning_rate": 0.1, "max_leaf_nodes": 31}, "cv_auc": 0.9312},
]


def synthetic_scores(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels with about 12 % positives (as in banking.csv) and probabilities that separate them imperfectly."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.12).astype(int)
    proba = np.clip(rng.normal(0.2 + 0.4 * y, 0.2), 0, 1)
    return y, proba


@pytest.fixture(scope="module")
def images() -> dict[str, bytes]:
    """The four charts of 400 synthetic rows, drawn once for the module (drawing is the slow part)."""
    y, proba = synthetic_scores(400)
    return charts.render(y, proba, 0.37, GRID_RESULTS)


def test_charts_are_the_four_named_pngs_in_caption_order(images):
    assert set(images) == CHART_NAMES == set(charts.CAPTIONS)
    assert list(charts.CAPTIONS) == ["roc.png", "precision_recall.png", "confusion_matrix.png", "cv_auc.png"]


@pytest.mark.parametrize("name", sorted(CHART_NAMES))
def test_every_chart_is_an_800x600_png(images, name):
    image = Image.open(io.BytesIO(images[name]))
    image.load()  # decodes the whole stream: a truncated PNG fails here, not only its header

    assert image.format == "PNG"
    assert image.size == charts.CHART_SIZE == (800, 600)
    assert "Software" not in image.info  # no matplotlib version string in the bytes


def test_charts_are_deterministic(images):
    y, proba = synthetic_scores(400)

    assert charts.render(y, proba, 0.37, GRID_RESULTS) == images


def test_charts_differ_with_the_threshold(images):
    y, proba = synthetic_scores(400)
    again = charts.render(y, proba, 0.6, GRID_RESULTS)

    # The threshold moves the PR marker and the confusion counts, nothing else.
    assert again["confusion_matrix.png"] != images["confusion_matrix.png"]
    assert again["precision_recall.png"] != images["precision_recall.png"]
    assert again["cv_auc.png"] == images["cv_auc.png"]


def test_grid_chart_takes_the_family_order_from_the_families_module(monkeypatch):
    # Two families with the same CV AUC: the one ranked first by families.rank (as in evaluation.select_best)
    # is the marked winner and gets the first colour; reversing the ranking changes the chart.
    tied = [
        {"family": "logistic_regression", "params": {"C": 1.0}, "cv_auc": 0.93},
        {"family": "random_forest", "params": {"max_depth": 12}, "cv_auc": 0.93},
    ]
    y, proba = synthetic_scores(100)
    as_listed = charts.render(y, proba, 0.5, tied)["cv_auc.png"]
    monkeypatch.setattr(families, "rank", lambda name: -families.SPECS.index(families.get(name)))

    assert charts.render(y, proba, 0.5, tied)["cv_auc.png"] != as_listed


def test_charts_leave_no_pyplot_figure_open(images):
    import matplotlib.pyplot as plt

    y, proba = synthetic_scores(100)
    charts.render(y, proba, 0.5, GRID_RESULTS)

    assert plt.get_fignums() == []


@pytest.mark.parametrize(
    ("y", "proba", "grid"),
    [
        pytest.param([0, 0, 0, 0], [0.1, 0.2, 0.7, 0.4], GRID_RESULTS, id="one-class"),
        pytest.param([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], [], id="no-grid-results"),
        pytest.param(
            [0, 1, 0, 1],
            [0.1, 0.9, 0.2, 0.8],
            [{"family": "random_forest", "params": {}, "cv_auc": float("nan")}, *GRID_RESULTS[:1]],
            id="nan-cv-auc",
        ),
        pytest.param([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], GRID_RESULTS, id="threshold-above-every-score"),
    ],
)
def test_charts_of_degenerate_inputs_are_still_800x600(y, proba, grid):
    images = charts.render(y, proba, 0.95, grid)

    assert set(images) == CHART_NAMES
    assert all(Image.open(io.BytesIO(png)).size == (800, 600) for png in images.values())


def test_charts_reject_mismatched_or_empty_inputs():
    with pytest.raises(ValueError, match="as many probabilities"):
        charts.render([0, 1, 1], [0.2, 0.8], 0.5, GRID_RESULTS)
    with pytest.raises(ValueError, match="as many probabilities"):
        charts.render([], [], 0.5, GRID_RESULTS)


def test_importing_charts_loads_no_plotting_or_ml_library():
    code = (
        "import sys, include.bank_marketing.charts; "
        "print(sorted(m for m in ('matplotlib', 'numpy', 'sklearn', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"
