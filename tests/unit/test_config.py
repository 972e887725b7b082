"""config: the pipeline's defaults agree with each other."""

from __future__ import annotations

import re

from include.bank_marketing import config


def test_baselines_cover_the_reported_metrics_in_range():
    assert set(config.BASELINES) == set(config.METRICS)
    assert all(0 <= v <= 1 for v in config.BASELINES.values())


def test_every_metric_has_a_title_in_the_reported_order():
    assert list(config.METRIC_TITLES) == list(config.METRICS)
    assert all(title.strip() for title in config.METRIC_TITLES.values())
    assert config.METRIC_TITLES["auc"] == "ROC AUC"


def test_split_and_cv_defaults():
    assert [config.TEST_SIZE] == [0.2]
    assert config.DEFAULT_CV_FOLDS >= 2
    assert 0 < config.NUMERIC_TEXT_TOLERANCE < 1
    assert (config.TARGET, config.ROW_ID) == ("y", "row_id")


def test_default_bucket_key_and_topic_are_well_formed():
    # The same patterns as the trigger form's Params (dags/bank_marketing_common/params.py).
    assert re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", config.DEFAULT_BUCKET)
    assert config.DEFAULT_INPUT_KEY and not config.DEFAULT_INPUT_KEY.startswith("/")
    assert re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}", config.DEFAULT_TOPIC_ARN)


def test_monitoring_and_promotion_defaults():
    assert config.DRIFT_BINS >= 2
    assert config.DRIFT_PSI_THRESHOLD > 0
    assert 0 <= config.PROMOTION_MARGIN < 0.1
    assert config.RETRIES >= 1
    assert config.SCORING_CHUNK_ROWS > 0
    assert config.MAX_COLUMNS > 17  # banking.csv's own width passes
