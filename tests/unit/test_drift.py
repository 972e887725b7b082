"""drift: PSI, the reference profile of a training frame, drift of a new frame against it, the alert line."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from include.bank_marketing import drift, layout, storage
from include.bank_marketing.contracts import DriftCheck
from include.bank_marketing.layout import CHAMPION_KEY
from tests.conftest import ROOT
from tests.support.builders import BUCKET, SAFE_RUN_ID

NUMERIC = ["age", "balance", "day", "duration", "campaign", "pdays", "previous"]
CATEGORICAL = ["job", "marital", "education", "default", "housing", "loan", "contact", "month", "poutcome"]


def read_banking() -> pd.DataFrame:
    """banking.csv shaped like a validated frame: row_id, numeric as float, text as str with NaN, y as 0/1."""
    frame = pd.read_csv(ROOT / "include" / "data" / "banking.csv", sep=";", keep_default_na=False, na_values=[""])
    frame[NUMERIC] = frame[NUMERIC].astype(float)
    frame["y"] = frame["y"].map({"yes": 1, "no": 0}).astype("int8")
    frame.insert(0, "row_id", np.arange(1, len(frame) + 1))
    return frame


@pytest.fixture(scope="module")
def banking_once() -> pd.DataFrame:
    return read_banking()


@pytest.fixture
def banking(banking_once) -> pd.DataFrame:
    """A fresh copy of banking.csv per test (tests may change it); the file is read once per module."""
    return banking_once.copy()


@pytest.fixture
def halves(banking) -> tuple[pd.DataFrame, pd.DataFrame]:
    """banking.csv shuffled with a fixed seed and cut in two (the file itself is in date order)."""
    shuffled = banking.sample(frac=1, random_state=0).reset_index(drop=True)
    middle = len(shuffled) // 2
    return shuffled.iloc[:middle].reset_index(drop=True), shuffled.iloc[middle:].reset_index(drop=True)


def small() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "row_id": np.arange(1, 11),
            "x": np.arange(1.0, 11.0),
            "color": pd.Series(["red"] * 5 + ["blue"] * 3 + ["green", None], dtype="str"),
            "y": np.array([0, 1] * 5, dtype="int8"),
        }
    )


# --- psi ------------------------------------------------------------------------------------------------


def test_psi_of_identical_shares_is_zero():
    assert drift.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(0.0)


def test_psi_matches_the_formula_by_hand():
    expected = 0.4 * math.log(0.9 / 0.5) + (-0.4) * math.log(0.1 / 0.5)

    assert drift.psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(expected, abs=1e-9)
    assert drift.psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(0.8788898309344878, abs=1e-9)


def test_psi_is_symmetric():
    assert drift.psi([0.5, 0.5], [0.9, 0.1]) == pytest.approx(drift.psi([0.9, 0.1], [0.5, 0.5]), abs=1e-12)


def test_psi_clips_empty_shares_at_eps():
    value = drift.psi([1.0, 0.0], [0.5, 0.5])

    assert math.isfinite(value)
    # the empty expected share counts as eps = 1e-4
    assert value == pytest.approx((0.5 - 1) * math.log(0.5 / 1) + (0.5 - 1e-4) * math.log(0.5 / 1e-4), abs=1e-9)
    assert drift.psi([1.0, 0.0], [1.0, 0.0]) == pytest.approx(0.0)


def test_psi_returns_a_python_float():
    assert type(drift.psi(np.array([0.5, 0.5]), np.array([0.6, 0.4]))) is float


def test_psi_rejects_vectors_of_different_lengths():
    with pytest.raises(ValueError, match="equal length"):
        drift.psi([0.5, 0.5], [1.0])


# --- profile --------------------------------------------------------------------------------------------


def test_profile_of_a_small_frame():
    frame = small()

    ref = drift.profile(frame, ["x"], ["color"], bins=4)

    assert ref["rows"] == 10
    assert ref["bins"] == 4
    x = ref["columns"]["x"]
    # quantiles 0.25, 0.5, 0.75 of 1..10 taken as data values; bins (-inf, 3], (3, 5], (5, 8], (8, inf)
    assert x == {"kind": "numeric", "edges": [3.0, 5.0, 8.0], "shares": [0.3, 0.2, 0.3, 0.2], "missing_share": 0.0}
    assert ref["columns"]["color"] == {
        "kind": "categorical",
        "shares": {"red": 0.5, "blue": 0.3, "green": 0.1},
        "missing_share": 0.1,
    }


def test_profile_ignores_unlisted_columns(banking):
    ref = drift.profile(banking, ["age"], ["job"])

    assert list(ref["columns"]) == ["age", "job"]


def test_profile_deduplicates_edges_and_leaves_no_empty_bin(banking):
    ref = drift.profile(banking, NUMERIC, CATEGORICAL)

    assert ref["rows"] == 45211
    for col in NUMERIC:
        spec = ref["columns"][col]
        assert spec["edges"] == sorted(set(spec["edges"])), col
        assert len(spec["shares"]) == len(spec["edges"]) + 1, col
        assert min(spec["shares"]) > 0, col
        assert sum(spec["shares"]) + spec["missing_share"] == pytest.approx(1.0), col
    for col in CATEGORICAL:
        spec = ref["columns"][col]
        assert sum(spec["shares"].values()) + spec["missing_share"] == pytest.approx(1.0), col
    # pdays is -1 (never contacted) on 82 % of rows: nine quantiles collapse into few edges
    assert len(ref["columns"]["pdays"]["edges"]) < 9
    assert ref["columns"]["pdays"]["shares"][0] > 0.8
    # banking.csv's blank cells show up as missing shares
    assert ref["columns"]["age"]["missing_share"] == pytest.approx(90 / 45211)
    assert ref["columns"]["poutcome"]["missing_share"] == pytest.approx(76 / 45211)


def test_profile_with_one_bin_has_no_edges():
    ref = drift.profile(small(), ["x"], [], bins=1)

    assert ref["columns"]["x"]["edges"] == []
    assert ref["columns"]["x"]["shares"] == [1.0]


def test_profile_of_an_all_missing_numeric_column():
    frame = small().assign(x=np.nan)

    ref = drift.profile(frame, ["x"], [])

    assert ref["columns"]["x"] == {"kind": "numeric", "edges": [], "shares": [0.0], "missing_share": 1.0}


def test_profile_ignores_infinities_when_placing_edges():
    frame = small()
    frame.loc[0, "x"] = -np.inf
    frame.loc[9, "x"] = np.inf

    ref = drift.profile(frame, ["x"], [], bins=4)

    assert all(math.isfinite(e) for e in ref["columns"]["x"]["edges"])
    json.loads(json.dumps(ref, allow_nan=False))


def test_profile_rejects_bad_arguments():
    frame = small()
    with pytest.raises(ValueError, match="not in the frame: nope"):
        drift.profile(frame, ["x", "nope"], [])
    with pytest.raises(ValueError, match="both numeric and categorical: x"):
        drift.profile(frame, ["x"], ["x"])
    with pytest.raises(ValueError, match="bins"):
        drift.profile(frame, ["x"], [], bins=0)
    with pytest.raises(ValueError, match="no rows"):
        drift.profile(frame.iloc[:0], ["x"], [])


def test_profile_round_trips_through_json(halves):
    reference, new = halves
    ref = drift.profile(reference, NUMERIC, CATEGORICAL)

    text = json.dumps(ref, allow_nan=False)  # strict JSON: no NaN or Infinity anywhere
    restored = json.loads(text)

    assert restored == ref
    assert drift.compare(restored, new) == drift.compare(ref, new)
    assert len(text) < 10_000  # small enough to sit beside the model


# --- compare --------------------------------------------------------------------------------------------


def test_compare_of_the_reference_frame_itself_is_zero_everywhere(banking):
    ref = drift.profile(banking, NUMERIC, CATEGORICAL)

    result = drift.compare(ref, banking)

    assert result["max_psi"] == pytest.approx(0.0, abs=1e-12)
    assert result["drifted"] == []
    assert result["rows"] == result["reference_rows"] == 45211


def test_random_split_of_the_same_file_does_not_drift(halves):
    reference, new = halves

    result = drift.compare(drift.profile(reference, NUMERIC, CATEGORICAL), new)

    assert result["drifted"] == []
    assert result["missing_columns"] == []
    assert set(result["columns"]) == {*NUMERIC, *CATEGORICAL}
    # measured: max PSI 0.0013 (balance); 0.2 would be 150 times that
    assert result["max_psi"] < 0.01
    assert all(
        c["unseen_share"] == pytest.approx(0.0) for c in result["columns"].values() if c["kind"] == "categorical"
    )


def test_shifted_copy_flags_exactly_the_shifted_columns(halves):
    reference, new = halves
    new["duration"] *= 3
    new["balance"] += 5000
    new["month"] = "may"
    astronauts = np.random.default_rng(0).random(len(new)) < 0.2
    new.loc[astronauts, "job"] = "astronaut"

    result = drift.compare(drift.profile(reference, NUMERIC, CATEGORICAL), new)

    assert {d["column"] for d in result["drifted"]} == {"duration", "balance", "month", "job"}
    psis = [d["psi"] for d in result["drifted"]]
    assert psis == sorted(psis, reverse=True)
    assert result["max_psi"] == psis[0]
    # measured: balance 8.06, month 5.57, job 1.55, duration 1.37; every other column under 0.002
    assert min(psis) > 1.0
    assert all(
        c["psi"] < 0.01 for col, c in result["columns"].items() if col not in {"duration", "balance", "month", "job"}
    )
    job = result["columns"]["job"]
    assert job["unseen_share"] == pytest.approx(0.2, abs=0.01)
    assert job["unseen_share"] == pytest.approx(astronauts.mean())
    assert result["columns"]["month"]["unseen_share"] == pytest.approx(0.0)


def test_result_is_plain_json(halves):
    reference, new = halves
    new["job"] = "astronaut"

    result = drift.compare(drift.profile(reference, NUMERIC, CATEGORICAL), new)

    assert json.loads(json.dumps(result, allow_nan=False)) == result

    def plain(value):
        if isinstance(value, dict):
            return all(isinstance(k, str) and plain(v) for k, v in value.items())
        if isinstance(value, list):
            return all(plain(v) for v in value)
        return value is None or type(value) in (str, int, float, bool)

    assert plain(result)
    assert type(result["rows"]) is int
    assert type(result["max_psi"]) is float


def test_missing_and_unknown_columns(halves):
    reference, new = halves
    ref = drift.profile(reference, NUMERIC, CATEGORICAL)

    result = drift.compare(ref, new.drop(columns=["balance", "job"]).assign(brand_new=1.0))

    assert result["missing_columns"] == ["balance", "job"]
    assert "brand_new" not in result["columns"]
    assert set(result["columns"]) == {*NUMERIC, *CATEGORICAL} - {"balance", "job"}
    assert result["drifted"] == []


def test_numeric_column_half_missing_drifts(halves):
    reference, new = halves
    new.loc[new.index[::2], "age"] = np.nan

    result = drift.compare(drift.profile(reference, NUMERIC, CATEGORICAL), new)

    assert [d["column"] for d in result["drifted"]] == ["age"]
    assert result["columns"]["age"]["psi"] > 1.0


def test_categorical_column_half_missing_drifts_without_unseen_rows(halves):
    reference, new = halves
    new.loc[new.index[::2], "education"] = np.nan

    result = drift.compare(drift.profile(reference, NUMERIC, CATEGORICAL), new)

    assert [d["column"] for d in result["drifted"]] == ["education"]
    # a missing value is its own category, not an unseen one
    assert result["columns"]["education"]["unseen_share"] == pytest.approx(0.0)


def test_values_outside_the_reference_range_fall_in_the_end_bins():
    ref = drift.profile(small(), ["x"], [], bins=4)
    below = pd.DataFrame({"x": [-1e9, -np.inf, 0.0, 1.0] * 5})  # all in (-inf, 3]
    above = pd.DataFrame({"x": [1e9, np.inf, 11.0, 9.0] * 5})  # all in (8, inf)

    low, high = drift.compare(ref, below), drift.compare(ref, above)

    expected = ref["columns"]["x"]["shares"] + [0.0]
    assert low["columns"]["x"]["psi"] == pytest.approx(drift.psi(expected, [1.0, 0, 0, 0, 0]), abs=1e-12)
    assert high["columns"]["x"]["psi"] == pytest.approx(drift.psi(expected, [0, 0, 0, 1.0, 0]), abs=1e-12)


def test_bin_edges_are_right_closed():
    ref = drift.profile(small(), ["x"], [], bins=4)  # edges 3, 5, 8
    at_edges = pd.DataFrame({"x": [3.0, 5.0, 8.0, 9.0]})

    result = drift.compare(ref, at_edges)

    # one value in each bin: (-inf, 3], (3, 5], (5, 8], (8, inf)
    assert result["columns"]["x"]["psi"] == pytest.approx(drift.psi([0.3, 0.2, 0.3, 0.2, 0.0], [0.25] * 4 + [0]))


def test_categorical_shares_by_hand():
    ref = drift.profile(small(), [], ["color"])  # red .5, blue .3, green .1, missing .1
    new = pd.DataFrame({"color": pd.Series(["red", "red", "purple", None], dtype="str")})

    result = drift.compare(ref, new)["columns"]["color"]

    assert result["unseen_share"] == pytest.approx(0.25)
    # bins: red, blue, green, missing, unseen
    assert result["psi"] == pytest.approx(drift.psi([0.5, 0.3, 0.1, 0.1, 0.0], [0.5, 0.0, 0.0, 0.25, 0.25]))


def test_columns_arriving_with_another_type():
    frame = small()
    frame["code"] = pd.Series(["1", "2", "3", "1", "2", "3", "1", "2", "3", "1"], dtype="str")
    ref = drift.profile(frame, ["x"], ["code"], bins=4)  # x edges 3, 5, 8 as in test_profile_of_a_small_frame
    # code now parsed as numbers; x now holds text on every row
    new = frame.assign(code=frame["code"].astype(int), x="n/a")

    result = drift.compare(ref, new)

    assert result["columns"]["code"]["psi"] == pytest.approx(0.0)
    assert result["columns"]["code"]["unseen_share"] == pytest.approx(0.0)
    # text in a numeric column counts as missing
    assert result["columns"]["x"]["psi"] == pytest.approx(drift.psi([0.3, 0.2, 0.3, 0.2, 0.0], [0, 0, 0, 0, 1.0]))


def test_compare_rejects_an_unknown_profile_and_an_empty_frame():
    ref = drift.profile(small(), ["x"], [])
    with pytest.raises(ValueError, match="version"):
        drift.compare({**ref, "version": 99}, small())
    with pytest.raises(ValueError, match="no rows"):
        drift.compare(ref, small().iloc[:0])


def test_threshold_is_exclusive_and_reported():
    ref = drift.profile(small(), [], ["color"])
    new = pd.DataFrame({"color": pd.Series(["red", "blue"], dtype="str")})
    value = drift.compare(ref, new)["columns"]["color"]["psi"]

    at = drift.compare(ref, new, threshold=value)
    below = drift.compare(ref, new, threshold=value - 1e-9)

    assert at["drifted"] == [] and at["threshold"] == value
    assert below["drifted"] == [{"column": "color", "psi": value}]


# --- summary --------------------------------------------------------------------------------------------


def test_summary_without_drift(halves):
    reference, new = halves

    line = drift.summary(drift.compare(drift.profile(reference, NUMERIC, CATEGORICAL), new))

    assert line == "no drift (max PSI 0.001 < 0.2)"


def test_summary_with_drift(halves):
    reference, new = halves
    new["duration"] *= 3
    new["month"] = "may"

    line = drift.summary(drift.compare(drift.profile(reference, NUMERIC, CATEGORICAL), new))

    assert line == "drift in 2 columns: month PSI 5.57, duration PSI 1.37 (threshold 0.2)"


def test_summary_by_hand():
    base = {"threshold": 0.2, "drifted": [], "max_psi": 0.0134, "missing_columns": []}

    assert drift.summary(base) == "no drift (max PSI 0.013 < 0.2)"
    assert drift.summary({**base, "max_psi": 0.2}) == "no drift (max PSI 0.200 <= 0.2)"
    assert drift.summary({**base, "max_psi": None}) == "no drift (no columns compared)"
    assert (
        drift.summary({**base, "drifted": [{"column": "duration", "psi": 0.414}], "max_psi": 0.414})
        == "drift in 1 column: duration PSI 0.41 (threshold 0.2)"
    )
    assert (
        drift.summary({**base, "missing_columns": ["balance", "job"]})
        == "no drift (max PSI 0.013 < 0.2); missing from the file: balance, job"
    )


# --- check_object on S3 -----------------------------------------------------------------------------------


def _validated(s3, run, frame: pd.DataFrame) -> dict:
    """The ValidatedInput fields check_object reads: where this run's validated rows are."""
    return {"validated_uri": storage.write_parquet(s3, run.uri(layout.VALIDATED), frame)}


