"""charts: the run's four PNG charts and the five campaign charts."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from include.bank_marketing import charts, families
from include.bank_marketing.contracts import CampaignCurves
from tests.conftest import ROOT

CHART_NAMES = {"roc.png", "precision_recall.png", "confusion_matrix.png", "cv_auc.png"}
CAMPAIGN_CHART_NAMES = ["gains.png", "lift.png", "profit.png", "calibration.png", "importance.png"]
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
    assert set(images) == CHART_NAMES
    assert list(charts.CAPTIONS)[:4] == ["roc.png", "precision_recall.png", "confusion_matrix.png", "cv_auc.png"]


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


# --- the campaign charts --------------------------------------------------------------------------------------


def _gains(y: np.ndarray, score: np.ndarray, label: str) -> dict:
    """The cumulative gains of ranking ``y`` by ``score``, at 1 % steps of the customers (101 points)."""
    hits = np.concatenate([[0], np.cumsum(y[np.argsort(-score, kind="stable")])])
    called = np.linspace(0, 1, 101)
    reached = hits[np.round(called * len(y)).astype(int)] / max(int(y.sum()), 1)
    return {"label": label, "share_called": called.tolist(), "share_reached": reached.tolist()}


def campaign_curves(n: int = 2000) -> CampaignCurves:
    """campaign.json of ``n`` synthetic test rows: the model and a weaker compared family, a profit curve over 101
    thresholds at the default economics, 10 calibration bins and 12 columns' importance (one of them negative)."""
    y, proba = synthetic_scores(n)
    weaker = proba + np.random.default_rng(1).normal(0, 0.2, n)
    thresholds = np.linspace(0, 1, 101)
    calls = np.array([(proba >= t).sum() for t in thresholds])
    subscribers = np.array([y[proba >= t].sum() for t in thresholds])
    bins = np.minimum((proba * 10).astype(int), 9)
    filled = [b for b in range(10) if (bins == b).any()]
    return {
        "rows": n,
        "positives": int(y.sum()),
        "economics": {"cost_per_call": 5.0, "value_per_subscription": 100.0},
        "threshold_rule": "f1",
        "thresholds": {"f1": 0.43, "profit": 0.085},
        "rankings": [_gains(y, proba, "model"), _gains(y, weaker, "logistic_regression")],
        "profit": {
            "threshold": thresholds.round(2).tolist(),
            "calls": calls.tolist(),
            "subscribers": subscribers.tolist(),
            "profit": (100.0 * subscribers - 5.0 * calls).tolist(),
        },
        "calibration": {
            "mean_predicted": [float(proba[bins == b].mean()) for b in filled],
            "observed": [float(y[bins == b].mean()) for b in filled],
            "rows": [int((bins == b).sum()) for b in filled],
        },
        "importance": [
            {"column": f"column_{i}", "mean": 0.08 / (i + 1) - 0.008, "std": 0.002 + 0.001 * i} for i in range(12)
        ],
        "importance_repeats": 5,
    }


@pytest.fixture(scope="module")
def campaign_images() -> dict[str, bytes]:
    """The five campaign charts of the synthetic curves, drawn once for the module."""
    return charts.render_campaign(campaign_curves())


def test_campaign_charts_are_the_five_named_pngs_captioned_after_the_four(campaign_images):
    assert list(campaign_images) == CAMPAIGN_CHART_NAMES
    assert list(charts.CAPTIONS) == [
        "roc.png",
        "precision_recall.png",
        "confusion_matrix.png",
        "cv_auc.png",
        *CAMPAIGN_CHART_NAMES,
    ]
    assert all(charts.CAPTIONS[name].strip() for name in CAMPAIGN_CHART_NAMES)


@pytest.mark.parametrize("name", CAMPAIGN_CHART_NAMES)
def test_every_campaign_chart_is_an_800x600_png(campaign_images, name):
    image = Image.open(io.BytesIO(campaign_images[name]))
    image.load()

    assert image.format == "PNG"
    assert image.size == charts.CHART_SIZE == (800, 600)
    assert "Software" not in image.info


def test_campaign_charts_are_deterministic(campaign_images):
    assert charts.render_campaign(campaign_curves()) == campaign_images


def test_campaign_importance_shows_the_top_columns_only(campaign_images):
    fewer = charts.render_campaign(campaign_curves(), top=3)
    every = charts.render_campaign(campaign_curves(), top=50)  # more than the 12 columns: all of them

    # campaign_images holds the default top 10; `top` changes the importance bars and nothing else.
    assert len({fewer["importance.png"], campaign_images["importance.png"], every["importance.png"]}) == 3
    assert (
        _except(fewer, "importance.png")
        == _except(every, "importance.png")
        == _except(campaign_images, "importance.png")
    )


def test_campaign_profit_chart_marks_the_operating_rule(campaign_images):
    curves = campaign_curves()
    curves["threshold_rule"] = "profit"
    again = charts.render_campaign(curves)

    assert again["profit.png"] != campaign_images["profit.png"]
    assert _except(again, "profit.png") == _except(campaign_images, "profit.png")


def _except(images: dict[str, bytes], name: str) -> dict[str, bytes]:
    return {k: v for k, v in images.items() if k != name}


def _without_positives(curves: dict) -> None:
    curves["positives"] = 0
    for ranking in curves["rankings"]:
        ranking["share_reached"] = [0.0] * len(ranking["share_called"])


def _empty_everything(curves: dict) -> None:
    curves.update(
        rankings=[],
        thresholds={},
        profit={"threshold": [], "calls": [], "subscribers": [], "profit": []},
        calibration={"mean_predicted": [], "observed": [], "rows": []},
        importance=[],
    )


def _partly_missing(curves: dict) -> None:
    # Only the compared family's ranking, and a few values that are not numbers: drawn without notes.
    curves["rankings"][0].update(share_called=[], share_reached=[])
    curves["importance"][0]["mean"] = float("nan")
    curves["calibration"]["observed"][0] = float("nan")
    curves["thresholds"]["profit"] = float("nan")


@pytest.mark.parametrize(
    ("change", "notes"),
    [
        pytest.param(_without_positives, {"gains.png", "lift.png", "importance.png"}, id="no-positives"),
        pytest.param(lambda c: c.update(rankings=[]), {"gains.png", "lift.png"}, id="no-rankings"),
        pytest.param(lambda c: c.update(importance=[]), {"importance.png"}, id="no-importance"),
        pytest.param(_empty_everything, set(CAMPAIGN_CHART_NAMES), id="empty-curves"),
        pytest.param(_partly_missing, set(), id="partly-missing"),
    ],
)
def test_campaign_charts_of_degenerate_curves_draw_notes(campaign_images, monkeypatch, change, notes):
    curves = campaign_curves()  # a fresh dict to change
    change(curves)
    noted: list[str] = []
    note = charts._note
    monkeypatch.setattr(charts, "_note", lambda ax, text: (noted.append(text), note(ax, text)))

    images = charts.render_campaign(curves)

    assert list(images) == CAMPAIGN_CHART_NAMES
    assert all(Image.open(io.BytesIO(png)).size == (800, 600) for png in images.values())
    assert len(noted) == len(notes)
    # Each note replaces its chart of the full curves.
    assert {name for name in notes if images[name] != campaign_images[name]} == notes
