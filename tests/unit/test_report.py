"""report: the run's PNG charts and the self-contained HTML page."""

from __future__ import annotations

import base64
import copy
import io
import re
import subprocess
import sys
import time
from html.parser import HTMLParser

import numpy as np
import pytest
from PIL import Image

from include.bank_marketing import config, report
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
    return report.charts(y, proba, 0.37, GRID_RESULTS)


def make_context(**changes) -> dict:
    """A report context as the DAG builds it (plain JSON values), with top-level keys replaced by ``changes``."""
    context = {
        "run_id": "manual__2026-11-28T05:34:00+00:00",
        "dag_id": "bank_marketing",
        "created_at": "2026-11-28T05:41:12+00:00",
        "family": "hist_gradient_boosting",
        "params": {"learning_rate": 0.1, "max_leaf_nodes": 31},
        "cv_auc": 0.9312,
        "threshold": 0.37,
        "metrics": {
            "at_0_5": {"auc": 0.9371, "f1": 0.5412, "precision": 0.6633, "recall": 0.4571, "accuracy": 0.9101},
            "at_threshold": {"auc": 0.9371, "f1": 0.6012, "precision": 0.5623, "recall": 0.6458, "accuracy": 0.9007},
        },
        "baselines": dict(config.BASELINES),
        "champion": {
            "run_id": "scheduled__2026-11-27T05:00:00+00:00",
            "auc": 0.9302,
            "decision": "promoted",
            "reason": "challenger AUC 0.9371 beats champion 0.9302 by more than 0.002",
        },
        "data": {
            "input_uri": "s3://bank-ml/incoming/banking.csv",
            "rows": 45211,
            "class_counts": {"0": 39922, "1": 5289},
            "numeric": ["age", "balance", "campaign"],
            "categorical": ["job", "marital", "education"],
            "dropped": ["duration"],
        },
        "drift": {
            "threshold": 0.2,
            "max_psi": 0.4137,
            "drifted": [{"column": "balance", "psi": 0.4137}, {"column": "job", "psi": 0.2519}],
            "columns": {
                "age": {"kind": "numeric", "psi": 0.0123},
                "balance": {"kind": "numeric", "psi": 0.4137},
                "campaign": {"kind": "numeric", "psi": 0.0871},
                "job": {"kind": "categorical", "psi": 0.2519, "unseen_share": 0.031},
            },
            "summary": "drift in 2 columns: balance PSI 0.41, job PSI 0.25 (threshold 0.2)",
        },
        "artifacts": {
            "model": {
                "uri": "s3://bank-ml/runs/r/model.joblib",
                "url": "https://bank-ml.s3.amazonaws.com/runs/r/model.joblib?X-Amz-Signature=abc",
            },
            "new_csv": {"uri": "s3://bank-ml/runs/r/new.csv", "url": None},
        },
    }
    context.update(copy.deepcopy(changes))
    return context


