"""End to end: bank_marketing_training run in this process (``DAG.test``) against moto's S3/SNS server over HTTP.

The DAG runs as in production; only the ``aws_default`` connection's ``endpoint_url`` differs. The first run
trains every family with the default grid on the full banking.csv (the model-quality checks); the runs after
it train one family on a small grid, or on the stratified sample when the model does not matter. SNS
messages are read back through an SQS queue subscribed to the topic.
"""

from __future__ import annotations

import hashlib
import io
import json

import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from include.bank_marketing import storage
from include.bank_marketing.layout import rejected_prefix
from tests.support import data

pytestmark = pytest.mark.e2e

DATA = data.banking_csv()
TEMPLATED_KEY = "raw/{{ ds }}/banking.csv"
FAMILIES = {"logistic_regression", "random_forest", "hist_gradient_boosting"}


@pytest.fixture(scope="module")
def good_run(aws, run_dag):
    """One full run on banking.csv, dropped at a date-partitioned key the DAG resolves from its template."""
    bucket = "bank-ml"
    aws.create_bucket(bucket)
    aws.upload(bucket, "raw/2026-11-20/banking.csv", DATA)
    aws.messages(aws.queue_url)  # start from an empty inbox
    result = run_dag("bank_marketing_training", {"bucket": bucket, "input_key": TEMPLATED_KEY}, "2026-11-20")
    prefix = aws.latest_run_prefix(bucket)
    return {
        "bucket": bucket,
        "result": result,
        "prefix": prefix,
        "s3": aws.client("s3"),
        "messages": aws.messages(aws.queue_url),
    }


def _get(run, key: str) -> bytes:
    return run["s3"].get_object(Bucket=run["bucket"], Key=key)["Body"].read()


def test_run_succeeds(good_run):
    result = good_run["result"]
    assert result.state == "success", result.states()
    # Every task succeeded once, the first run promotes so keep_champion is the branch skipped, a manual run
    # starts no run for other files (the mapped task has nothing to map), and the mapped train task ran once
    # per family, labelled with it.
    expected = {key: "success" for key in result.tasks} | {
        ("keep_champion", -1): "skipped",
        ("start_runs_for_other_files", -1): "skipped",
    }
    assert result.states() == expected
    assert {r.task_id for r in result.tasks.values() if r.try_number > 1} == set()
    assert {r.rendered_map_index for r in result.of("train")} == FAMILIES
    assert good_run["prefix"] and good_run["prefix"] == f"runs/{result.run_id.replace('+', '_')}"


