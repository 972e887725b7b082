"""contracts: the verdict's spellings and the compared metrics of a Metrics object."""

from __future__ import annotations

import json
import types
import typing

import pytest

from include.bank_marketing import config, contracts
from include.bank_marketing.contracts import Verdict, metric_values


def test_verdict_values_are_the_spelling_stored_in_json():
    assert [v.value for v in Verdict] == ["PASS", "BELOW_BASELINE", "SUSPICIOUS"]
    assert Verdict.PASS == "PASS"
    assert Verdict.BELOW_BASELINE == "BELOW_BASELINE"
    assert json.dumps({"verdict": Verdict.BELOW_BASELINE}) == '{"verdict": "BELOW_BASELINE"}'
    assert str(Verdict.PASS) == "PASS"


def test_verdict_labels_are_how_texts_show_it():
    assert Verdict.PASS.label == "PASS"
    assert Verdict.BELOW_BASELINE.label == "BELOW BASELINE"


@pytest.mark.parametrize("verdict", list(Verdict))
def test_a_verdict_read_back_from_json_is_the_same_member(verdict):
    assert Verdict(json.loads(json.dumps(verdict.value))) is verdict


def test_an_unknown_verdict_is_an_error():
    with pytest.raises(ValueError, match="'BELOW BASELINE'"):
        Verdict("BELOW BASELINE")  # the label is not a value


METRICS = {
    "accuracy": 0.91,
    "recall": 0.47,
    "precision": 0.66,
    "f1": 0.57,
    "auc": 0.93,
    "threshold": 0.5,
    "rows": 9043,
    "confusion_matrix": {"tn": 1, "fp": 2, "fn": 3, "tp": 4},
    "classification_report": "...",
}


def test_metric_values_keeps_the_compared_metrics_in_the_reported_order():
    values = metric_values(METRICS)

    assert list(values) == list(config.METRICS) == ["auc", "f1", "precision", "recall", "accuracy"]
    assert values == {"auc": 0.93, "f1": 0.57, "precision": 0.66, "recall": 0.47, "accuracy": 0.91}


def test_metric_values_needs_every_compared_metric():
    with pytest.raises(KeyError, match="recall"):
        metric_values({k: v for k, v in METRICS.items() if k != "recall"})


def test_metrics_declares_every_compared_metric():
    assert set(config.METRICS) <= contracts.Metrics.__required_keys__


def test_every_contract_is_plain_json_types():
    """Only JSON values travel (XCom): every field's type is built from str, int, float, bool, None, list, dict,
    other contracts and Any (a parameter's value)."""
    allowed = {str, int, float, bool, type(None), list, dict, typing.Any}
    contracts_by_name = {
        name: obj for name, obj in vars(contracts).items() if isinstance(obj, type) and typing.is_typeddict(obj)
    }

    def check(tp, where):
        origin = typing.get_origin(tp)
        if origin in (typing.NotRequired, typing.Required):
            return check(typing.get_args(tp)[0], where)
        if origin is not None:
            assert origin in (list, dict, typing.Union, types.UnionType), where
            for arg in typing.get_args(tp):
                check(arg, where)
            return
        assert tp in allowed or tp in contracts_by_name.values(), f"{where}: {tp!r}"

    assert len(contracts_by_name) >= 15
    for name, cls in contracts_by_name.items():
        for field, tp in typing.get_type_hints(cls).items():
            check(tp, f"{name}.{field}")
