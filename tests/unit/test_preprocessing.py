"""preprocessing: the stratified split and the per-family ColumnTransformer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from include.bank_marketing import config, layout, preprocessing, quality, storage
from include.bank_marketing.contracts import Split
from include.bank_marketing.families import Encoding
from tests.support.builders import BUCKET, SAFE_RUN_ID, all_keys, synthetic_frame


def labelled(n: int, positives: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": np.arange(1, n + 1),
            "x": np.arange(n, dtype=float),
            "y": np.array([1] * positives + [0] * (n - positives), dtype="int8"),
        }
    )


def dense(matrix) -> np.ndarray:
    return matrix.toarray() if sparse.issparse(matrix) else np.asarray(matrix)


# --- split ----------------------------------------------------------------------------------------------


def test_split_is_80_20_and_stratified():
    train, test = preprocessing.split(labelled(100, 30))

    assert (len(train), len(test)) == (80, 20)
    assert int(train["y"].sum()) == 24
    assert int(test["y"].sum()) == 6
    assert train["y"].mean() == pytest.approx(0.3)
    assert test["y"].mean() == pytest.approx(0.3)


def test_split_keeps_every_row_once_with_its_row_id():
    frame = labelled(50, 10)

    train, test = preprocessing.split(frame)

    assert list(train.columns) == ["row_id", "x", "y"]
    assert sorted([*train["row_id"], *test["row_id"]]) == list(range(1, 51))
    # each row keeps its own values
    merged = pd.concat([train, test]).set_index("row_id").sort_index()
    pd.testing.assert_frame_equal(merged, frame.set_index("row_id"))


def test_split_resets_the_index():
    train, test = preprocessing.split(labelled(40, 10))

    assert list(train.index) == list(range(32))
    assert list(test.index) == list(range(8))


def test_split_is_deterministic_with_the_fixed_seed():
    frame = labelled(200, 50)

    first = preprocessing.split(frame)
    second = preprocessing.split(frame)
    other_seed = preprocessing.split(frame, random_state=config.RANDOM_STATE + 1)

    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])
    assert sorted(first[1]["row_id"]) != sorted(other_seed[1]["row_id"])


def test_split_object_writes_both_parts(s3, run):
    frame = labelled(100, 30)
    uri = storage.write_parquet(s3, run.uri(layout.VALIDATED), frame)

    out = preprocessing.split_object(run, {"validated_uri": uri, "numeric": ["x"], "categorical": []}, drop=[])

    prefix = f"s3://{BUCKET}/runs/{SAFE_RUN_ID}"
    assert out == {
        "numeric": ["x"],
        "categorical": [],
        "dropped": [],
        "train_uri": f"{prefix}/data/train.parquet",
        "test_uri": f"{prefix}/data/test.parquet",
        "train_rows": 80,
        "test_rows": 20,
        "train_positive_rate": 0.3,
        "test_positive_rate": 0.3,
        "overlap_rows": 0,
    }
    assert set(out) == Split.__required_keys__
    assert (out["train_uri"], out["test_uri"]) == (run.uri(layout.TRAIN), run.uri(layout.TEST))
    expected_train, expected_test = preprocessing.split(frame)
    pd.testing.assert_frame_equal(storage.read_parquet(s3, out["train_uri"]), expected_train)
    pd.testing.assert_frame_equal(storage.read_parquet(s3, out["test_uri"]), expected_test)
    assert len(all_keys(s3)) == 3


def test_split_object_drops_the_leaking_column_when_asked(s3, run):
    frame = labelled(100, 30).assign(duration=np.arange(100, dtype=float), job=["a", "b"] * 50)
    uri = storage.write_parquet(s3, f"s3://{BUCKET}/v.parquet", frame)
    validated = {"validated_uri": uri, "numeric": ["x", "duration"], "categorical": ["job"]}

    out = preprocessing.split_object(run, validated, drop=["duration", "not_there", "y", "row_id"])

    assert (out["numeric"], out["categorical"], out["dropped"]) == (["x"], ["job"], ["duration"])
    assert "duration" not in storage.read_parquet(s3, out["train_uri"]).columns
    assert "duration" not in storage.read_parquet(s3, out["test_uri"]).columns
    # The target and the row id are never dropped, even when asked.
    assert {"row_id", "y"} <= set(storage.read_parquet(s3, out["train_uri"]).columns)


def test_features_and_target_drops_row_id_and_y():
    frame = pd.DataFrame({"row_id": [1, 2], "a": [1.0, 2.0], "b": ["u", "v"], "y": [0, 1]})

    x, y = preprocessing.features_and_target(frame)

    assert list(x.columns) == ["a", "b"]
    assert y.tolist() == [0, 1]


# --- build_preprocessor -----------------------------------------------------------------------------------

# Numbers first in the input on purpose: the transformer must still put categorical columns first.
FRAME = pd.DataFrame(
    {
        "num": [np.nan, 2.0, 4.0],
        "cat": pd.Series(["b", None, "a"], dtype="str"),
    }
)


def test_onehot_imputes_0_before_scaling_and_text_with_missing():
    pre = preprocessing.build_preprocessor(["num"], ["cat"], "onehot")

    out = dense(pre.fit_transform(FRAME))

    assert list(pre.get_feature_names_out()) == ["cat_a", "cat_b", "cat_missing", "num"]
    # 'missing' is a category of its own
    np.testing.assert_array_equal(out[:, :3], [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    # NaN became 0 (not the mean, 3.0), then [0, 2, 4] was standardised: mean 2, std sqrt(8/3)
    std = np.sqrt(8 / 3)
    np.testing.assert_allclose(out[:, 3], [-2 / std, 0.0, 2 / std])


def test_onehot_ignores_unseen_categories():
    pre = preprocessing.build_preprocessor(["num"], ["cat"], "onehot").fit(FRAME)

    out = dense(pre.transform(pd.DataFrame({"num": [2.0], "cat": pd.Series(["zzz"], dtype="str")})))

    np.testing.assert_allclose(out, [[0, 0, 0, 0]])


@pytest.mark.parametrize("encoding", ["ordinal", "native"])
def test_ordinal_and_native_put_categorical_columns_first_unscaled(encoding):
    frame = FRAME.assign(num2=[1.0, 5.0, np.nan], cat2=pd.Series(["x", "y", "x"], dtype="str"))
    pre = preprocessing.build_preprocessor(["num", "num2"], ["cat", "cat2"], encoding)

    out = dense(pre.fit_transform(frame))

    assert list(pre.get_feature_names_out()) == ["cat", "cat2", "num", "num2"]
    # categories sorted: a=0, b=1, missing=2 / x=0, y=1; numbers imputed with 0 and not scaled
    np.testing.assert_allclose(out, [[1, 0, 0, 1], [2, 1, 2, 5], [0, 0, 4, 0]])


@pytest.mark.parametrize("encoding", ["ordinal", "native"])
def test_ordinal_codes_unseen_categories_as_minus_one(encoding):
    pre = preprocessing.build_preprocessor(["num"], ["cat"], encoding).fit(FRAME)

    out = dense(pre.transform(pd.DataFrame({"num": [np.nan], "cat": pd.Series(["zzz"], dtype="str")})))

    np.testing.assert_allclose(out, [[-1, 0]])


def test_onehot_output_also_starts_with_categorical_columns():
    frame = FRAME.assign(cat2=pd.Series(["x", "y", "x"], dtype="str"))
    pre = preprocessing.build_preprocessor(["num"], ["cat", "cat2"], "onehot").fit(frame)

    assert list(pre.get_feature_names_out()) == ["cat_a", "cat_b", "cat_missing", "cat2_x", "cat2_y", "num"]


@pytest.mark.parametrize("encoding", list(Encoding))
def test_build_preprocessor_takes_the_encoding_enum_or_its_value(encoding):
    as_enum = preprocessing.build_preprocessor(["num"], ["cat"], encoding).fit(FRAME)
    as_text = preprocessing.build_preprocessor(["num"], ["cat"], encoding.value).fit(FRAME)

    np.testing.assert_allclose(dense(as_enum.transform(FRAME)), dense(as_text.transform(FRAME)))


def test_unknown_encoding_raises():
    with pytest.raises(ValueError, match="unknown encoding 'target'; expected one of onehot, ordinal, native"):
        preprocessing.build_preprocessor(["num"], ["cat"], "target")


def test_category_cap_is_set_only_when_a_column_has_more_values_than_it():
    cap = preprocessing.MAX_NATIVE_CATEGORIES
    narrow = pd.DataFrame({"cat": pd.Series([f"v{i}" for i in range(cap - 1)] + [None], dtype="str")})
    wide = pd.DataFrame({"cat": pd.Series([f"v{i}" for i in range(cap)] + [None], dtype="str")})  # missing counts

    assert preprocessing.category_cap(narrow) is None
    assert preprocessing.category_cap(wide) == cap
    assert preprocessing.category_cap(pd.DataFrame(index=range(3))) is None  # no categorical column


def test_a_column_wider_than_the_cap_is_grouped_and_hist_gradient_boosting_still_fits():
    from include.bank_marketing import families, training

    rows = 2 * (preprocessing.MAX_NATIVE_CATEGORIES + 50)
    frame = pd.DataFrame(
        {"num": np.arange(rows, dtype=float), "cat": pd.Series([f"v{i // 2}" for i in range(rows)], dtype="str")}
    )
    y = np.arange(rows) % 2
    cap = preprocessing.category_cap(frame[["cat"]])
    pipe = training.make_pipeline(families.get("hist_gradient_boosting"), ["num"], ["cat"], cap).fit(frame, y)

    codes = dense(pipe[:-1].transform(frame))[:, 0]
    assert cap is not None and len(np.unique(codes)) == cap  # cap - 1 kept, the rest one "infrequent" code
    # Below the cap, the capped and uncapped encoders give the same codes.
    small = FRAME
    np.testing.assert_allclose(
        dense(preprocessing.build_preprocessor(["num"], ["cat"], "native", cap).fit_transform(small)),
        dense(preprocessing.build_preprocessor(["num"], ["cat"], "native").fit_transform(small)),
    )


# --- CalendarFeatures -------------------------------------------------------------------------------------


def test_calendar_features_place_each_contact_in_the_year():
    frame = pd.DataFrame(
        {
            "month": pd.Series(["jan", "Feb", "dec", None, "may", "sep"], dtype="category"),
            "day": [1, 28, 31, 5, None, 30],
            "age": [30, 40, 50, 60, 70, 80],
        }
    )

    out = preprocessing.CalendarFeatures().fit(frame).transform(frame)

    assert list(out.columns) == ["month", "day", "age", "month_number", "day_of_year"]
    assert out["month_number"].tolist()[:3] == [1.0, 2.0, 12.0]
    assert out["day_of_year"].tolist()[:3] == [1.0, 59.0, 365.0]
    assert out["day_of_year"].tolist()[5] == pytest.approx(273.0)  # 30 September
    assert out[["month_number", "day_of_year"]].iloc[3].isna().all()  # no month: nothing to place
    assert out["month_number"].tolist()[4] == pytest.approx(5.0)
    assert np.isnan(out["day_of_year"].iloc[4])  # a month, no day
    assert out.dtypes["day_of_year"] == np.float64
    assert "month_number" not in frame.columns  # the input is not changed


def test_calendar_features_add_what_the_columns_allow():
    month_only = pd.DataFrame({"month": ["mar"], "duration": [10]})
    neither = pd.DataFrame({"age": [30]})

    assert preprocessing.derived_columns(["day", "month", "age"]) == ["month_number", "day_of_year"]
    assert preprocessing.derived_columns(["month"]) == ["month_number"]
    assert preprocessing.derived_columns(["day", "age"]) == []
    assert list(preprocessing.CalendarFeatures().fit_transform(month_only).columns) == [
        "month",
        "duration",
        "month_number",
    ]
    assert preprocessing.CalendarFeatures().fit(neither).transform(neither) is neither
    fitted = preprocessing.CalendarFeatures().fit(month_only)
    assert list(fitted.get_feature_names_out()) == ["month", "duration", "month_number"]


def test_a_fitted_pipeline_derives_the_calendar_columns_from_raw_rows():
    from include.bank_marketing import families, training

    frame = pd.DataFrame(
        {
            "month": pd.Series(["jan", "jun", "dec", "mar"] * 10, dtype="category"),
            "day": [1, 15, 31, 9] * 10,
            "age": np.arange(40, dtype=float),
        }
    )
    y = np.arange(40) % 2
    pipe = training.make_pipeline(families.get("hist_gradient_boosting"), ["day", "age"], ["month"]).fit(frame, y)

    assert list(pipe[:-1].get_feature_names_out()) == ["month", "day", "age", "month_number", "day_of_year"]
    assert pipe.named_steps["model"].categorical_features == [True, False, False, False, False]
    assert pipe.predict_proba(frame).shape == (40, 2)


def test_split_keeps_rows_with_identical_features_on_the_training_side():
    frame = synthetic_frame(300, seed=1)
    features = [c for c in frame.columns if c not in ("row_id", "y")]
    # Ten rows copy another row's features with the other outcome (the same customer, two answers).
    twins = frame.iloc[:10].assign(row_id=range(301, 311), y=1 - frame["y"].iloc[:10])
    train, test = preprocessing.split(pd.concat([frame, twins], ignore_index=True))
    assert set(range(1, 11)) | set(range(301, 311)) <= set(train["row_id"])
    assert quality.overlap_rows(train, test, features) == 0
    # Without such rows the split is the plain stratified one.
    _, plain_test = preprocessing.split(frame)
    reference = preprocessing.train_test_split(frame, test_size=0.2, stratify=frame["y"], random_state=0)[1]
    assert sorted(plain_test["row_id"]) == sorted(reference["row_id"])