def _crown(s3, run_id: str, profile_uri: str | None) -> None:
    """A champion pointer of run ``run_id`` (only the fields the drift check reads)."""
    doc = {"run_id": run_id} | ({"profile_uri": profile_uri} if profile_uri else {})
    storage.write_json(s3, f"s3://{BUCKET}/{CHAMPION_KEY}", doc)


def test_check_object_without_a_champion_compares_nothing_and_says_so(s3, run):
    out = drift.check_object(run, _validated(s3, run, small()), threshold=0.3)

    assert out == {
        "drift_uri": f"s3://{BUCKET}/runs/{SAFE_RUN_ID}/drift.json",
        "summary": "no champion to compare with",
        "drifted": [],
        "max_psi": None,
        "threshold": 0.3,
        "champion_run_id": None,
    }
    assert out["drift_uri"] == run.uri(layout.DRIFT)
    assert set(out) == DriftCheck.__required_keys__
    stored = storage.read_json(s3, out["drift_uri"])
    assert {k: stored[k] for k in ("summary", "max_psi", "drifted", "champion_run_id")} == {
        "summary": "no champion to compare with",
        "max_psi": None,
        "drifted": [],
        "champion_run_id": None,
    }


def test_check_object_with_a_champion_trained_before_profiles_compares_nothing(s3, run):
    _crown(s3, "old-run", None)

    out = drift.check_object(run, _validated(s3, run, small()))

    assert (out["summary"], out["max_psi"], out["champion_run_id"]) == ("no champion to compare with", None, "old-run")
    assert out["threshold"] == drift.PSI_THRESHOLD


def test_check_object_compares_with_the_champions_profile_and_writes_the_detail(s3, run):
    reference = small()
    profile_uri = storage.write_json(
        s3, f"s3://{BUCKET}/runs/champ/profile.json", drift.profile(reference, ["x"], ["color"], bins=4)
    )
    _crown(s3, "champ", profile_uri)
    shifted = reference.assign(x=reference["x"] + 100)  # every value past the last edge

    out = drift.check_object(run, _validated(s3, run, shifted), threshold=0.2)

    expected = drift.compare(drift.profile(reference, ["x"], ["color"], bins=4), shifted, 0.2)
    assert out["summary"] == drift.summary(expected)
    assert out["summary"].startswith("drift in 1 column: x PSI ")
    assert out["drifted"] == expected["drifted"] and [d["column"] for d in out["drifted"]] == ["x"]
    assert out["max_psi"] == pytest.approx(expected["max_psi"])
    assert out["champion_run_id"] == "champ"
    stored = storage.read_json(s3, out["drift_uri"])
    assert stored["columns"] == json.loads(json.dumps(expected["columns"]))
    assert stored["summary"] == out["summary"]
    assert stored["missing_columns"] == []
    json.dumps(out)
