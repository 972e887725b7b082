"""params: every training Param and its default, and their reading into TrainingSettings."""

from __future__ import annotations

import dataclasses

import pytest

from include.bank_marketing import config, families, params
from include.bank_marketing.params import TrainingSettings


def test_defaults_name_every_param_with_its_default():
    assert params.defaults() == {
        "bucket": config.DEFAULT_BUCKET,
        "input_key": config.DEFAULT_INPUT_KEY,
        "wait_timeout_seconds": config.WAIT_TIMEOUT_SECONDS,
        "duplicates": "drop",
        "model_families": list(families.FAMILIES),
        "cv_folds": config.DEFAULT_CV_FOLDS,
        "drop_duration": False,
        "param_grids": {},
        "drift_threshold": config.DRIFT_PSI_THRESHOLD,
        "promotion_margin": config.PROMOTION_MARGIN,
        "suspicious_gain": 0.02,
        "approval": "required",
        "approval_timeout": 24 * 3600,
        "cost_per_call": 5.0,
        "value_per_subscription": 100.0,
        "threshold_rule": "f1",
        "baseline_auc": config.BASELINES["auc"],
        "baseline_f1": config.BASELINES["f1"],
        "baseline_precision": config.BASELINES["precision"],
        "baseline_recall": config.BASELINES["recall"],
        "baseline_accuracy": config.BASELINES["accuracy"],
        "link_expiry_hours": 24,
        "sns_topic_arn": config.DEFAULT_TOPIC_ARN,
    }
    assert (config.DEFAULT_BUCKET, config.DEFAULT_INPUT_KEY) == ("bank-ml", "banking.csv")


def test_defaults_take_the_bucket_and_input_key():
    out = params.defaults("other-bucket", "raw/{{ ds }}/in.csv")

    assert (out["bucket"], out["input_key"]) == ("other-bucket", "raw/{{ ds }}/in.csv")
    assert {k: v for k, v in out.items() if k not in ("bucket", "input_key")} == {
        k: v for k, v in params.defaults().items() if k not in ("bucket", "input_key")
    }


def test_defaults_are_fresh_objects_each_call():
    first = params.defaults()
    first["model_families"].append("svm")
    first["param_grids"]["x"] = {}

    assert params.defaults()["model_families"] == list(families.FAMILIES)
    assert params.defaults()["param_grids"] == {}


def test_baseline_param_names():
    assert [params.baseline_param(m) for m in config.METRICS] == [
        "baseline_auc",
        "baseline_f1",
        "baseline_precision",
        "baseline_recall",
        "baseline_accuracy",
    ]


def test_from_params_of_the_defaults():
    settings = TrainingSettings.from_params(params.defaults("b"))

    assert settings == TrainingSettings(
        bucket="b",
        families=list(families.FAMILIES),
        param_grids={},
        cv_folds=config.DEFAULT_CV_FOLDS,
        drop=[],
        drift_threshold=config.DRIFT_PSI_THRESHOLD,
        promotion_margin=config.PROMOTION_MARGIN,
        suspicious_gain=config.SUSPICIOUS_GAIN,
        duplicates="drop",
        baselines=config.BASELINES,
        approval="required",
        approval_timeout=24 * 3600,
        economics={"cost_per_call": 5.0, "value_per_subscription": 100.0},
        threshold_rule="f1",
        sns_topic_arn=config.DEFAULT_TOPIC_ARN,
    )
    assert list(settings.baselines) == list(config.METRICS)


def test_from_params_builds_the_baselines_dict_from_the_baseline_params():
    given = params.defaults() | {"baseline_auc": 0.9, "baseline_recall": "0.25"}  # a form may send text

    baselines = TrainingSettings.from_params(given).baselines

    assert baselines == {**config.BASELINES, "auc": 0.9, "recall": 0.25}
    assert all(type(v) is float for v in baselines.values())


def test_from_params_leaves_out_a_metric_without_its_baseline_param():
    given = {k: v for k, v in params.defaults().items() if k != "baseline_precision"}

    assert "precision" not in TrainingSettings.from_params(given).baselines


@pytest.mark.parametrize(("drop_duration", "drop"), [(True, ["duration"]), (False, [])])
def test_from_params_turns_drop_duration_into_the_drop_list(drop_duration, drop):
    settings = TrainingSettings.from_params(params.defaults() | {"drop_duration": drop_duration})

    assert settings.drop == drop
    assert params.DURATION_COLUMN == "duration"


