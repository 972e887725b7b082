"""scoring: the customers file read chunk by chunk, the champion's predictions.csv and the call list."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from include.bank_marketing import scoring, storage
from include.bank_marketing.contracts import ScoringResult
from include.bank_marketing.layout import CALL_LIST_NAME, CHAMPION_KEY, PREDICTIONS_NAME
from include.bank_marketing.params import AS_PUBLISHED
from include.bank_marketing.validation import InputError
from tests.support.builders import BUCKET, ECONOMICS, ColumnProba, all_keys, csv_bytes, get_body

HEADER = ["id", "age", "job", "p"]
ROWS = [[i, 20 + i, f" job{i % 3} ", round(i / 10, 1)] for i in range(10)]


def test_chunks_type_the_columns_and_keep_the_others():
    chunks = list(scoring.customer_chunks(csv_bytes(HEADER, ROWS), ["age", "p"], ["job"], chunk_rows=4))

    assert [len(c) for c in chunks] == [4, 4, 2]
    whole = pd.concat(chunks, ignore_index=True)
    assert whole["age"].tolist() == [20 + i for i in range(10)]
    assert whole["job"].tolist()[:3] == ["job0", "job1", "job2"]  # stripped
    assert whole["id"].tolist() == [str(i) for i in range(10)]  # passed through as read
    assert whole.equals(scoring.read_customers(csv_bytes(HEADER, ROWS), ["age", "p"], ["job"]))


def test_text_in_a_numeric_column_names_its_line_in_a_later_chunk():
    rows = [list(r) for r in ROWS]
    rows[6][1] = "forty"  # data row 7: line 8 of the file

    with pytest.raises(InputError, match=r"column 'age' must be numeric; found 'forty' at line 8"):
        list(scoring.customer_chunks(csv_bytes(HEADER, rows), ["age", "p"], ["job"], chunk_rows=3))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "customers file is empty"),
        (b"id;age;job;p\n", "header but no rows"),
        (b"id;job;p\n1;x;0.5\n", "lacks the model's columns: age"),
    ],
)
def test_unusable_files_are_refused(data, message):
    with pytest.raises(InputError, match=message):
        list(scoring.customer_chunks(data, ["age", "p"], ["job"]))


def _promote_stand_in(s3, target_format: str = "yes/no", **pointer) -> None:
    """A champion pointer at a stand-in model scoring column ``p``, trained on an input of ``target_format``.

    Its threshold is 0.45 and, unless ``pointer`` adds them, it has no ``threshold_rule``, ``thresholds`` nor
    ``economics``: a pointer written before profit thresholds existed."""
    saved = storage.save_model(s3, f"s3://{BUCKET}/runs/r1/model.joblib", ColumnProba("p"))
    meta_uri = storage.write_json(
        s3,
        f"s3://{BUCKET}/runs/r1/model.json",
        {"input": {"numeric": ["age", "p"], "categorical": ["job"], "target_format": target_format}},
    )
    doc = {"run_id": "r1", "family": "random_forest", "threshold": 0.45, "model_uri": saved["uri"],
           "sha256": saved["sha256"], "model_json_uri": meta_uri, **pointer}  # fmt: skip
    storage.write_json(s3, f"s3://{BUCKET}/{CHAMPION_KEY}", doc)


@pytest.fixture
def champion(s3):
    _promote_stand_in(s3)
    s3.put_object(Bucket=BUCKET, Key="scoring/2026-11-28/customers.csv", Body=csv_bytes(HEADER, ROWS))
    return s3


@pytest.mark.parametrize("chunk_rows", [3, 100_000])
def test_score_object_writes_the_same_predictions_whatever_the_chunk_size(champion, chunk_rows):
    summary = scoring.score_object(champion, BUCKET, "scoring/2026-11-28/customers.csv", chunk_rows=chunk_rows)

    out = pd.read_csv(io.BytesIO(get_body(champion, "scoring/2026-11-28/predictions.csv")))
    assert len(out) == 10 and out.columns.tolist() == [*HEADER, "probability", "predicted"]  # one header
    assert out["probability"].tolist() == [r[3] for r in ROWS]
    assert out["predicted"].tolist() == ["yes" if r[3] >= 0.45 else "no" for r in ROWS]
    assert summary["rows"] == 10 and summary["positives"] == 5 and summary["positive_share"] == pytest.approx(0.5)
    assert summary["predictions_uri"] == f"s3://{BUCKET}/scoring/2026-11-28/predictions.csv"
    head = champion.head_object(Bucket=BUCKET, Key="scoring/2026-11-28/predictions.csv")
    assert head["ContentType"] == "text/csv"
    assert summary == {
        "input_uri": f"s3://{BUCKET}/scoring/2026-11-28/customers.csv",
        "predictions_uri": f"s3://{BUCKET}/scoring/2026-11-28/predictions.csv",
        "rows": 10,
        "positives": 5,
        "positive_share": 0.5,
        "threshold": 0.45,
        "threshold_rule": "f1",  # an old pointer's threshold is the F1 one
        "champion_run_id": "r1",
        "family": "random_forest",
        # Every customer at or above 0.45 (p 0.5 to 0.9): 3.5 subscriptions expected, 100 x 3.5 - 5 x 5.
        "call_list_uri": f"s3://{BUCKET}/scoring/2026-11-28/call_list.csv",
        "calls": 5,
        "expected_subscriptions": 3.5,
        "expected_profit": 325.0,
        "economics": ECONOMICS,  # an old pointer has none: the Params' defaults
    }
    assert set(summary) == ScoringResult.__required_keys__
    calls = pd.read_csv(io.BytesIO(get_body(champion, "scoring/2026-11-28/call_list.csv")))
    assert calls.columns.tolist() == [*HEADER, "probability", "rank", "expected_value"]
    assert calls["id"].tolist() == [9, 8, 7, 6, 5]
    assert calls["rank"].tolist() == [1, 2, 3, 4, 5]
    assert calls["expected_value"].tolist() == [85.0, 75.0, 65.0, 55.0, 45.0]  # 100 x p - 5
    head = champion.head_object(Bucket=BUCKET, Key="scoring/2026-11-28/call_list.csv")
    assert head["ContentType"] == "text/csv"


def test_score_object_keeps_0_1_labels_for_a_champion_trained_on_1_0(s3):
    _promote_stand_in(s3, target_format="1/0")
    s3.put_object(Bucket=BUCKET, Key="customers.csv", Body=csv_bytes(HEADER, ROWS))

    summary = scoring.score_object(s3, BUCKET, "customers.csv")

    out = pd.read_csv(io.BytesIO(get_body(s3, PREDICTIONS_NAME)))
    assert out["predicted"].tolist() == [int(r[3] >= 0.45) for r in ROWS]
    assert summary["predictions_uri"] == f"s3://{BUCKET}/predictions.csv"


def test_score_object_without_a_champion_says_to_train_first(s3):
    s3.put_object(Bucket=BUCKET, Key="customers.csv", Body=csv_bytes(HEADER, ROWS))

    with pytest.raises(InputError, match=r"no champion in s3://bank-ml/models/champion.json: train and promote"):
        scoring.score_object(s3, BUCKET, "customers.csv")

    assert all_keys(s3) == ["customers.csv"]


def test_score_object_refuses_a_tampered_champion(champion):
    champion.put_object(Bucket=BUCKET, Key="runs/r1/model.joblib", Body=storage.dump_model(ColumnProba("age")))

    with pytest.raises(storage.IntegrityError):
        scoring.score_object(champion, BUCKET, "scoring/2026-11-28/customers.csv")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("scoring/2026-11-28/customers.csv", "scoring/2026-11-28/predictions.csv"),
        ("customers.csv", "predictions.csv"),
        ("a/b/c/in.csv", "a/b/c/predictions.csv"),
    ],
)
def test_predictions_go_beside_the_input(key, expected):
    assert scoring.predictions_key(key) == expected
    assert expected.endswith(PREDICTIONS_NAME)


@pytest.mark.parametrize(
    ("key", "name", "expected"),
    [
        ("scoring/2026-11-28/customers.csv", CALL_LIST_NAME, "scoring/2026-11-28/call_list.csv"),
        ("customers.csv", CALL_LIST_NAME, "call_list.csv"),
        ("a/b/in.csv", "x.csv", "a/b/x.csv"),
    ],
)
def test_sibling_key_puts_a_file_beside_the_input(key, name, expected):
    assert scoring.sibling_key(key, name) == expected


# --- call_list ----------------------------------------------------------------------------------------------

CUSTOMERS = pd.DataFrame({"id": ["a", "b", "c", "d", "e", "f"], "age": [30, 41, 52, 23, 60, 35]})
# b and d tie at 0.9, c and f at 0.5 (the threshold itself): ties keep the file's order.
PROBA = np.array([0.2, 0.9, 0.5, 0.9, 0.05, 0.5])


def test_call_list_orders_the_customers_at_or_above_the_threshold_best_first():
    calls = scoring.call_list(CUSTOMERS, PROBA, ECONOMICS, 0.5, None)

    assert calls.columns.tolist() == ["id", "age", "probability", "rank", "expected_value"]
    assert calls["id"].tolist() == ["b", "d", "c", "f"]
    assert calls["age"].tolist() == [41, 23, 52, 35]  # each customer's own columns travel with it
    assert calls["rank"].tolist() == [1, 2, 3, 4]
    assert calls["probability"].tolist() == [0.9, 0.9, 0.5, 0.5]
    assert calls["expected_value"].tolist() == [85.0, 85.0, 45.0, 45.0]  # 100 x p - 5
    assert CUSTOMERS.columns.tolist() == ["id", "age"]  # the input frame is not changed


def test_call_list_expected_value_is_value_times_probability_minus_cost():
    money = {"cost_per_call": 12.5, "value_per_subscription": 40.0}

    calls = scoring.call_list(CUSTOMERS, PROBA, money, 0.0, None)

    assert calls["id"].tolist() == ["b", "d", "c", "f", "a", "e"]
    assert calls["rank"].tolist() == [1, 2, 3, 4, 5, 6]
    # 40 x 0.9 - 12.5 = 23.5; 40 x 0.5 - 12.5 = 7.5; 40 x 0.2 - 12.5 = -4.5; 40 x 0.05 - 12.5 = -10.5
    assert calls["expected_value"].tolist() == [23.5, 23.5, 7.5, 7.5, -4.5, -10.5]


@pytest.mark.parametrize(("top_k", "ids"), [(1, ["b"]), (3, ["b", "d", "c"]), (5, ["b", "d", "c", "f", "a"])])
def test_call_list_top_k_holds_the_k_most_likely_whatever_the_threshold(top_k, ids):
    # 4 customers are at or above 0.5: top_k 1 and 3 list fewer (the tie at 0.5 keeps c, the first in the file),
    # and top_k 5 lists the best below the threshold too.
    calls = scoring.call_list(CUSTOMERS, PROBA, ECONOMICS, 0.5, top_k)

    assert calls["id"].tolist() == ids
    assert calls["rank"].tolist() == list(range(1, top_k + 1))


def test_call_list_with_nobody_at_or_above_the_threshold_is_empty_with_its_columns():
    calls = scoring.call_list(CUSTOMERS, PROBA, ECONOMICS, 0.95, None)

    assert calls.empty
    assert calls.columns.tolist() == ["id", "age", "probability", "rank", "expected_value"]


# --- the champion's threshold for a rule ----------------------------------------------------------------------

POINTER = {
    "run_id": "r2",
    "threshold": 0.2,  # the operating point its run chose: the profit one
    "threshold_rule": "profit",
    "thresholds": {"f1": 0.45, "profit": 0.2},
    "economics": {"cost_per_call": 2.0, "value_per_subscription": 50.0},
}
OLD_POINTER = {"run_id": "r1", "threshold": 0.45}  # written before profit thresholds existed


@pytest.mark.parametrize(
    ("pointer", "rule", "expected"),
    [
        (POINTER, AS_PUBLISHED, (0.2, "profit")),
        (POINTER, "f1", (0.45, "f1")),
        (POINTER, "profit", (0.2, "profit")),
        (OLD_POINTER, AS_PUBLISHED, (0.45, "f1")),
        (OLD_POINTER, "f1", (0.45, "f1")),
    ],
)
def test_champion_threshold_of_each_rule(pointer, rule, expected):
    assert scoring.champion_threshold(pointer, rule) == expected


def test_champion_threshold_profit_of_an_old_pointer_says_it_predates_them():
    with pytest.raises(
        InputError, match=r"^champion r1 has no profit threshold \(it predates them\): retrain, or score with f1$"
    ):
        scoring.champion_threshold(OLD_POINTER, "profit")


# --- score_object: the rule and top_k -------------------------------------------------------------------------

# p with ties across chunks: 0.8 at rows 1, 2, 4 and 7.
TIED = [[i, 30 + i, "job", p] for i, p in enumerate([0.3, 0.8, 0.8, 0.1, 0.8, 0.6, 0.9, 0.8, 0.2, 0.7])]


@pytest.fixture
def profit_champion(s3):
    """A champion of today's pointer shape, published at its F1 threshold 0.45, its profit threshold 0.15."""
    money = {"cost_per_call": 2.0, "value_per_subscription": 50.0}
    _promote_stand_in(s3, threshold_rule="f1", thresholds={"f1": 0.45, "profit": 0.15}, economics=money)
    s3.put_object(Bucket=BUCKET, Key="in/customers.csv", Body=csv_bytes(HEADER, TIED))
    return s3


