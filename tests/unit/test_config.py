"""config: the pipeline's defaults agree with each other."""

from __future__ import annotations

from include.bank_marketing import config


def test_every_family_has_a_grid_an_encoding_and_settings():
    families = list(config.FAMILIES)

    assert families == ["logistic_regression", "random_forest", "hist_gradient_boosting"]
    assert list(config.PARAM_GRIDS) == families
    assert list(config.ENCODING) == families
    assert list(config.ESTIMATOR_SETTINGS) == families
    assert set(config.ENCODING.values()) == {"onehot", "ordinal", "native"}


def test_grids_are_non_empty_lists():
    for grid in config.PARAM_GRIDS.values():
        assert grid
        assert all(isinstance(values, list) and values for values in grid.values())


def test_baselines_cover_the_reported_metrics_in_range():
    assert set(config.BASELINES) == set(config.METRICS)
    assert all(0 <= v <= 1 for v in config.BASELINES.values())


def test_split_and_cv_defaults():
    assert [config.TEST_SIZE] == [0.2]
    assert config.DEFAULT_CV_FOLDS >= 2
    assert 0 < config.NUMERIC_TEXT_TOLERANCE < 1
    assert (config.TARGET, config.ROW_ID) == ("y", "row_id")