def h1_text(page: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", page, re.S).group(1))


def table_row(page: str, first_cell: str) -> str:
    """The markup of the first table row whose first cell is ``first_cell``."""
    return re.search(rf"<tr[^>]*><td>{re.escape(first_cell)}</td>.*?</tr>", page).group(0)


class _Collector(HTMLParser):
    """Every tag with its attributes, to check what the page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector.tags


# --- charts ------------------------------------------------------------------------------------------------


def test_charts_are_the_four_named_pngs(images):
    assert set(images) == CHART_NAMES


@pytest.mark.parametrize("name", sorted(CHART_NAMES))
def test_every_chart_is_an_800x600_png(images, name):
    image = Image.open(io.BytesIO(images[name]))
    image.load()  # decodes the whole stream: a truncated PNG fails here, not only its header

    assert image.format == "PNG"
    assert image.size == report.CHART_SIZE == (800, 600)
    assert "Software" not in image.info  # no matplotlib version string in the bytes


def test_charts_are_deterministic(images):
    y, proba = synthetic_scores(400)

    assert report.charts(y, proba, 0.37, GRID_RESULTS) == images


def test_charts_differ_with_the_threshold(images):
    y, proba = synthetic_scores(400)
    again = report.charts(y, proba, 0.6, GRID_RESULTS)

    # The threshold moves the PR marker and the confusion counts, nothing else.
    assert again["confusion_matrix.png"] != images["confusion_matrix.png"]
    assert again["precision_recall.png"] != images["precision_recall.png"]
    assert again["cv_auc.png"] == images["cv_auc.png"]


def test_charts_leave_no_pyplot_figure_open(images):
    import matplotlib.pyplot as plt

    y, proba = synthetic_scores(100)
    report.charts(y, proba, 0.5, GRID_RESULTS)

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
    images = report.charts(y, proba, 0.95, grid)

    assert set(images) == CHART_NAMES
    assert all(Image.open(io.BytesIO(png)).size == (800, 600) for png in images.values())


def test_charts_reject_mismatched_or_empty_inputs():
    with pytest.raises(ValueError, match="as many probabilities"):
        report.charts([0, 1, 1], [0.2, 0.8], 0.5, GRID_RESULTS)
    with pytest.raises(ValueError, match="as many probabilities"):
        report.charts([], [], 0.5, GRID_RESULTS)


def test_charts_of_9000_rows_take_under_3_seconds(images):
    # The module fixture has already imported matplotlib and scikit-learn: this times the drawing itself.
    y, proba = synthetic_scores(9000, seed=1)
    start = time.perf_counter()
    images = report.charts(y, proba, 0.37, GRID_RESULTS * 3)
    elapsed = time.perf_counter() - start

    assert set(images) == CHART_NAMES
    assert elapsed < 3.0, f"charts() took {elapsed:.2f} s for 9,000 rows"


def test_importing_report_loads_no_plotting_or_ml_library():
    code = (
        "import sys, include.bank_marketing.report; "
        "print(sorted(m for m in ('matplotlib', 'numpy', 'sklearn', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


# --- html: content ------------------------------------------------------------------------------------------


def test_html_shows_every_metric_the_threshold_and_the_baselines(images):
    context = make_context()
    page = report.html(context, images)

    for column in ("at_0_5", "at_threshold"):
        for name in config.METRICS:
            assert f"{context['metrics'][column][name]:.4f}" in table_row(page, name)
    for name, baseline in config.BASELINES.items():
        assert f"{baseline:.4f}" in table_row(page, name)
    assert "at threshold 0.37" in page
    assert "<strong>0.37</strong>" in page


def test_html_shows_the_model_the_decision_and_the_data(images):
    page = report.html(make_context(), images)

    assert "<strong>hist_gradient_boosting</strong>" in page
    assert "0.9312" in page  # CV AUC
    assert "<td>learning_rate</td><td>0.1</td>" in page
    assert "<td>max_leaf_nodes</td><td>31</td>" in page
    assert "Promoted to champion" in page
    assert "challenger AUC 0.9371 beats champion 0.9302 by more than 0.002" in page
    assert "scheduled__2026-11-27T05:00:00+00:00" in page
    assert "manual__2026-11-28T05:34:00+00:00" in page
    assert "45,211" in page
    assert "11.7% positive" in page  # 5289 / 45211
    for column in ("age", "balance", "campaign", "job", "marital", "education", "duration"):
        assert f"<code>{column}</code>" in page


def test_html_kept_champion_reads_as_not_promoted(images):
    champion = {"run_id": "r0", "auc": 0.95, "decision": "kept_champion", "reason": "challenger AUC 0.9371 < 0.95"}
    page = report.html(make_context(champion=champion), images)

    assert "Not promoted: the champion is kept" in page
    assert "challenger AUC 0.9371 &lt; 0.95" in page
    assert "Promoted to champion" not in page


def test_html_drift_table_is_sorted_by_psi_with_drifted_columns_highlighted(images):
    context = make_context()
    page = report.html(context, images)

    assert f"<p>{context['drift']['summary']}</p>" in page
    rows = re.findall(r"<tr( class=\"drifted\")?><td>(\w+)</td><td>(?:numeric|categorical)</td>", page)
    assert [name for _, name in rows] == ["balance", "job", "campaign", "age"]
    assert {name for drifted, name in rows if drifted} == {"balance", "job"}
    assert "3.1%" in table_row(page, "job")  # unseen categories
    assert "<strong>balance</strong>, <strong>job</strong>" in page


def test_html_embeds_every_chart_as_a_data_uri(images):
    page = report.html(make_context(), images)

    for name, png in images.items():
        assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page, name
        assert report.CAPTIONS[name] in page
    # In the page's order: ROC, PR, confusion matrix, grid search.
    positions = [page.index(base64.b64encode(images[n]).decode()) for n in report.CAPTIONS]
    assert positions == sorted(positions)


def test_html_loads_nothing_external_and_links_only_the_given_artifacts(images):
    context = make_context()
    page = report.html(context, images)
    tags = parse(page)

    assert not [t for t, _ in tags if t in {"script", "link", "iframe", "object", "embed"}]
    assert "@import" not in page
    assert "url(" not in page
    srcs = [a["src"] for t, a in tags if "src" in a]
    assert len(srcs) == 4
    assert all(src.startswith("data:image/png;base64,") for src in srcs)
    hrefs = [a["href"] for t, a in tags if "href" in a]
    assert hrefs == [context["artifacts"]["model"]["url"]]
    assert 'src="http' not in page


def test_html_shows_artifacts_without_url_as_their_s3_uri(images):
    page = report.html(make_context(), images)

    assert "<td>new_csv</td><td><code>s3://bank-ml/runs/r/new.csv</code></td>" in page
    assert ">s3://bank-ml/runs/r/model.joblib</a>" in page


def test_html_never_links_a_non_web_url(images):
    artifacts = {"evil": {"uri": "s3://b/k", "url": "javascript:alert(1)"}}
    page = report.html(make_context(artifacts=artifacts), images)

    assert "href" not in page
    assert "<code>s3://b/k</code>" in page


def test_html_escapes_every_value(images):
    evil = "<script>alert('x')</script>"
    context = make_context(
        family=evil,
        run_id=evil,
        params={evil: evil},
        champion={"run_id": evil, "auc": 0.9, "decision": "promoted", "reason": evil},
        artifacts={evil: {"uri": evil, "url": 'https://x.example/"onmouseover="alert(1)'}},
    )
    context["drift"]["summary"] = evil
    context["drift"]["columns"][evil] = {"kind": evil, "psi": 0.5}
    context["data"]["categorical"] = [evil]
    page = report.html(context, images)

    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    assert 'href="https://x.example/&quot;onmouseover=&quot;alert(1)"' in page
    assert not [t for t, _ in parse(page) if t == "script"]


def test_html_is_a_complete_document(images):
    page = report.html(make_context(), images)

    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert page.rstrip().endswith("</html>")
    assert "<style>" in page


# --- html: verdict ------------------------------------------------------------------------------------------


def test_verdict_passes_when_every_metric_reaches_its_baseline(images):
    page = report.html(make_context(), images)

    assert h1_text(page) == "Bank marketing model: PASS"
    assert "BELOW" not in page


def test_verdict_passes_with_metrics_exactly_at_their_baselines(images):
    metrics = {"at_0_5": dict(config.BASELINES), "at_threshold": dict(config.BASELINES)}
    page = report.html(make_context(metrics=metrics), images)

    assert h1_text(page) == "Bank marketing model: PASS"


@pytest.mark.parametrize("name", config.METRICS)
def test_verdict_is_below_baseline_with_one_metric_just_under(images, name):
    context = make_context()
    context["metrics"]["at_0_5"][name] = config.BASELINES[name] - 0.0001
    page = report.html(context, images)

    assert h1_text(page) == "Bank marketing model: BELOW BASELINE"
    assert '<td class="bad">BELOW</td>' in table_row(page, name)
    assert page.count('<td class="bad">BELOW</td>') == 1


def test_verdict_reads_the_0_5_column_where_the_baselines_were_measured(images):
    context = make_context()
    context["metrics"]["at_threshold"]["precision"] = 0.01  # the operating point trades precision for recall

    assert h1_text(report.html(context, images)) == "Bank marketing model: PASS"


@pytest.mark.parametrize("value", [None, float("nan")])
def test_verdict_counts_a_missing_metric_as_below(images, value):
    context = make_context()
    context["metrics"]["at_0_5"]["f1"] = value
    page = report.html(context, images)

    assert h1_text(page) == "Bank marketing model: BELOW BASELINE"
    assert "n/a" in table_row(page, "f1")


# --- html: missing parts ------------------------------------------------------------------------------------


def test_html_without_champion_or_drift_says_so(images):
    page = report.html(make_context(champion=None, drift=None), images)

    assert "No champion comparison was made for this run" in page
    assert "no champion to compare with" in page
    assert h1_text(page) == "Bank marketing model: PASS"


def test_html_of_a_first_champion(images):
    champion = {"run_id": None, "auc": None, "decision": "promoted", "reason": "no champion yet"}
    page = report.html(make_context(champion=champion), images)

    assert "Promoted to champion" in page
    assert "There was no champion before this run" in page


def test_html_with_no_drifted_column(images):
    drift = {"threshold": 0.2, "max_psi": 0.01, "drifted": [], "columns": {"age": {"kind": "numeric", "psi": 0.01}}}
    page = report.html(make_context(drift=drift), images)

    assert "No column drifted." in page
    assert 'class="drifted"' not in page


def test_html_with_a_drift_check_that_compared_nothing(images):
    # What drift.check_object records when the champion has no stored profile.
    drift = {"threshold": 0.2, "drifted": [], "max_psi": None, "columns": {}, "summary": "no champion to compare with"}
    page = report.html(make_context(drift=drift), images)

    assert "<p>no champion to compare with</p>" in page
    assert "PSI per column" not in page


def test_html_lists_columns_missing_from_the_file(images):
    context = make_context()
    context["drift"]["missing_columns"] = ["pdays"]

    assert "Missing from the file, not checked: <code>pdays</code>" in report.html(context, images)


def test_html_renders_a_sparse_context_and_no_images():
    page = report.html({"run_id": "r1"}, {})

    assert "<code>r1</code>" in page
    assert "No charts." in page
    assert "No artifacts recorded." in page
    assert "No data summary recorded." in page
    assert h1_text(page) == "Bank marketing model: BELOW BASELINE"  # nothing shows it reaches the baselines
