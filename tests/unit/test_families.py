"""families: one FamilySpec per model family, its estimator, encoding, settings and default grid."""

from __future__ import annotations

import pytest
from sklearn.base import is_classifier

from include.bank_marketing import config, families, training
from include.bank_marketing.families import FAMILIES, LABELS, SPECS, Encoding, FamilySpec

NAMES = ["logistic_regression", "random_forest", "hist_gradient_boosting"]


def test_the_three_families_in_their_order():
    assert [spec.name for spec in SPECS] == NAMES
    assert list(FAMILIES) == NAMES
    assert all(FAMILIES[name].name == name for name in NAMES)
    assert list(LABELS) == NAMES
    assert {spec.name: spec.label for spec in SPECS} == LABELS
    assert all(label for label in LABELS.values())


def test_each_family_has_its_own_encoding():
    assert {name: FAMILIES[name].encoding for name in NAMES} == {
        "logistic_regression": Encoding.ONEHOT,
        "random_forest": Encoding.ORDINAL,
        "hist_gradient_boosting": Encoding.NATIVE,
    }
    assert [e.value for e in Encoding] == ["onehot", "ordinal", "native"]
    assert Encoding("native") is Encoding.NATIVE


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_spec_builds_its_estimator_with_its_settings(spec):
    cls = spec.estimator_class()
    estimator = training.make_estimator(spec)

    assert cls.__name__ == spec.estimator.rsplit(".", 1)[1]
    assert type(estimator) is cls
    assert is_classifier(estimator)
    assert hasattr(estimator, "predict_proba")
    params = estimator.get_params()
    assert {k: params[k] for k in spec.settings} == dict(spec.settings)
    if "random_state" in params:
        assert params["random_state"] == config.RANDOM_STATE


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_default_grid_is_non_empty_lists_of_the_estimators_parameters(spec):
    assert spec.grid
    assert all(isinstance(values, list) and values for values in spec.grid.values())
    assert set(spec.grid) <= set(spec.estimator_class()().get_params())
    assert not set(spec.grid) & set(spec.settings)  # searched or fixed, not both
    assert training.plan([spec.name]) == [{"family": spec.name, "grid": spec.grid}]  # plan accepts it


def test_specs_are_frozen():
    with pytest.raises(AttributeError):
        SPECS[0].name = "other"  # type: ignore[misc]


def test_get_returns_the_spec():
    assert families.get("random_forest") is FAMILIES["random_forest"]
    assert isinstance(families.get("random_forest"), FamilySpec)


@pytest.mark.parametrize("name", ["svm", "", "Logistic_Regression"])
def test_get_names_the_known_families_for_an_unknown_one(name):
    with pytest.raises(ValueError) as info:
        families.get(name)

    assert str(info.value) == (
        f"unknown model family {name!r}; expected one of logistic_regression, random_forest, hist_gradient_boosting"
    )


def test_rank_follows_the_spec_order_and_puts_unknown_names_last():
    assert [families.rank(name) for name in NAMES] == [0, 1, 2]
    assert families.rank("svm") == families.rank("") == len(NAMES)


def test_ties_go_to_the_family_listed_first():
    tied = ["hist_gradient_boosting", "svm", "random_forest", "logistic_regression"]

    assert sorted(tied, key=families.rank) == ["logistic_regression", "random_forest", "hist_gradient_boosting", "svm"]