def test_model_loads_after_sha256_check_and_scores_raw_rows(good_run):
    prefix = good_run["prefix"]
    meta = json.loads(_get(good_run, f"{prefix}/model.json"))
    model_bytes = _get(good_run, f"{prefix}/model.joblib")
    assert meta["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert meta["input"]["sha256"] == hashlib.sha256(DATA).hexdigest()
    assert meta["input"]["rows"] == 45211
    assert meta["input"]["uri"] == "s3://bank-ml/raw/2026-11-20/banking.csv"
    assert {"scikit-learn", "pandas", "python"} <= set(meta["libraries"])

    model = storage.load_model(good_run["s3"], meta["model_uri"], meta["sha256"])
    raw = pd.read_csv(io.BytesIO(DATA), sep=";")  # raw rows: text categories, blanks as NaN
    y = (raw.pop("y") == "yes").astype(int)
    proba = model.predict_proba(raw)[:, 1]
    assert proba.shape == (45211,)
    assert roc_auc_score(y, proba) >= 0.90

    with pytest.raises(storage.IntegrityError):
        storage.load_model(good_run["s3"], meta["model_uri"], "0" * 64)


def test_metrics_pass_baselines_with_auc_at_least_090(good_run):
    metrics = json.loads(_get(good_run, f"{good_run['prefix']}/metrics.json"))
    m = metrics["metrics"]
    assert m["auc"] >= 0.90
    assert m["rows"] == 9043
    assert metrics["verdict"] == "PASS"
    assert set(metrics["checks"]) == {"auc", "f1", "precision", "recall", "accuracy"}
    cm = m["confusion_matrix"]
    assert cm["tn"] + cm["fp"] + cm["fn"] + cm["tp"] == 9043
    families = {row["family"] for row in metrics["leaderboard"]}
    assert families == FAMILIES
    # The 60 s training budget (sum of fit_seconds) is a timing figure: `make bench` reports and checks it.


def test_new_csv_holds_the_test_split(good_run):
    run_csv = _get(good_run, f"{good_run['prefix']}/new.csv")
    assert _get(good_run, "new.csv") == run_csv  # the lab's location carries the latest run's copy
    frame = pd.read_csv(io.BytesIO(run_csv))
    assert len(frame) == 9043  # 20 % of 45,211 rows, rounded up by train_test_split
    header = DATA.split(b"\n", 1)[0].decode().split(";")
    assert list(frame.columns) == ["row_id", *header, "predicted", "probability"]
    assert set(frame["y"]) == {"yes", "no"} and set(frame["predicted"]) <= {"yes", "no"}
    assert frame["probability"].between(0, 1).all()
    assert frame["row_id"].is_unique and frame["row_id"].between(1, 45211).all()
    assert abs((frame["y"] == "yes").mean() - 5289 / 45211) < 0.002  # stratified


def test_exactly_one_sns_message_with_the_auc(good_run):
    metrics = json.loads(_get(good_run, f"{good_run['prefix']}/metrics.json"))
    messages = good_run["messages"]
    assert len(messages) == 1, messages
    auc = f"{metrics['metrics']['auc']:.3f}"
    assert messages[0]["subject"].startswith(f"[bank-ml] PASS AUC {auc}")
    body = messages[0]["message"]
    assert f"auc         {metrics['metrics']['auc']:.4f}" in body and "baseline" in body
    assert f"s3://bank-ml/{good_run['prefix']}/model.joblib" in body


def test_input_object_unchanged(good_run):
    assert _get(good_run, "raw/2026-11-20/banking.csv") == DATA


def test_first_run_becomes_the_champion(good_run):
    champion = json.loads(_get(good_run, "models/champion.json"))
    meta = json.loads(_get(good_run, f"{good_run['prefix']}/model.json"))
    assert champion["model_uri"] == meta["model_uri"] and champion["sha256"] == meta["sha256"]
    assert champion["reason"].startswith("first champion")
    history = json.loads(_get(good_run, f"models/history/{good_run['prefix'].removeprefix('runs/')}.json"))
    assert history["decision"] == "promoted"
    assert good_run["messages"][0]["subject"].endswith(", promoted")


@pytest.fixture(scope="module")
def second_run(good_run, aws, run_dag):
    """The same data again, the winning family with only its winning settings as the grid: an identical
    model (same data, settings and seed), which must not replace the champion."""
    aws.messages(aws.queue_url)
    result = run_dag("bank_marketing_training", _winner_only(good_run), "2026-11-20")
    return {**good_run, "result": result, "second_prefix": aws.latest_run_prefix(good_run["bucket"]),
            "messages": aws.messages(aws.queue_url)}  # fmt: skip


def _winner_only(good_run) -> dict:
    """The good run's conf narrowed to its winning family with only its winning settings as the grid."""
    meta = json.loads(_get(good_run, f"{good_run['prefix']}/model.json"))
    return {
        "bucket": good_run["bucket"],
        "input_key": TEMPLATED_KEY,
        "model_families": [meta["family"]],
        "param_grids": {meta["family"]: {name: [value] for name, value in meta["params"].items()}},
    }


def test_an_equal_challenger_keeps_the_champion_and_says_why(second_run):
    result = second_run["result"]
    assert result.state == "success", result.states()
    assert second_run["second_prefix"] != second_run["prefix"]  # its own, separate artifacts
    champion = json.loads(_get(second_run, "models/champion.json"))
    assert champion["model_uri"].startswith(f"s3://bank-ml/{second_run['prefix']}/")
    second_id = second_run["second_prefix"].removeprefix("runs/")
    history = json.loads(_get(second_run, f"models/history/{second_id}.json"))
    assert history["decision"] == "kept_champion"
    auc = history["challenger_auc"]
    expected = f"challenger AUC {auc:.4f} < champion {history['champion_auc']:.4f} + margin 0.002"
    assert history["reason"] == expected
    [message] = second_run["messages"]
    assert message["subject"].endswith(", champion kept")
    assert expected in message["message"]
    # The branch that did not run is skipped; the report and the message still follow.
    assert (result.state_of("promote"), result.state_of("keep_champion")) == ("skipped", "success")
    assert (result.state_of("build_report"), result.state_of("notify")) == ("success", "success")


def test_report_embeds_every_chart_and_the_metrics(good_run):
    import base64

    from PIL import Image

    prefix = good_run["prefix"]
    page = _get(good_run, f"{prefix}/report.html").decode()
    metrics = json.loads(_get(good_run, f"{prefix}/metrics.json"))["metrics"]
    for name in ("roc.png", "precision_recall.png", "confusion_matrix.png", "cv_auc.png"):
        png = _get(good_run, f"{prefix}/{name}")
        with Image.open(io.BytesIO(png)) as image:
            assert (image.format, image.size) == ("PNG", (800, 600))
        assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page
    assert f"{metrics['auc']:.4f}" in page and "hist_gradient_boosting" in page
    [message] = good_run["messages"]
    assert f"Report: s3://bank-ml/{prefix}/report.html" in message["message"]
    # Presigned by the connection with Signature Version 4, for the link_expiry_hours Param (default 24 h),
    # and it fetches the report from the server without credentials.
    query, fetched = _report_link(message["message"])
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["86400"]
    assert fetched == _get(good_run, f"{prefix}/report.html")


def _report_link(message: str) -> tuple[dict[str, list[str]], bytes]:
    """The presigned report link of an SNS message: its query and what fetching it returns."""
    import re
    import urllib.request
    from urllib.parse import parse_qs, urlsplit

    [url] = re.findall(r"^Report link \(valid until \S+, its lifetime\): (http://127\.0\.0\.1\S+)$", message, re.M)
    with urllib.request.urlopen(url, timeout=30) as response:
        return parse_qs(urlsplit(url).query), response.read()


def test_new_csv_labels_use_the_threshold_chosen_on_training_folds(good_run):
    meta = json.loads(_get(good_run, f"{good_run['prefix']}/model.json"))
    threshold = meta["threshold"]
    assert 0.05 < threshold < 0.95 and abs(threshold - 0.5) > 1e-3
    frame = pd.read_csv(io.BytesIO(_get(good_run, f"{good_run['prefix']}/new.csv")))
    assert ((frame["probability"] >= threshold) == (frame["predicted"] == "yes")).all()
    assert meta["metrics_at_threshold"]["f1"] >= meta["metrics"]["f1"]  # the F1-maximising cut beats 0.5 here


CAMPAIGN_CHARTS = ("gains.png", "lift.png", "profit.png", "calibration.png", "importance.png")


def test_report_opens_with_the_campaign_section_and_its_charts(good_run):
    import base64

    prefix = good_run["prefix"]
    page = _get(good_run, f"{prefix}/report.html").decode()
    curves = json.loads(_get(good_run, f"{prefix}/campaign.json"))
    for name in CAMPAIGN_CHARTS:
        assert f"data:image/png;base64,{base64.b64encode(_get(good_run, f'{prefix}/{name}')).decode()}" in page
    assert page.index('id="campaign"') < page.index("Promotion decision")  # up front
    # Gains of the model on the 9,043 test rows, beside the lab's family's ranking (trained, did not win).
    assert (curves["rows"], curves["positives"]) == (9043, 1058)
    assert [r["label"] for r in curves["rankings"]] == ["model", "logistic_regression"]
    model, lab = (dict(zip(r["share_called"], r["share_reached"], strict=True)) for r in curves["rankings"])
    assert model[0.2] > lab[0.2] > 0.2 * 2  # the model's top 20 % beats the lab's, and both beat random
    assert f"{model[0.2]:.1%}" in page
    # Calibrated enough to trust the expected values: every bin's observed rate within 0.1 of its mean score.
    calibration = curves["calibration"]
    assert max(abs(a - b) for a, b in zip(calibration["mean_predicted"], calibration["observed"], strict=True)) < 0.1
    [message] = good_run["messages"]
    assert f"Calling the top 20% of customers reaches {model[0.2]:.0%} of subscribers (lift " in message["message"]


def test_model_json_and_the_champion_hold_both_thresholds(good_run):
    meta = json.loads(_get(good_run, f"{good_run['prefix']}/model.json"))
    champion = json.loads(_get(good_run, "models/champion.json"))
    assert meta["threshold_rule"] == "f1" and meta["threshold"] == meta["thresholds"]["f1"]
    assert meta["economics"] == {"cost_per_call": 5.0, "value_per_subscription": 100.0}
    # Calibrated probabilities put the profit-maximising cut near the break-even probability cost / value = 5 %.
    assert 0.02 < meta["thresholds"]["profit"] < 0.15 < meta["thresholds"]["f1"]
    assert {k: champion[k] for k in ("threshold", "threshold_rule", "thresholds", "economics")} == {
        k: meta[k] for k in ("threshold", "threshold_rule", "thresholds", "economics")
    }
    # On the test rows the profit threshold earns more than the F1 one (it was chosen on training folds).
    frame = pd.read_csv(io.BytesIO(_get(good_run, f"{good_run['prefix']}/new.csv")))
    y = (frame["y"] == "yes").to_numpy()

    def profit(threshold: float) -> float:
        called = frame["probability"].to_numpy() >= threshold
        return 100 * (y & called).sum() - 5 * called.sum()

    assert profit(meta["thresholds"]["profit"]) > profit(meta["thresholds"]["f1"])


def test_duration_leads_the_importance_when_it_is_used(good_run):
    curves = json.loads(_get(good_run, f"{good_run['prefix']}/campaign.json"))
    ranked = [c["column"] for c in curves["importance"]]
    assert ranked[0] == "duration" and len(ranked) == 16  # every input column, largest first
    assert curves["importance_repeats"] == 3 and all(c["std"] >= 0 for c in curves["importance"])
    page = _get(good_run, f"{good_run['prefix']}/report.html").decode()
    assert "<strong>duration</strong>" in page


@pytest.fixture(scope="module")
def shifted_run(second_run, aws, run_dag):
    """A drifted copy (duration x3, balance +5000) of the stratified sample, trained without duration: drift
    fires against the champion's training data (all of banking.csv), no promotion. One family with one
    setting of its grid."""
    raw = pd.read_csv(io.BytesIO(data.sample_csv()), sep=";")
    raw["duration"] *= 3
    raw["balance"] += 5000
    aws.upload(second_run["bucket"], "raw/2026-11-22/banking.csv", raw.to_csv(sep=";", index=False).encode())
    aws.messages(aws.queue_url)
    conf = {
        "bucket": second_run["bucket"],
        "input_key": TEMPLATED_KEY,
        "model_families": ["hist_gradient_boosting"],
        "param_grids": {"hist_gradient_boosting": {"learning_rate": [0.1], "max_leaf_nodes": [31]}},
        "drop_duration": True,
        "link_expiry_hours": 2,
    }
    result = run_dag("bank_marketing_training", conf, "2026-11-22")
    return {**second_run, "result": result, "shifted_prefix": aws.latest_run_prefix(second_run["bucket"]),
            "messages": aws.messages(aws.queue_url)}  # fmt: skip


def test_drift_is_reported_for_the_shifted_columns(shifted_run):
    result = shifted_run["result"]
    assert result.state == "success", result.states()
    drift = json.loads(_get(shifted_run, f"{shifted_run['shifted_prefix']}/drift.json"))
    assert {d["column"] for d in drift["drifted"]} == {"duration", "balance"}
    assert all(d["psi"] > 0.2 for d in drift["drifted"])
    [message] = shifted_run["messages"]
    assert "drift in 2 columns" in message["message"] and "duration PSI" in message["message"]
    page = _get(shifted_run, f"{shifted_run['shifted_prefix']}/report.html").decode()
    assert "duration" in page and "balance" in page and drift["summary"] in page
    query, fetched = _report_link(message["message"])  # the run's link_expiry_hours: 2
    assert query["X-Amz-Expires"] == ["7200"] and fetched == page.encode()


def test_drop_duration_trains_without_it(shifted_run, good_run):
    meta = json.loads(_get(shifted_run, f"{shifted_run['shifted_prefix']}/model.json"))
    assert meta["input"]["dropped"] == ["duration"] and "duration" not in meta["input"]["numeric"]
    with_duration = json.loads(_get(good_run, f"{good_run['prefix']}/model.json"))["metrics"]["auc"]
    assert meta["metrics"]["auc"] < with_duration - 0.05  # duration is where most of the benchmark AUC comes from
    assert shifted_run["messages"][0]["subject"].endswith(", champion kept")
    curves = json.loads(_get(shifted_run, f"{shifted_run['shifted_prefix']}/campaign.json"))
    assert "duration" not in {c["column"] for c in curves["importance"]} and len(curves["importance"]) == 15
    # One family trained: no other ranking to compare with.
    assert [r["label"] for r in curves["rankings"]] == ["model"]


def test_scoring_dag_labels_customers_with_the_champion(second_run, aws, run_dag):
    bucket = second_run["bucket"]
    raw = pd.read_csv(io.BytesIO(DATA), sep=";").head(1000).drop(columns=["y"])
    aws.upload(bucket, "scoring/2026-11-23/customers.csv", raw.to_csv(sep=";", index=False).encode())
    aws.messages(aws.queue_url)

    result = run_dag("bank_marketing_scoring", {"bucket": bucket}, "2026-11-23")

    assert result.state == "success", result.states()
    assert set(result.states().values()) == {"success"}
    champion = json.loads(_get(second_run, "models/champion.json"))
    predictions = pd.read_csv(io.BytesIO(_get(second_run, "scoring/2026-11-23/predictions.csv")))
    assert len(predictions) == 1000
    assert list(predictions.columns) == [*raw.columns, "probability", "predicted"]
    model = storage.load_model(second_run["s3"], champion["model_uri"], champion["sha256"])
    expected = model.predict_proba(raw)[:, 1]
    assert abs(predictions["probability"].to_numpy() - expected).max() < 1e-6
    assert ((predictions["probability"] >= champion["threshold"]) == (predictions["predicted"] == "yes")).all()
    [message] = aws.messages(aws.queue_url)
    share = (expected >= champion["threshold"]).mean()
    assert message["subject"] == f"[bank-ml] SCORED 1000 rows, {100 * share:.1f}% positive"
    # The call list: every customer at or above the threshold, best first, with the expected value of the call.
    calls = pd.read_csv(io.BytesIO(_get(second_run, "scoring/2026-11-23/call_list.csv")))
    above = predictions[predictions["probability"] >= champion["threshold"]]
    assert len(calls) == len(above) > 0
    assert list(calls.columns) == [*raw.columns, "probability", "rank", "expected_value"]
    assert calls["probability"].is_monotonic_decreasing and list(calls["rank"]) == list(range(1, len(calls) + 1))
    assert calls["probability"].iloc[0] == predictions["probability"].max()
    assert (calls["expected_value"] - (100 * calls["probability"] - 5)).abs().max() < 0.01
    expected_subscriptions = calls["probability"].sum()
    assert f"expected subscriptions {expected_subscriptions:,.1f}" in message["message"]


def test_scoring_lists_the_top_k_at_the_profit_threshold(second_run, aws, run_dag):
    bucket = second_run["bucket"]
    raw = pd.read_csv(io.BytesIO(DATA), sep=";").tail(500).drop(columns=["y"])
    aws.upload(bucket, "scoring/2026-11-25/customers.csv", raw.to_csv(sep=";", index=False).encode())
    aws.messages(aws.queue_url)

    result = run_dag(
        "bank_marketing_scoring", {"bucket": bucket, "threshold_rule": "profit", "top_k": 25}, "2026-11-25"
    )

    assert result.state == "success", result.states()
    champion = json.loads(_get(second_run, "models/champion.json"))
    predictions = pd.read_csv(io.BytesIO(_get(second_run, "scoring/2026-11-25/predictions.csv")))
    profit_cut = champion["thresholds"]["profit"]
    assert ((predictions["probability"] >= profit_cut) == (predictions["predicted"] == "yes")).all()
    calls = pd.read_csv(io.BytesIO(_get(second_run, "scoring/2026-11-25/call_list.csv")))
    assert len(calls) == 25
    assert list(calls["probability"]) == sorted(predictions["probability"], reverse=True)[:25]
    [message] = aws.messages(aws.queue_url)
    assert "Call list: 25 customers" in message["message"] and "max expected profit" in message["message"]


def test_a_tampered_champion_pickle_fails_the_run_loudly(second_run, aws, run_dag):
    champion = json.loads(_get(second_run, "models/champion.json"))
    key = champion["model_uri"].removeprefix(f"s3://{second_run['bucket']}/")
    original = _get(second_run, key)
    # The model does not matter here, only that evaluate checks the champion's pickle: the sample will do.
    aws.upload(second_run["bucket"], "raw/2026-11-24/banking.csv", data.sample_csv())
    second_run["s3"].put_object(Bucket=second_run["bucket"], Key=key, Body=original + b"tampered")
    aws.messages(aws.queue_url)
    try:
        conf = {"bucket": second_run["bucket"], "input_key": TEMPLATED_KEY, "model_families": ["logistic_regression"]}
        result = run_dag("bank_marketing_training", conf, "2026-11-24")
    finally:
        second_run["s3"].put_object(Bucket=second_run["bucket"], Key=key, Body=original)
    assert result.state == "failed", result.states()
    # Failed at once (no retry can fix a pickle that is not what was recorded), and nothing after it ran.
    assert (result.state_of("evaluate"), result.tries("evaluate")) == ("failed", 1)
    assert not any(result.ran(t) for t in ("publish", "approve", "promote", "keep_champion", "notify"))
    alert = next(m for m in aws.messages(aws.queue_url) if m["subject"].startswith("[bank-ml] FAILED evaluate"))
    assert "does not match the recorded" in alert["message"] and champion["sha256"] in alert["message"]
    assert json.loads(_get(second_run, "models/champion.json")) == champion


# --- data quality: repeated rows, a leaked label ----------------------------------------------------------


def _doubled(csv: bytes) -> bytes:
    """The file with its rows appended again: every data row twice, as a re-sent or overlapping extract."""
    header, _, rows = csv.partition(b"\n")
    return header + b"\n" + rows + rows


@pytest.fixture(scope="module")
def doubled_run(second_run, aws, run_dag):
    """banking.csv with every row twice, under the default duplicates=drop, with second_run's conf (the
    winning family and settings): after the drop the same rows as the good run, so the same model."""
    aws.upload(second_run["bucket"], "raw/2026-11-25/banking.csv", _doubled(DATA))
    aws.messages(aws.queue_url)
    meta = json.loads(_get(second_run, f"{second_run['prefix']}/model.json"))
    result = run_dag("bank_marketing_training", _winner_only(second_run), "2026-11-25")
    return {**second_run, "result": result, "doubled_prefix": aws.latest_run_prefix(second_run["bucket"]),
            "messages": aws.messages(aws.queue_url), "good_auc": meta["metrics"]["auc"]}  # fmt: skip


def test_repeated_rows_are_dropped_and_the_score_is_that_of_the_file_without_them(doubled_run):
    result = doubled_run["result"]
    assert result.state == "success", result.states()
    prefix = doubled_run["doubled_prefix"]
    meta = json.loads(_get(doubled_run, f"{prefix}/model.json"))
    # Without the drop, half the test rows had a twin among the training rows: AUC 0.978 instead of 0.937.
    assert abs(meta["metrics"]["auc"] - doubled_run["good_auc"]) <= 0.005
    assert meta["input"]["duplicates"] == {
        "policy": "drop",
        "exact_rows": 45211,
        "conflicting_rows": 0,
        "dropped_rows": 45211,
    }
    assert meta["input"]["rows"] == 45211 and meta["input"]["overlap_rows"] == 0
    quality = json.loads(_get(doubled_run, f"{prefix}/quality.json"))
    assert (quality["rows_read"], quality["rows_used"]) == (90422, 45211)
    # The class balance against the champion's file (the good run's banking.csv): the same rows, the same share.
    assert quality["class_balance"]["champion_positive_rate"] == quality["class_balance"]["positive_rate"]
    [message] = doubled_run["messages"]
    assert "45,211 repeated rows (45,211 dropped, the first of each kept; duplicates=drop)" in message["message"]
    assert message["subject"].startswith("[bank-ml] PASS")
    report = _get(doubled_run, f"{prefix}/report.html").decode()
    assert 'id="quality"' in report and "45,211 dropped, the first of each kept" in report


def test_repeated_rows_reject_the_file_under_duplicates_fail(second_run, aws, run_dag):
    key = "raw/2026-11-26/banking.csv"
    doubled = _doubled(DATA)
    aws.upload(second_run["bucket"], key, doubled)
    aws.messages(aws.queue_url)
    conf = {"bucket": second_run["bucket"], "input_key": TEMPLATED_KEY, "duplicates": "fail"}

    result = run_dag("bank_marketing_training", conf, "2026-11-26")

    assert result.state == "failed", result.states()
    assert (result.state_of("validate"), result.tries("validate")) == ("failed", 1)  # bad data: no retry
    reason = "45,211 repeated rows: each identical to an earlier row in every column, 'y' included"
    quarantined = json.loads(_get(second_run, f"{rejected_prefix(result.run_id)}/reason.json"))
    assert quarantined["reason"].startswith(f"s3://bank-ml/{key}: {reason}")
    assert _get(second_run, key) == doubled  # the input itself is untouched
    alert = next(m for m in aws.messages(aws.queue_url) if m["subject"].startswith("[bank-ml] FAILED validate"))
    assert reason in alert["message"]


def test_a_copy_of_the_label_marks_the_run_suspicious_and_keeps_the_champion(second_run, aws, run_dag):
    """The sample with an extra column holding y again: a perfect score that must not be promoted."""
    header, _, rows = data.sample_csv().partition(b"\n")
    copied = [row + b";" + row.rsplit(b";", 1)[-1] for row in rows.split(b"\n") if row]  # y's yes/no again
    leaked = b"\n".join([header + b";outcome_copy", *copied])
    aws.upload(second_run["bucket"], "raw/2026-11-27/banking.csv", leaked + b"\n")
    champion_before = _get(second_run, "models/champion.json")
    aws.messages(aws.queue_url)
    conf = {"bucket": second_run["bucket"], "input_key": TEMPLATED_KEY, "model_families": ["logistic_regression"]}

    result = run_dag("bank_marketing_training", conf, "2026-11-27")

    assert result.state == "success", result.states()
    assert (result.state_of("promote"), result.state_of("keep_champion")) == ("skipped", "success")
    assert _get(second_run, "models/champion.json") == champion_before
    prefix = aws.latest_run_prefix(second_run["bucket"])
    meta = json.loads(_get(second_run, f"{prefix}/model.json"))
    assert meta["verdict"] == "SUSPICIOUS"
    assert any("column 'outcome_copy' alone ranks the target with AUC 1.0000" in s for s in meta["suspicions"])
    history = json.loads(_get(second_run, f"models/history/{prefix.removeprefix('runs/')}.json"))
    assert history["decision"] == "kept_champion"
    assert history["reason"].startswith("SUSPICIOUS, not promoted without a person: column 'outcome_copy'")
    [message] = aws.messages(aws.queue_url)
    assert message["subject"].startswith("[bank-ml] SUSPICIOUS AUC") and message["subject"].endswith("champion kept")