@pytest.mark.parametrize("grids", [None, {}], ids=["null", "empty"])
def test_from_params_reads_null_param_grids_as_no_overrides(grids):
    # The trigger form sends null for an optional object left empty.
    assert TrainingSettings.from_params(params.defaults() | {"param_grids": grids}).param_grids == {}


def test_from_params_without_param_grids_at_all_means_no_overrides():
    given = {k: v for k, v in params.defaults().items() if k != "param_grids"}

    assert TrainingSettings.from_params(given).param_grids == {}


def test_from_params_passes_grid_overrides_as_given():
    grids = {"logistic_regression": {"C": [0.5]}, "random_forest": "not checked here"}

    assert TrainingSettings.from_params(params.defaults() | {"param_grids": grids}).param_grids == grids


def test_from_params_converts_numbers_and_copies_the_family_list():
    names = ["random_forest"]
    given = params.defaults() | {
        "model_families": names,
        "cv_folds": "5",
        "drift_threshold": 1,
        "promotion_margin": "0.01",
        "sns_topic_arn": "arn:aws:sns:eu-west-1:210987654321:t",
    }

    settings = TrainingSettings.from_params(given)

    assert (settings.cv_folds, settings.drift_threshold, settings.promotion_margin) == (5, 1.0, 0.01)
    assert type(settings.drift_threshold) is float
    assert settings.sns_topic_arn == "arn:aws:sns:eu-west-1:210987654321:t"
    assert settings.families == names and settings.families is not names


# --- the campaign's economics and threshold rule ------------------------------------------------------------


def test_economics_of_valid_figures():
    assert params.economics(5, 100) == {"cost_per_call": 5.0, "value_per_subscription": 100.0}
    assert params.economics(0, 0.01) == {"cost_per_call": 0.0, "value_per_subscription": 0.01}  # free calls
    assert all(type(v) is float for v in params.economics(3, 40).values())


@pytest.mark.parametrize(
    ("cost", "value", "message"),
    [
        (-0.01, 100, "cost_per_call must be a number >= 0, got -0.01"),
        (float("nan"), 100, "cost_per_call must be a number >= 0, got nan"),
        (float("inf"), 100, "cost_per_call must be a number >= 0, got inf"),
        (5, 0, "value_per_subscription must be a number > 0, got 0"),
        (5, -100, "value_per_subscription must be a number > 0, got -100"),
        (5, float("nan"), "value_per_subscription must be a number > 0, got nan"),
        (5, float("inf"), "value_per_subscription must be a number > 0, got inf"),
    ],
)
def test_economics_rejects_a_negative_cost_a_value_not_above_zero_and_nan(cost, value, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        params.economics(cost, value)


def test_from_params_reads_the_economics_and_the_threshold_rule():
    given = params.defaults() | {"cost_per_call": "2.5", "value_per_subscription": 80, "threshold_rule": "profit"}

    settings = TrainingSettings.from_params(given)

    assert settings.economics == {"cost_per_call": 2.5, "value_per_subscription": 80.0}
    assert settings.threshold_rule == "profit"
    assert type(settings.threshold_rule) is str  # the plain value, as XCom and JSON carry it


def test_from_params_without_the_campaign_params_takes_their_defaults():
    # The conf of a run queued before these Params existed.
    absent = ("cost_per_call", "value_per_subscription", "threshold_rule")
    given = {k: v for k, v in params.defaults().items() if k not in absent}

    settings = TrainingSettings.from_params(given)

    assert settings.economics == {"cost_per_call": config.COST_PER_CALL, "value_per_subscription": 100.0}
    assert settings.threshold_rule == config.THRESHOLD_RULE == "f1"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"cost_per_call": -1}, "cost_per_call must be a number >= 0"),
        ({"value_per_subscription": 0}, "value_per_subscription must be a number > 0"),
        ({"threshold_rule": "as_published"}, "'as_published' is not a valid ThresholdRule"),
    ],
)
def test_from_params_refuses_bad_economics_and_an_unknown_rule(changes, message):
    # as_published is the scoring DAG's choice only: a training run chooses its threshold.
    with pytest.raises(ValueError, match=message):
        TrainingSettings.from_params(params.defaults() | changes)


def test_settings_are_frozen():
    settings = TrainingSettings.from_params(params.defaults())

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.cv_folds = 5  # type: ignore[misc]