@pytest.mark.parametrize("chunk_rows", [1, 3, 100_000])
def test_score_object_top_k_keeps_the_best_across_chunks(profit_champion, chunk_rows):
    # 7 customers at or above 0.45; the 4 most likely are 6 (0.9), then 1, 2 and 4 of the four tied at 0.8
    # (7, the last in the file, is left out), whichever chunk each was read in.
    summary = scoring.score_object(profit_champion, BUCKET, "in/customers.csv", top_k=4, chunk_rows=chunk_rows)

    calls = pd.read_csv(io.BytesIO(get_body(profit_champion, "in/call_list.csv")))
    assert calls["id"].tolist() == [6, 1, 2, 4]
    assert calls["rank"].tolist() == [1, 2, 3, 4]
    assert calls["expected_value"].tolist() == [43.0, 38.0, 38.0, 38.0]  # 50 x p - 2
    assert (summary["calls"], summary["expected_subscriptions"]) == (4, 3.3)
    assert summary["expected_profit"] == pytest.approx(157.0)  # 50 x 3.3 - 2 x 4
    assert summary["economics"] == {"cost_per_call": 2.0, "value_per_subscription": 50.0}  # the pointer's
    # predictions.csv still labels every customer at the threshold.
    assert (summary["rows"], summary["positives"], summary["threshold_rule"]) == (10, 7, "f1")
    out = pd.read_csv(io.BytesIO(get_body(profit_champion, "in/predictions.csv")))
    assert out["id"].tolist() == list(range(10))


