"""training: grid plans, estimators, pipelines and GridSearchCV on tiny synthetic data."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from include.bank_marketing import config, families, layout, preprocessing, storage, training, validation
from include.bank_marketing.contracts import Candidate, SearchSummary
from include.bank_marketing.families import Encoding, Parallelism
from tests.support.builders import BUCKET, SAFE_RUN_ID, csv_bytes, get_body, synthetic_frame

FAMILIES = list(families.FAMILIES)

# --- plan -----------------------------------------------------------------------------------------------


def test_plan_defaults_are_the_family_grids_in_order():
    assert training.plan(FAMILIES) == [{"family": f, "grid": families.get(f).grid} for f in FAMILIES]


def test_plan_keeps_the_requested_order_and_drops_repeats():
    specs = training.plan(["hist_gradient_boosting", "logistic_regression", "hist_gradient_boosting"])

    assert [s["family"] for s in specs] == ["hist_gradient_boosting", "logistic_regression"]
    assert specs[0]["grid"] == families.get("hist_gradient_boosting").grid


def test_plan_override_replaces_a_familys_grid():
    specs = training.plan(["logistic_regression", "random_forest"], {"logistic_regression": {"C": [0.5, 5.0]}})

    assert specs == [
        {"family": "logistic_regression", "grid": {"C": [0.5, 5.0]}},
        {"family": "random_forest", "grid": families.get("random_forest").grid},
    ]


def test_plan_override_may_search_a_fixed_setting():
    specs = training.plan(["random_forest"], {"random_forest": {"n_estimators": [10, 20]}})

    assert specs == [{"family": "random_forest", "grid": {"n_estimators": [10, 20]}}]


def test_plan_returns_copies_of_the_default_grids():
    specs = training.plan(["logistic_regression"])
    specs[0]["grid"]["C"] = [99.0]
    specs[0]["grid"]["tol"] = [1.0]

    assert families.get("logistic_regression").grid == {"C": [0.1, 1.0, 10.0]}


def test_plan_treats_no_overrides_like_an_empty_object():
    assert training.plan(["random_forest"], None) == training.plan(["random_forest"], {})


@pytest.mark.parametrize(
    "grid",
    [
        {"preprocess__numeric__impute__strategy": ["constant", "median"], "C": [1.0]},
        {"model__C": [1.0]},  # the full pipeline name of the estimator's own parameter
        {"preprocess__categorical__encode__min_frequency": [None, 5]},
    ],
    ids=["preprocess-and-bare", "model-prefixed", "encoder"],
)
def test_plan_accepts_any_pipeline_parameter(grid):
    assert training.plan(["logistic_regression"], {"logistic_regression": grid}) == [
        {"family": "logistic_regression", "grid": grid}
    ]


@pytest.mark.parametrize(
    ("names", "overrides", "expected"),
    [
        (["svm"], None, r"unknown model family 'svm'"),
        (["logistic_regression"], {"xgboost": {"eta": [0.1]}}, r"unknown model family 'xgboost'"),
        (
            ["logistic_regression"],
            {"random_forest": {"max_depth": [3]}},
            r"param_grids overrides 'random_forest', which is not in model_families",
        ),
        (
            ["logistic_regression"],
            {"logistic_regression": {"alpha": [0.1]}},
            r"'alpha' is not a parameter of LogisticRegression nor of a pipeline step",
        ),
        (
            ["random_forest"],
            {"random_forest": {"preprocess__numeric__impute__strategie": ["median"]}},
            r"'preprocess__numeric__impute__strategie' is not a parameter of RandomForestClassifier nor of a "
            r"pipeline step \(write e\.g\. preprocess__numeric__impute__strategy\)",
        ),
        (
            ["logistic_regression"],
            {"logistic_regression": {"model__alpha": [0.1]}},
            r"'model__alpha' is not a parameter of LogisticRegression",
        ),
        (
            ["hist_gradient_boosting"],
            {"hist_gradient_boosting": {"learning_rate": []}},
            r"param_grids\['hist_gradient_boosting'\]\['learning_rate'\] must be a non-empty list, got \[\]",
        ),
        (
            ["logistic_regression"],
            {"logistic_regression": {"C": 1.0}},
            r"param_grids\['logistic_regression'\]\['C'\] must be a non-empty list, got 1.0",
        ),
        (
            ["logistic_regression"],
            {"logistic_regression": {}},
            r"param_grids\['logistic_regression'\] must be a non-empty \{parameter: \[values\]\} object, got \{\}",
        ),
        (["logistic_regression"], [{"C": [1.0]}], r"param_grids must be a JSON object"),
        ([], None, r"model_families is empty"),
    ],
    ids=[
        "unknown",
        "unknown-override",
        "stray-override",
        "unknown-param",
        "preprocess-typo",
        "prefixed-typo",
        "empty-list",
        "scalar",
        "empty-grid",
        "not-a-mapping",
        "none",
    ],
)
def test_plan_rejects_bad_requests(names, overrides, expected):
    with pytest.raises(ValueError, match=expected):
        training.plan(names, overrides)


def test_plan_rejects_the_same_parameter_under_two_names():
    # "C" and "model__C" are one pipeline parameter: grid_search would keep one list and silently drop the other
    # (here it searches C=10 only), so the plan must refuse the grid, naming both spellings.
    grid = {"C": [0.1, 1.0], "model__C": [10.0]}

    with pytest.raises(ValueError, match=r"'C'.*'model__C'|'model__C'.*'C'"):
        training.plan(["logistic_regression"], {"logistic_regression": grid})


@pytest.mark.parametrize("grid", [[0.5, 5.0], None], ids=["list", "none"])
def test_plan_rejects_an_override_that_is_not_a_mapping(grid):
    with pytest.raises(ValueError, match="logistic_regression"):
        training.plan(["logistic_regression"], {"logistic_regression": grid})


# --- estimators and pipelines -----------------------------------------------------------------------------


def test_make_estimator_applies_the_fixed_settings():
    lr = training.make_estimator(families.get("logistic_regression"))
    rf = training.make_estimator(families.get("random_forest"))
    hgb = training.make_estimator(families.get("hist_gradient_boosting"))

    assert isinstance(lr, LogisticRegression)
    assert lr.max_iter == 2000
    assert isinstance(rf, RandomForestClassifier)
    assert (rf.n_estimators, rf.max_samples, rf.random_state) == (60, 0.5, config.RANDOM_STATE)
    assert rf.n_jobs == config.N_JOBS  # its trees use the cores; the search fits its folds one at a time
    assert lr.n_jobs is None
    assert isinstance(hgb, HistGradientBoostingClassifier)
    assert (hgb.max_iter, hgb.early_stopping, hgb.validation_fraction, hgb.random_state) == (300, "auto", 0.1, 0)
    assert hgb.learning_rate == pytest.approx(0.1)


def test_folds_run_side_by_side_only_for_families_that_gain_from_it():
    # Logistic regression's folds one at a time: side by side in threads they gained nothing and doubled memory.
    assert training.fold_jobs(families.get("logistic_regression"), 4) == 1
    assert (
        training.fold_jobs(dataclasses.replace(families.get("logistic_regression"), parallel=Parallelism.FOLDS), 4) == 4
    )
    assert training.fold_jobs(families.get("random_forest"), 4) == 1
    assert training.fold_jobs(families.get("hist_gradient_boosting"), 4) == 1
    assert training.fold_jobs(None, 4) == 4  # a model of no known family
    assert families.of_estimator(RandomForestClassifier()) is families.get("random_forest")
    assert families.of_estimator(object()) is None


def test_make_estimator_gives_the_native_family_its_categorical_mask_only_if_a_column_is_categorical():
    spec = families.get("hist_gradient_boosting")
    default = HistGradientBoostingClassifier().categorical_features

    assert training.make_estimator(spec, [True, False]).categorical_features == [True, False]
    assert training.make_estimator(spec, [False, False]).categorical_features == default
    assert training.make_estimator(spec, []).categorical_features == default
    assert training.make_estimator(spec).categorical_features == default


def test_make_pipeline_marks_categorical_features_for_hist_gradient_boosting():
    pipe = training.make_pipeline(families.get("hist_gradient_boosting"), ["n1", "n2", "n3"], ["c1", "c2"])

    assert [name for name, _ in pipe.steps] == ["derive", "preprocess", "model"]
    assert pipe.named_steps["model"].categorical_features == [True, True, False, False, False]


def test_make_pipeline_without_categorical_columns_leaves_the_default():
    pipe = training.make_pipeline(families.get("hist_gradient_boosting"), ["n1", "n2"], [])

    assert pipe.named_steps["model"].categorical_features == HistGradientBoostingClassifier().categorical_features


@pytest.mark.parametrize("family", ["logistic_regression", "random_forest"])
def test_only_the_native_encoding_passes_the_categorical_mask(family):
    default = families.get(family).estimator_class()().get_params().get("categorical_features")

    pipe = training.make_pipeline(families.get(family), ["n"], ["c"])

    assert pipe.named_steps["model"].get_params().get("categorical_features") == default


@pytest.mark.parametrize("family", FAMILIES)
def test_make_pipeline_uses_the_familys_encoding(family):
    spec = families.get(family)
    pipe = training.make_pipeline(spec, ["n"], ["c"])

    encoder = pipe.named_steps["preprocess"].transformers[0][1].named_steps["encode"]
    expected = {Encoding.ONEHOT: "OneHotEncoder", Encoding.ORDINAL: "OrdinalEncoder", Encoding.NATIVE: "OrdinalEncoder"}
    assert type(encoder).__name__ == expected[spec.encoding]
    assert ("scale" in pipe.named_steps["preprocess"].transformers[1][1].named_steps) == (
        spec.encoding is Encoding.ONEHOT
    )
    assert type(pipe.named_steps["model"]) is spec.estimator_class()


# --- grid_search ------------------------------------------------------------------------------------------

# Tiny grids (RandomForest's tree count lowered through the grid) so three families fit in a few seconds.
TINY_GRIDS = {
    "logistic_regression": {"C": [0.1, 1.0]},
    "random_forest": {"max_depth": [3, 5], "n_estimators": [10]},
    "hist_gradient_boosting": {"max_leaf_nodes": [7], "max_iter": [15]},
}
NUMERIC = ["x1", "count"]
CATEGORICAL = ["color"]


@pytest.fixture(scope="module")
def searched():
    """grid_search of every family on the same 240-row training split, fitted once for the module."""
    train, _ = preprocessing.split(synthetic_frame())
    return {
        family: training.grid_search(
            {"family": family, "grid": TINY_GRIDS[family]}, train, NUMERIC, CATEGORICAL, cv_folds=3, n_jobs=1
        )
        for family in FAMILIES
    }


@pytest.mark.parametrize("family", FAMILIES)
def test_the_search_starts_no_worker_process(family):
    """Threads, not joblib's worker processes: a worker holds a copy of the data, and under the LocalExecutor
    workers that outlived the task kept it from finishing for 60 s."""
    import psutil

    me = psutil.Process()

    def workers() -> set[int]:
        # Worker processes by what they run: forks of this process, or loky's or multiprocessing's entry
        # points. Not every new descendant: servers this xdist worker started earlier may start processes.
        found = set()
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                command = child.cmdline()
                if command == me.cmdline() or any("loky" in part or "multiprocessing" in part for part in command):
                    found.add(child.pid)
        return found

    train, _ = preprocessing.split(synthetic_frame())
    before = workers()

    training.grid_search({"family": family, "grid": TINY_GRIDS[family]}, train, NUMERIC, CATEGORICAL, 3, n_jobs=2)

    assert workers() <= before


@pytest.mark.parametrize("family", FAMILIES)
def test_grid_search_summary(searched, family):
    _, summary = searched[family]
    grid = TINY_GRIDS[family]

    assert set(summary) == {
        "family",
        "best_params",
        "cv_auc",
        "cv_auc_std",
        "cv_folds",
        "candidates",
        "fit_seconds",
        "grid_results",
    }
    assert set(summary) == SearchSummary.__required_keys__
    assert summary["family"] == family
    assert set(summary["best_params"]) == set(grid)
    assert all(not k.startswith("model__") for k in summary["best_params"])
    assert all(summary["best_params"][k] in grid[k] for k in grid)
    assert 0.0 <= summary["cv_auc"] <= 1.0
    assert summary["cv_auc"] > 0.85  # the synthetic signal is strong
    assert summary["cv_folds"] == 3
    assert summary["candidates"] == math.prod(len(v) for v in grid.values())
    assert len(summary["grid_results"]) == summary["candidates"]
    assert max(r["cv_auc"] for r in summary["grid_results"]) == summary["cv_auc"]
    assert summary["fit_seconds"] >= 0
    json.dumps(summary)  # plain Python values for XCom


@pytest.mark.parametrize("family", FAMILIES)
def test_grid_search_returns_the_refitted_best_pipeline(searched, family):
    model, summary = searched[family]

    assert isinstance(model, Pipeline)
    params = model.named_steps["model"].get_params()
    assert {k: params[k] for k in summary["best_params"]} == summary["best_params"]


@pytest.mark.parametrize("family", FAMILIES)
def test_fitted_pipeline_scores_raw_rows_with_nan_and_unseen_categories(searched, family):
    model, _ = searched[family]
    rows = pd.DataFrame(
        {
            "x1": [np.nan, 2.0, -2.0],
            "count": [np.nan, 10.0, 3.0],
            "color": pd.Series(["purple", None, "red"], dtype="str"),
        }
    )

    proba = model.predict_proba(rows)

    assert proba.shape == (3, 2)
    assert np.all(np.isfinite(proba))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


@pytest.mark.parametrize("family", FAMILIES)
def test_fitted_pipeline_ranks_held_out_rows_well(searched, family):
    from sklearn.metrics import roc_auc_score

    model, _ = searched[family]
    _, test = preprocessing.split(synthetic_frame())
    x, y = preprocessing.features_and_target(test)

    assert roc_auc_score(y, model.predict_proba(x)[:, 1]) > 0.85


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.FitFailedWarning", "ignore:One or more of the test scores")
@pytest.mark.parametrize("per_class", [5, 10])
def test_hist_gradient_boosting_trains_on_any_input_validation_accepts(per_class):
    rng = np.random.default_rng(1)
    rows = [
        [round(float(v), 3), "abc"[i % 3], "yes" if i < per_class else "no"]
        for i, v in enumerate(rng.random(2 * per_class))
    ]
    data = csv_bytes(["n", "c", "y"], rows)
    parsed = validation.parse_csv(data, cv_folds=3)  # accepted: at least the minimum per class
    train, _ = preprocessing.split(parsed.frame)

    spec = {"family": "hist_gradient_boosting", "grid": {"max_iter": [10]}}
    _, summary = training.grid_search(spec, train, parsed.numeric, parsed.categorical, cv_folds=3, n_jobs=1)

    assert math.isfinite(summary["cv_auc"])


def test_grid_search_searches_a_preprocessing_setting_and_reports_it():
    train, _ = preprocessing.split(synthetic_frame())
    train.loc[::7, "x1"] = np.nan  # something for the numeric imputer to fill
    key = "preprocess__numeric__impute__strategy"
    spec = training.plan(["logistic_regression"], {"logistic_regression": {key: ["constant", "median"], "C": [1.0]}})[0]

    model, summary = training.grid_search(spec, train, NUMERIC, CATEGORICAL, cv_folds=3, n_jobs=1)

    # Preprocessing keys are reported in full; the estimator's own without the "model__" prefix.
    assert set(summary["best_params"]) == {key, "C"}
    assert summary["best_params"][key] in ("constant", "median")
    assert summary["candidates"] == 2
    assert [r["params"] for r in summary["grid_results"]] == [
        {"C": 1.0, key: "constant"},
        {"C": 1.0, key: "median"},
    ]
    imputer = model.named_steps["preprocess"].named_transformers_["numeric"].named_steps["impute"]
    assert imputer.strategy == summary["best_params"][key]  # the refitted pipeline uses the best setting
    json.dumps(summary)


def test_grid_search_reads_a_model_prefixed_key_as_the_estimators_own():
    train, _ = preprocessing.split(synthetic_frame())
    spec = {"family": "logistic_regression", "grid": {"model__C": [0.5]}}

    model, summary = training.grid_search(spec, train, NUMERIC, CATEGORICAL, cv_folds=3, n_jobs=1)

    assert summary["best_params"] == {"C": 0.5}
    assert model.named_steps["model"].get_params()["C"] == pytest.approx(0.5)


# --- train_planned on S3 ----------------------------------------------------------------------------------


def test_train_planned_writes_the_candidate_and_returns_its_hash(s3, run, monkeypatch):
    # train_planned takes the worker-wide n_jobs (-1); one process is faster for 200 rows.
    monkeypatch.setattr(training, "grid_search", functools.partial(training.grid_search, n_jobs=1))
    train, test = preprocessing.split(synthetic_frame(n=200))
    split = {
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "train_uri": storage.write_parquet(s3, run.uri(layout.TRAIN), train),
    }

    out = training.train_planned(run, split, {"family": "logistic_regression", "grid": {"C": [1.0]}}, cv_folds=3)

    key = f"runs/{SAFE_RUN_ID}/candidates/logistic_regression.joblib"
    body = get_body(s3, key)
    assert out["model_uri"] == f"s3://{BUCKET}/{key}" == run.uri(layout.candidate("logistic_regression"))
    assert out["sha256"] == storage.sha256_hex(body)
    assert out["model_bytes"] == len(body)
    assert out["family"] == "logistic_regression"
    assert out["best_params"] == {"C": 1.0}
    assert out["candidates"] == 1
    assert out["cv_folds"] == 3
    assert set(out) == Candidate.__required_keys__
    model = storage.load_model(s3, out["model_uri"], out["sha256"])
    x, _ = preprocessing.features_and_target(test)
    assert model.predict_proba(x).shape == (len(test), 2)
    json.dumps(out)
