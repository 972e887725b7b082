"""quality: repeated and conflicting rows, the per-column profile, rows shared by train and test, single-column
AUCs and the reasons a result looks too good to be true, on hand-made frames and on banking.csv."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from include.bank_marketing import quality
from tests.conftest import ROOT

FEATURES = ["age", "job"]


def frame(rows: list[tuple[float, str | None, int]]) -> pd.DataFrame:
    """A validated-looking frame of (age, job, y) rows, row_id counting from 1."""
    ages, jobs, ys = zip(*rows, strict=True) if rows else ((), (), ())
    return pd.DataFrame(
        {
            "row_id": np.arange(1, len(rows) + 1),
            "age": np.array(ages, dtype=float),
            "job": pd.Series(jobs, dtype="str"),
            "y": np.array(ys, dtype="int8"),
        }
    )


# --- feature_keys ----------------------------------------------------------------------------------------------


def test_equal_features_get_equal_keys_and_different_features_different_keys():
    rows = frame([(30, "admin", 0), (30, "admin", 1), (31, "admin", 0), (30, "blue-collar", 0), (30, None, 0)])

    keys = quality.feature_keys(rows, FEATURES)

    assert keys.dtype == np.uint64 and len(keys) == 5
    assert keys.iloc[0] == keys.iloc[1]  # the target and row_id are not features
    assert keys.iloc[2:].nunique() == 3 and keys.iloc[0] not in set(keys.iloc[2:])


def test_keys_do_not_depend_on_how_the_columns_are_stored():
    as_text = frame([(30, "admin", 0), (41, None, 1)])
    stored_otherwise = as_text.assign(age=as_text["age"].astype("int64").astype("Int64"), job=as_text["job"])
    stored_otherwise["job"] = stored_otherwise["job"].astype("category")

    assert list(quality.feature_keys(as_text, FEATURES)) == list(quality.feature_keys(stored_otherwise, FEATURES))


# --- find_repeats: counted and dropped --------------------------------------------------------------------------


def test_a_file_holding_every_row_twice_has_half_its_rows_exact_duplicates():
    once = frame([(30, "admin", 0), (41, "technician", 1), (52, None, 0), (30, "technician", 1)])
    twice = pd.concat([once, once], ignore_index=True).assign(row_id=np.arange(1, 9))  # row_ids all differ

    assert quality.find_repeats(once, FEATURES).counts() == (0, 0)
    assert quality.find_repeats(twice, FEATURES).counts() == (4, 0)


def test_equal_features_with_different_labels_are_conflicting_not_exact():
    rows = frame([(30, "admin", 0), (30, "admin", 1), (41, "technician", 1)])

    assert quality.find_repeats(rows, FEATURES).counts() == (0, 2)


def test_an_exact_copy_of_a_conflicting_row_is_exact_and_the_conflict_still_counts_two_rows():
    rows = frame([(30, "admin", 0), (30, "admin", 1), (41, "technician", 1), (30, "admin", 1)])

    assert quality.find_repeats(rows, FEATURES).counts() == (1, 2)


def test_missing_values_compare_equal_when_counting_duplicates():
    rows = frame([(np.nan, None, 0), (np.nan, None, 0), (np.nan, None, 1)])

    assert quality.find_repeats(rows, FEATURES).counts() == (1, 2)


def test_the_target_argument_names_the_label_column():
    rows = frame([(30, "admin", 0), (30, "admin", 1)]).rename(columns={"y": "label"})

    assert quality.find_repeats(rows, FEATURES, target="label").counts() == (0, 2)
    assert len(quality.find_repeats(rows, FEATURES, target="label").dropped_from(rows)) == 2


def test_dropping_repeats_keeps_the_first_of_each_set_in_row_order_with_its_row_id():
    rows = frame(
        [
            (30, "admin", 0),  # row 1, kept
            (41, "technician", 1),  # row 2, kept
            (30, "admin", 0),  # row 3: a copy of row 1
            (30, "admin", 1),  # row 4: conflicts with row 1 but is no copy, kept
            (41, "technician", 1),  # row 5: a copy of row 2
            (52, None, 0),  # row 6, kept
        ]
    )
    rows.index = [10, 11, 12, 13, 14, 15]

    kept = quality.find_repeats(rows, FEATURES).dropped_from(rows)

    assert kept["row_id"].tolist() == [1, 2, 4, 6]
    assert kept["age"].tolist() == [30, 41, 30, 52] and kept["y"].tolist() == [0, 1, 1, 0]
    assert kept.index.tolist() == [0, 1, 2, 3]
    assert list(kept.columns) == list(rows.columns)
    assert quality.find_repeats(kept, FEATURES).counts() == (0, 2)
    assert len(rows) == 6  # the input is left as it was


# --- column_quality --------------------------------------------------------------------------------------------


def profiled() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": np.arange(1, 6),
            "age": [17.0, 30.0, np.nan, 101.0, 30.0],
            "duration": np.array([-1, 0, 120, 3000, 5], dtype="int64"),
            "score": [0.5, 0.25, 0.5, 0.5, np.nan],  # not in PLAUSIBLE_BOUNDS
            "empty": [np.nan] * 5,
            "job": pd.Series(["admin", "unknown", None, "admin", "technician"], dtype="str"),
            "country": pd.Series(["PT"] * 5, dtype="str"),
            "y": np.array([0, 1, 0, 1, 0], dtype="int8"),
        }
    )


def test_column_quality_profiles_each_column_numeric_first_in_the_given_order():
    columns = quality.column_quality(profiled(), ["score", "age", "duration", "empty"], ["country", "job"])

    assert [c["column"] for c in columns] == ["score", "age", "duration", "empty", "country", "job"]
    by_name = {c["column"]: c for c in columns}
    assert by_name["age"] == {
        "column": "age",
        "kind": "numeric",
        "missing_share": 0.2,
        "distinct": 3,
        "constant": False,
        "minimum": 17.0,
        "maximum": 101.0,
        "bounds": [18.0, 100.0],
        "out_of_bounds": 2,  # 17 and 101; the missing age is not counted
    }
    assert by_name["duration"]["bounds"] == [0.0, None]
    assert by_name["duration"]["out_of_bounds"] == 1  # -1; 3000 is fine, there is no upper bound
    assert (by_name["duration"]["minimum"], by_name["duration"]["maximum"]) == (-1.0, 3000.0)
    assert by_name["score"]["bounds"] is None and by_name["score"]["out_of_bounds"] == 0
    assert by_name["score"]["distinct"] == 2
    assert by_name["empty"] == {
        "column": "empty",
        "kind": "numeric",
        "missing_share": 1.0,
        "distinct": 0,
        "constant": True,
        "minimum": None,
        "maximum": None,
        "bounds": None,
        "out_of_bounds": 0,
    }


def test_column_quality_of_categorical_columns():
    columns = quality.column_quality(profiled(), [], ["job", "country"])

    job, country = columns
    # "unknown" is a category; only the empty cell is missing.
    assert job == {
        "column": "job",
        "kind": "categorical",
        "missing_share": 0.2,
        "distinct": 3,
        "constant": False,
        "minimum": None,
        "maximum": None,
        "bounds": None,
        "out_of_bounds": 0,
    }
    assert country["constant"] is True and country["distinct"] == 1


def test_column_quality_rounds_shares_and_takes_other_bounds():
    rows = pd.DataFrame({"x": [np.nan, 1.0, 2.0, 3.0, 4.0, 5.0], "y": [0, 1, 0, 1, 0, 1]})

    (x,) = quality.column_quality(rows, ["x"], [], bounds={"x": (None, 3)})

    assert x["missing_share"] == pytest.approx(0.1667, abs=1e-12)  # 1/6, to 4 decimals
    assert x["bounds"] == [None, 3.0] and x["out_of_bounds"] == 2


def test_column_quality_is_plain_json():
    columns = quality.column_quality(profiled(), ["age", "duration", "empty"], ["job", "country"])

    assert json.loads(json.dumps(columns)) == columns
    for c in columns:
        assert type(c["distinct"]) is int and type(c["out_of_bounds"]) is int
        assert type(c["constant"]) is bool and type(c["missing_share"]) is float
        assert c["minimum"] is None or type(c["minimum"]) is float


# --- overlap_rows ----------------------------------------------------------------------------------------------


def test_disjoint_splits_share_no_rows():
    train = frame([(30, "admin", 0), (41, "technician", 1)])
    test = frame([(30, "technician", 0), (41, "admin", 1), (52, None, 0)])

    assert quality.overlap_rows(train, test, FEATURES) == 0


def test_overlap_counts_test_rows_whose_features_appear_in_training():
    train = frame([(30, "admin", 0), (41, "technician", 1), (52, None, 0)])
    # Two test rows repeat training features (one with the other label), one more repeats the first again.
    test = frame([(30, "admin", 1), (41, "technician", 1), (30, "admin", 0), (60, "retired", 1)])

    assert quality.overlap_rows(train, test, FEATURES) == 3
    assert quality.overlap_rows(train, test, ["age"]) == 3
    assert quality.overlap_rows(train, train, FEATURES) == 3


def test_overlap_matches_categorical_training_columns_with_text_test_columns():
    train = frame([(30, "admin", 0), (41, "technician", 1), (52, None, 0)])
    train["job"] = train["job"].astype("category")
    test = frame([(30, "admin", 1), (52, None, 0), (41, "admin", 0)])
    test["job"] = test["job"].astype(object)

    assert quality.overlap_rows(train, test, FEATURES) == 2
    # Categories in another order, and ones no row holds, change nothing: the values are compared.
    train["job"] = train["job"].cat.set_categories(["technician", "retired", "admin"])
    assert quality.overlap_rows(train, test, FEATURES) == 2
    # A category removed makes its rows missing, so (30, "admin") no longer matches.
    train["job"] = train["job"].cat.remove_categories(["admin"])
    assert quality.overlap_rows(train, test, FEATURES) == 1


# --- single_column_aucs ----------------------------------------------------------------------------------------


def split_with_columns(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype("int8")
    rows = pd.DataFrame(
        {
            "row_id": np.arange(1, n + 1),
            "copy": y.astype(float),
            "opposite": (1 - y).astype("int64"),
            "noise": rng.normal(size=n),
            "constant": np.full(n, 7.0),
            "outcome": pd.Series(np.where(y == 1, "success", "failure"), dtype="str"),
            "colour": pd.Series(rng.choice(["red", "green", "blue"], size=n), dtype="str"),
            "y": y,
        }
    )
    middle = n // 2
    return rows.iloc[:middle].reset_index(drop=True), rows.iloc[middle:].reset_index(drop=True)


def test_single_column_aucs_find_copies_of_the_label_either_way_round():
    train, test = split_with_columns()

    aucs = quality.single_column_aucs(train, test, ["copy", "opposite", "noise", "constant"], ["outcome", "colour"])

    assert list(aucs) == ["copy", "opposite", "noise", "constant", "outcome", "colour"]
    assert {c: aucs[c] for c in ("copy", "opposite", "outcome", "constant")} == {
        "copy": 1.0,
        "opposite": 1.0,  # ranks the target backwards: as much of a leak
        "outcome": 1.0,
        "constant": 0.5,
    }
    assert 0.5 <= aucs["noise"] < 0.7 and 0.5 <= aucs["colour"] < 0.7
    assert all(type(v) is float and v == round(v, 4) for v in aucs.values())


def test_a_categorical_column_is_scored_by_the_training_rows_rates_whatever_its_dtype():
    train, test = split_with_columns()
    train["outcome"] = train["outcome"].astype("category")
    test["outcome"] = test["outcome"].astype(object)

    assert quality.single_column_aucs(train, test, [], ["outcome"]) == {"outcome": 1.0}


def test_missing_numbers_take_the_training_median():
    train = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0, np.nan], "y": [0, 0, 1, 1, 0]})
    test = pd.DataFrame({"x": [1.0, np.nan, 2.0, 3.0], "y": [0, 1, 0, 1]})

    # The missing x scores the training median 2.5: above both negatives (1, 2), so the ranking is perfect.
    assert quality.single_column_aucs(train, test, ["x"], []) == {"x": 1.0}
    # Labelled 0 instead, it ranks above the positive 2: 3 of 4 positive-negative pairs in order.
    test["y"] = [0, 0, 1, 1]
    assert quality.single_column_aucs(train, test, ["x"], []) == {"x": 0.75}


def test_unseen_and_missing_categories_take_the_training_positive_rate():
    # Rates on the training rows: "a" 0, "b" 1, overall 0.5.
    train = pd.DataFrame({"c": pd.Series(["a", "a", "b", "b"], dtype="str"), "y": [0, 0, 1, 1]})
    test = pd.DataFrame({"c": pd.Series(["a", "z", None, "b"], dtype="str"), "y": [0, 1, 1, 1]})

    # The unseen "z" and the missing category rank above "a" ...
    assert quality.single_column_aucs(train, test, [], ["c"]) == {"c": 1.0}
    # ... and below "b": their score lies strictly between the two rates.
    test["y"] = [0, 0, 0, 1]
    assert quality.single_column_aucs(train, test, [], ["c"]) == {"c": 1.0}
    # Both at the same overall rate: a positive "z" against a negative missing one is a tie (half a pair).
    test["y"] = [0, 1, 0, 1]
    assert quality.single_column_aucs(train, test, [], ["c"]) == {"c": 0.875}


def test_no_aucs_when_the_test_rows_hold_one_class():
    train, test = split_with_columns()
    test["y"] = 0

    assert quality.single_column_aucs(train, test, ["copy"], ["outcome"]) == {}


# --- leaked_columns / suspicions -------------------------------------------------------------------------------


def test_leaked_columns_are_those_at_or_above_the_leak_auc():
    aucs = {"noise": 0.51, "duration": 0.99, "leak": 1.0, "near": 0.9899}

    assert quality.leaked_columns(aucs) == {"leak": 1.0, "duration": 0.99}
    assert list(quality.leaked_columns(aucs)) == ["leak", "duration"]
    assert quality.leaked_columns(aucs, leak_auc=0.5) == {"leak": 1.0, "duration": 0.99, "near": 0.9899, "noise": 0.51}
    assert quality.leaked_columns({}) == {}


def test_a_leaked_column_is_a_suspicion():
    reasons = quality.suspicions({"leak": 1.0, "age": 0.56}, challenger_auc=0.93, champion_auc=0.93)

    assert reasons == [
        "column 'leak' alone ranks the target with AUC 1.0000 (>= 0.99): a copy of the label, or known only after "
        "the call?"
    ]


def test_leaked_columns_are_listed_highest_first_then_by_name():
    reasons = quality.suspicions({"b": 0.995, "a": 0.995, "c": 1.0}, 0.9, None, leak_auc=0.99)

    assert [r.split("'")[1] for r in reasons] == ["c", "a", "b"]
    assert "AUC 0.9950 (>= 0.99)" in reasons[1]


def test_a_gain_over_the_champion_beyond_suspicious_gain_is_a_suspicion():
    reasons = quality.suspicions({"age": 0.56}, challenger_auc=0.978, champion_auc=0.937)

    assert reasons == [
        "test AUC 0.9780 is 0.0410 above the champion's 0.9370 on the same rows (more than suspicious_gain 0.02)"
    ]
    assert quality.suspicions({}, 0.978, 0.937, gain=0.05) == []
    assert quality.suspicions({}, 0.978, 0.937, gain=0.005)[0].endswith("(more than suspicious_gain 0.005)")


def test_gains_within_suspicious_gain_and_runs_without_a_champion_are_not_suspicious():
    assert quality.suspicions({"age": 0.56}, challenger_auc=0.95, champion_auc=0.937) == []
    # Exactly the allowed gain is not more than it (0.957 - 0.937 is 0.020000000000000018 in floats).
    assert quality.suspicions({}, challenger_auc=0.957, champion_auc=0.937) == []
    assert quality.suspicions({}, challenger_auc=0.90, champion_auc=0.937) == []  # worse is not suspicious
    assert quality.suspicions({"age": 0.56}, challenger_auc=0.99, champion_auc=None) == []


def test_both_kinds_of_suspicion_together_leak_first():
    reasons = quality.suspicions({"leak": 0.999}, challenger_auc=0.999, champion_auc=0.93)

    assert len(reasons) == 2
    assert reasons[0].startswith("column 'leak' alone ranks the target with AUC 0.9990")
    assert reasons[1].startswith("test AUC 0.9990 is 0.0690 above the champion's 0.9300")


# --- banking.csv -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def banking() -> pd.DataFrame:
    """banking.csv shaped like a validated frame: row_id, numbers, text with NaN for empty cells, y as 0/1."""
    rows = pd.read_csv(ROOT / "include" / "data" / "banking.csv", sep=";", keep_default_na=False, na_values=[""])
    rows["y"] = rows["y"].map({"yes": 1, "no": 0}).astype("int8")
    rows.insert(0, "row_id", np.arange(1, len(rows) + 1))
    return rows


def test_banking_csv_has_no_repeated_rows_and_doubled_has_every_row_once_repeated(banking):
    features = [c for c in banking.columns if c not in ("row_id", "y")]
    doubled = pd.concat([banking, banking], ignore_index=True)

    exact, conflicting = quality.find_repeats(banking, features).counts()
    repeats = quality.find_repeats(doubled, features)
    exact_doubled, conflicting_doubled = repeats.counts()
    kept = repeats.dropped_from(doubled)

    assert len(banking) == 45211 and len(features) == 16
    assert exact == 0
    assert exact_doubled == 45211
    # Copies add no conflict of their own: the conflicting rows are those of the file.
    assert conflicting_doubled == conflicting
    assert kept["row_id"].tolist() == banking["row_id"].tolist()