def test_score_object_at_the_profit_threshold(profit_champion):
    summary = scoring.score_object(profit_champion, BUCKET, "in/customers.csv", "profit", chunk_rows=4)

    # Every customer at or above 0.15: all but row 3 (0.1).
    assert (summary["threshold"], summary["threshold_rule"]) == (0.15, "profit")
    assert (summary["positives"], summary["calls"]) == (9, 9)
    out = pd.read_csv(io.BytesIO(get_body(profit_champion, "in/predictions.csv")))
    assert out["predicted"].tolist() == ["yes"] * 3 + ["no"] + ["yes"] * 6
    calls = pd.read_csv(io.BytesIO(get_body(profit_champion, "in/call_list.csv")))
    assert calls["id"].tolist() == [6, 1, 2, 4, 7, 9, 5, 0, 8]
    assert summary["expected_subscriptions"] == pytest.approx(5.9)  # 0.9 + 4 x 0.8 + 0.7 + 0.6 + 0.3 + 0.2
    assert summary["expected_profit"] == pytest.approx(277.0)  # 50 x 5.9 - 2 x 9


def test_score_object_at_a_profit_threshold_the_old_champion_lacks_fails_before_writing(champion):
    before = all_keys(champion)

    with pytest.raises(InputError, match="has no profit threshold"):
        scoring.score_object(champion, BUCKET, "scoring/2026-11-28/customers.csv", "profit")

    assert all_keys(champion) == before
