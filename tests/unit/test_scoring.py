"""scoring: the customers file read chunk by chunk, and the champion's predictions.csv."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from include.bank_marketing import scoring, storage
from include.bank_marketing.contracts import ScoringResult
from include.bank_marketing.layout import CHAMPION_KEY, PREDICTIONS_NAME
from include.bank_marketing.validation import InputError
from tests.support.builders import BUCKET, ColumnProba, all_keys, csv_bytes, get_body

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


def _promote_stand_in(s3, target_format: str = "yes/no") -> None:
    """A champion pointer at a stand-in model scoring column ``p``, trained on an input of ``target_format``."""
    saved = storage.save_model(s3, f"s3://{BUCKET}/runs/r1/model.joblib", ColumnProba("p"))
    meta_uri = storage.write_json(
        s3,
        f"s3://{BUCKET}/runs/r1/model.json",
        {"input": {"numeric": ["age", "p"], "categorical": ["job"], "target_format": target_format}},
    )
    doc = {"run_id": "r1", "family": "random_forest", "threshold": 0.45, "model_uri": saved["uri"],
           "sha256": saved["sha256"], "model_json_uri": meta_uri}  # fmt: skip
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
        "champion_run_id": "r1",
        "family": "random_forest",
    }
    assert set(summary) == ScoringResult.__required_keys__


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
