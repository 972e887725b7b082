"""approval: who must sign off a promotion, the request the approver reads, the record of the answer, and how
the registry and the SNS messages carry that record (rejections, timeouts, approvals that come too late)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.bank_marketing import approval, config, notification, registry, storage
from include.bank_marketing.contracts import ApprovalOutcome
from include.bank_marketing.layout import CHAMPION_KEY
from tests.support.builders import BUCKET
from tests.unit.test_notification import ARTIFACTS, DRIFT, GOOD, REPORT, RUN_ID, make_evaluation, make_results
from tests.unit.test_registry import AUTO, MARGIN, TEST, _champion, _evaluate_and_decide, _history, _run

PROMOTE = {"promote": True, "reason": "first champion: no model promoted yet; AUC 0.9281 passes"}
KEEP = {"promote": False, "reason": "challenger AUC 0.9281 < champion 0.9300 + margin 0.002"}
REQUESTED_AT = "2026-11-28T06:00:00+00:00"
ANSWERED_AT = datetime(2026, 11, 28, 9, 15, 30, tzinfo=UTC)
ANA = {"id": "ana.lima", "name": "Ana Lima"}


def answer(option: str, user: dict | None = ANA, comment: str | None = None, **changes) -> dict:
    """The event Airflow hands the resumed human-in-the-loop task after a person chose ``option``."""
    return {
        "chosen_options": [option],
        "params_input": {approval.COMMENT: comment},
        "responded_at": ANSWERED_AT,
        "responded_by_user": user,
        "timedout": False,
        **changes,
    }


# What the scheduler hands the task when nobody answered: the default (Reject) applied, no user.
TIMEOUT_EVENT = {
    "chosen_options": [approval.REJECT],
    "params_input": {approval.COMMENT: ""},
    "responded_at": ANSWERED_AT,
    "responded_by_user": None,
    "timedout": True,
}


def pending() -> dict:
    return approval.pending(REQUESTED_AT, 86400)


def rejected(comment: str | None = "recall too low for the campaign") -> dict:
    return approval.from_response(pending(), answer(approval.REJECT, comment=comment))


def approved(user: dict | None = ANA, comment: str | None = "looks good") -> dict:
    return approval.from_response(pending(), answer(approval.APPROVE, user=user, comment=comment))


def timed_out() -> dict:
    return approval.from_response(pending(), TIMEOUT_EVENT)


# --- needs_person, without_person ---------------------------------------------------------------------------


def test_only_a_promotion_under_required_waits_for_a_person():
    assert approval.needs_person("required", PROMOTE) is True
    assert approval.needs_person("auto", PROMOTE) is False
    assert approval.needs_person("required", KEEP) is False
    assert approval.needs_person("auto", KEEP) is False


def test_an_unknown_mode_is_an_error():
    with pytest.raises(ValueError):
        approval.needs_person("sometimes", PROMOTE)


def test_without_person_records_an_automatic_promotion():
    assert approval.without_person("auto", PROMOTE) == {
        "mode": "auto",
        "outcome": "auto",
        "requested_at": None,
        "responded_at": None,
        "responded_by": None,
        "comment": None,
        "timeout_seconds": None,
    }


@pytest.mark.parametrize("mode", ["auto", "required"])
def test_without_person_records_a_keep_as_not_needed(mode):
    record = approval.without_person(mode, KEEP)

    assert record["outcome"] == ApprovalOutcome.NOT_NEEDED == "not_needed"
    assert record["mode"] == mode
    assert record["requested_at"] is record["responded_by"] is record["timeout_seconds"] is None


def test_pending_record():
    assert approval.pending(REQUESTED_AT, 3600) == {
        "mode": "required",
        "outcome": "pending",
        "requested_at": REQUESTED_AT,
        "responded_at": None,
        "responded_by": None,
        "comment": None,
        "timeout_seconds": 3600,
    }


# --- from_response ------------------------------------------------------------------------------------------


def test_approve_records_who_when_and_what_they_said():
    assert approved() == {
        "mode": "required",
        "outcome": "approved",
        "requested_at": REQUESTED_AT,
        "responded_at": "2026-11-28T09:15:30+00:00",
        "responded_by": "Ana Lima (ana.lima)",
        "comment": "looks good",
        "timeout_seconds": 86400,
    }


def test_a_name_equal_to_the_id_is_shown_once():
    assert approved(user={"id": "admin", "name": "admin"})["responded_by"] == "admin"


@pytest.mark.parametrize(
    ("user", "expected"),
    [({"id": "ana.lima", "name": None}, "ana.lima"), ({"id": None, "name": "Ana Lima"}, "Ana Lima"), (None, None)],
    ids=["id-only", "name-only", "no-user"],
)
def test_responded_by_with_part_of_the_user(user, expected):
    assert approved(user=user)["responded_by"] == expected


@pytest.mark.parametrize("comment", ["", "   ", None])
def test_a_blank_comment_is_recorded_as_none(comment):
    assert approved(comment=comment)["comment"] is None


def test_a_comment_is_stripped():
    assert approved(comment="  fine by me \n")["comment"] == "fine by me"


def test_a_response_time_given_as_a_string_is_kept():
    record = approval.from_response(pending(), answer(approval.APPROVE, responded_at="2026-11-28T09:15:30Z"))

    assert record["responded_at"] == "2026-11-28T09:15:30Z"


def test_reject_records_a_rejection():
    record = rejected()

    assert record["outcome"] == ApprovalOutcome.REJECTED == "rejected"
    assert record["responded_by"] == "Ana Lima (ana.lima)"
    assert record["comment"] == "recall too low for the campaign"
    assert (record["requested_at"], record["timeout_seconds"]) == (REQUESTED_AT, 86400)


def test_a_timeout_is_recorded_as_a_timeout_not_as_the_default_reject():
    record = timed_out()

    assert record["outcome"] == ApprovalOutcome.TIMED_OUT == "timed_out"
    assert record["responded_by"] is None
    assert record["comment"] is None
    assert record["responded_at"] == "2026-11-28T09:15:30+00:00"
    assert (record["mode"], record["requested_at"], record["timeout_seconds"]) == ("required", REQUESTED_AT, 86400)


def test_a_timeout_ignores_a_user_and_comment_it_may_carry():
    record = approval.from_response(
        pending(), {**TIMEOUT_EVENT, "responded_by_user": ANA, "params_input": {"comment": "x"}}
    )

    assert (record["outcome"], record["responded_by"], record["comment"]) == ("timed_out", None, None)


def test_from_response_does_not_change_the_pending_record():
    asked = pending()
    approval.from_response(asked, answer(approval.APPROVE))

    assert asked == pending()


# --- duration, kept_reason, summary -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(86400, "24 h"), (3600, "1 h"), (90, "90 s"), (120, "2 min"), (5400, "90 min"), (59, "59 s"), (0, "0 s")],
)
def test_duration(seconds, text):
    assert approval.duration(seconds) == text


def test_kept_reason_of_a_rejection_names_who_when_and_the_comment():
    assert approval.kept_reason(rejected()) == (
        "rejected by Ana Lima (ana.lima) at 2026-11-28T09:15:30+00:00: recall too low for the campaign"
    )


def test_kept_reason_of_a_rejection_without_comment():
    assert approval.kept_reason(rejected(comment=None)) == (
        "rejected by Ana Lima (ana.lima) at 2026-11-28T09:15:30+00:00 (no comment)"
    )


def test_kept_reason_of_a_timeout_states_the_timeout():
    assert approval.kept_reason(timed_out()) == (
        f"no answer within the approval timeout of 24 h (requested {REQUESTED_AT})"
    )
    short = approval.from_response(approval.pending(REQUESTED_AT, 90), TIMEOUT_EVENT)
    assert "approval timeout of 90 s " in approval.kept_reason(short)


@pytest.mark.parametrize(
    "record",
    [approved(), approval.without_person("auto", PROMOTE), approval.without_person("required", KEEP)],
    ids=["approved", "auto", "not_needed"],
)
def test_kept_reason_is_none_when_the_approval_kept_nothing(record):
    assert approval.kept_reason(record) is None


def test_summary_lines():
    assert approval.summary(None) == "Approval: not recorded."
    assert approval.summary(approval.without_person("auto", PROMOTE)) == (
        "Approval: automatic (approval=auto): promoted without asking."
    )
    assert approval.summary(approval.without_person("required", KEEP)) == (
        "Approval: not asked (approval=required): the rules kept the champion."
    )
    assert approval.summary(approved()) == (
        "Approval: APPROVED by Ana Lima (ana.lima) at 2026-11-28T09:15:30+00:00: looks good."
    )
    assert approval.summary(approved(comment=None)).endswith("at 2026-11-28T09:15:30+00:00.")
    assert approval.summary(pending()) == f"Approval: awaiting a decision since {REQUESTED_AT} (timeout 24 h)."


def test_summary_of_a_rejection_names_who_when_and_the_comment():
    line = approval.summary(rejected())

    assert line == (
        "Approval: REJECTED, rejected by Ana Lima (ana.lima) at 2026-11-28T09:15:30+00:00: "
        "recall too low for the campaign; champion kept."
    )


def test_summary_of_a_timeout_states_the_timeout():
    line = approval.summary(timed_out())

    assert line.startswith("Approval: TIMED OUT, no answer within the approval timeout of 24 h ")
    assert line.endswith("; champion kept.")


def test_due_at():
    assert approval.due_at(REQUESTED_AT, 86400) == "2026-11-29T06:00:00+00:00"
    assert approval.due_at("2026-11-28T23:59:00+00:00", 120) == "2026-11-29T00:01:00+00:00"


# --- request_text -------------------------------------------------------------------------------------------

CHAMPION = {
    "run_id": "scheduled__2026-11-27T00:00:00+00:00",
    "promoted_at": "2026-11-27T01:02:03+00:00",
    "model_uri": "s3://bank-ml/runs/old/model.joblib",
    "model_json_uri": "s3://bank-ml/runs/old/model.json",
    "profile_uri": "s3://bank-ml/runs/old/profile.json",
    "sha256": "cd" * 32,
    "family": "logistic_regression",
    "threshold": 0.4,
    "metrics": {"auc": 0.9111, "f1": 0.5222, "precision": 0.6333, "recall": 0.4444, "accuracy": 0.9055},
    "reason": "first champion",
    "previous_run_id": None,
}
DUE = "2026-11-29T06:00:00+00:00"


def request_results(champion_auc: float | None = 0.9123) -> dict:
    """RunResults as the gate has them: the evaluation's own decision, to promote."""
    decision = {
        "promote": True,
        "reason": "challenger AUC 0.9281 >= champion 0.9123 + margin 0.002",
        "margin": 0.002,
        "challenger_auc": 0.9281,
        "champion_run_id": CHAMPION["run_id"],
        "champion_auc": champion_auc,
        "champion_etag": '"etag"',
    }
    evaluation = {**make_evaluation(GOOD), "sha256": "ab" * 32, "decision": decision}
    return make_results(evaluation, decision)


def request_text(results: dict | None = None, champion: dict | None = CHAMPION, links: dict = REPORT):
    return approval.request_text(RUN_ID, results or request_results(), champion, links, DUE)


def test_request_subject_names_the_family_auc_and_verdict():
    subject, _ = request_text()

    assert subject == "Promote hist_gradient_boosting (AUC 0.9281, PASS) to champion?"


def test_request_body_leads_with_the_verdict_and_what_it_replaces():
    _, body = request_text()
    first = body.splitlines()[0]

    assert first.startswith(f"**Verdict: PASS.** Run `{RUN_ID}` trained **hist_gradient_boosting** (CV AUC 0.9312)")
    assert f"champion of run `{CHAMPION['run_id']}` (logistic_regression, promoted {CHAMPION['promoted_at']})" in first
    assert "**Rule:** challenger AUC 0.9281 >= champion 0.9123 + margin 0.002 (margin 0.002)." in body


def test_request_body_has_a_row_per_metric_with_the_challenger_baseline_and_champion():
    _, body = request_text()
    at_threshold = make_evaluation(GOOD)["metrics_at_threshold"]
    rows = {line.split("|")[1].strip(): line for line in body.splitlines() if line.startswith("| ")}

    for name in config.METRICS:
        title = config.METRIC_TITLES[name]
        assert title in rows, title
        cells = [cell.strip() for cell in rows[title].strip("|").split("|")]
        assert cells[1] == f"{GOOD[name]:.4f}"
        assert cells[2] == f"{config.BASELINES[name]:.4f}"
        assert cells[3] == "ok"
        assert cells[5] == f"{at_threshold[name]:.4f}"
        if name == "auc":
            assert cells[4] == "0.9123 (same rows)"  # re-scored on this run's rows, not the recorded 0.9111
        else:
            assert cells[4] == f"{CHAMPION['metrics'][name]:.4f} (at its promotion)"


def test_request_body_marks_a_metric_below_its_baseline():
    results = request_results()
    results["evaluation"]["checks"]["recall"] = {"value": 0.1234, "baseline": 0.186, "passed": False}
    _, body = request_text(results)

    assert "| Recall | 0.1234 | 0.1860 | **BELOW** |" in body


def test_request_body_without_a_rescored_champion_auc_shows_the_recorded_one():
    _, body = request_text(request_results(champion_auc=None))

    assert "(same rows)" not in body
    assert "| ROC AUC | 0.9281 | 0.8530 | ok | 0.9111 (at its promotion) |" in body


def test_request_body_of_a_first_champion():
    results = request_results(champion_auc=None)
    results["decision"]["champion_run_id"] = None
    _, body = request_text(results, champion=None)

    assert "it would replace no champion (this would be the first)." in body
    assert "| ROC AUC | 0.9281 | 0.8530 | ok | n/a |" in body


def test_request_body_has_the_drift_the_report_link_the_model_and_the_due_time():
    _, body = request_text()

    assert DRIFT["summary"] in body
    assert "Drifted columns: `duration` (PSI 0.410)." in body
    assert f"[report.html]({REPORT['report_url']}) (link valid until {REPORT['report_url_expires_at']})" in body
    assert f"(`{REPORT['report_uri']}`)" in body
    assert f"**Model:** `{ARTIFACTS['model_uri']}`, sha256 `{'ab' * 32}`." in body
    assert f"With no answer by {DUE} the champion is kept." in body
    assert "test rows 9,043" in body


def test_request_body_without_a_presigned_link_or_drift():
    results = request_results()
    results["drift"] = {**DRIFT, "summary": "no drift.", "drifted": []}
    _, body = request_text(results, links={**REPORT, "report_url": None})

    assert "[report.html]" not in body
    assert f"report.html (`{REPORT['report_uri']}`)" in body
    assert "Drifted columns: none." in body


@pytest.mark.parametrize(
    ("rule", "line"),
    [
        ("f1", "Chosen threshold 0.3000 (max F1 on training folds); test rows 9,043."),
        ("profit", "Chosen threshold 0.0712 (max expected profit on training folds); test rows 9,043."),
    ],
)
def test_request_body_says_which_rule_chose_the_threshold(rule, line):
    results = request_results()
    results["evaluation"] = {**make_evaluation(GOOD, rule=rule), "sha256": "ab" * 32}
    _, body = request_text(results)

    assert line in body


# --- registry: keep and promote with the approval record ----------------------------------------------------


@pytest.fixture
def split(s3):
    """The split a promote task gets: it reads the test rows only to re-decide against a newer champion."""
    return {"test_uri": storage.write_parquet(s3, f"s3://{BUCKET}/runs/shared/test.parquet", TEST)}


def _no_champion(s3) -> bool:
    return not s3.list_objects_v2(Bucket=BUCKET, Prefix=CHAMPION_KEY).get("Contents")


def test_keep_after_a_rejection_records_who_rejected_and_why(s3):
    result, _ = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    record = rejected()

    final = registry.keep(_run(s3, "run-1"), result, record)

    history = _history(s3, "run-1")
    assert history["decision"] == "kept_champion"
    assert history["reason"].startswith("rejected by Ana Lima (ana.lima) at 2026-11-28T09:15:30+00:00")
    assert "recall too low for the campaign" in history["reason"]
    assert history["reason"].endswith(f"; champion kept (the rules had said: {result['decision']['reason']})")
    assert history["approval"] == record
    assert final["promote"] is False and final["reason"] == history["reason"]
    assert _no_champion(s3)


def test_keep_after_a_rejection_leaves_the_champion_pointer_as_it_was(s3, split):
    first, first_artifacts = _evaluate_and_decide(s3, "run-1", "fair", 0.8125)
    registry.promote(_run(s3, "run-1"), split, first, first_artifacts, AUTO)
    before = _champion(s3)
    second, _ = _evaluate_and_decide(s3, "run-2", "good", 1.0)
    assert second["decision"]["promote"] is True

    registry.keep(_run(s3, "run-2"), second, rejected())

    assert _champion(s3) == before
    assert _history(s3, "run-2")["decision"] == "kept_champion"


def test_keep_after_a_timeout_says_nobody_answered(s3):
    result, _ = _evaluate_and_decide(s3, "run-1", "good", 1.0)
    record = timed_out()

    final = registry.keep(_run(s3, "run-1"), result, record)

    history = _history(s3, "run-1")
    assert history["reason"].startswith("no answer within the approval timeout of 24 h")
    assert history["approval"] == record
    assert history["approval"]["outcome"] == "timed_out"
    assert final["approval"] == record
    assert _no_champion(s3)


def test_an_approval_of_a_worse_model_does_not_move_the_pointer_back(s3, split):
    # Both runs were evaluated while there was no champion: both would promote, so both wait for approval.
    older, older_artifacts = _evaluate_and_decide(s3, "older", "fair", 0.8125)
    newer, newer_artifacts = _evaluate_and_decide(s3, "newer", "good", 1.0)
    assert approval.needs_person("required", older["decision"])
    assert approval.needs_person("required", newer["decision"])

    registry.promote(_run(s3, "newer"), split, newer, newer_artifacts, approved())
    late = approved(user={"id": "bo", "name": "Bo"}, comment="ok")
    final = registry.promote(_run(s3, "older"), split, older, older_artifacts, late)

    assert final["promote"] is False
    assert final["champion_run_id"] == "newer"
    assert final["reason"] == "challenger AUC 0.8125 < champion 1.0000 + margin 0.002"
    assert _champion(s3)["run_id"] == "newer"
    history = _history(s3, "older")
    assert history["decision"] == "kept_champion"
    assert history["reason"] == final["reason"]
    assert history["champion_run_id"] == "newer"
    assert history["approval"] == late
    assert history["approval"]["outcome"] == "approved"
    assert _history(s3, "newer")["decision"] == "promoted"


def test_an_approval_of_a_better_model_replaces_a_worse_champion_promoted_meanwhile(s3, split):
    older, older_artifacts = _evaluate_and_decide(s3, "older", "good", 1.0)
    newer, newer_artifacts = _evaluate_and_decide(s3, "newer", "fair", 0.8125)

    registry.promote(_run(s3, "newer"), split, newer, newer_artifacts, approved())
    late = approved(user={"id": "bo", "name": "Bo"}, comment=None)
    final = registry.promote(_run(s3, "older"), split, older, older_artifacts, late)

    assert final["promote"] is True
    assert final["reason"] == "challenger AUC 1.0000 >= champion 0.8125 + margin 0.002"
    champion = _champion(s3)
    assert (champion["run_id"], champion["previous_run_id"]) == ("older", "newer")
    history = _history(s3, "older")
    assert history["decision"] == "promoted"
    assert history["approval"] == late
    assert final["approval"] == late


def test_promote_records_the_approval_in_the_history(s3, split):
    result, artifacts = _evaluate_and_decide(s3, "run-1", "good", 1.0, margin=MARGIN)
    record = approved()

    final = registry.promote(_run(s3, "run-1"), split, result, artifacts, record)

    assert final["approval"] == record
    assert _history(s3, "run-1")["approval"] == record
    assert _champion(s3)["run_id"] == "run-1"


# --- notification -------------------------------------------------------------------------------------------


def _compose(decision: dict) -> tuple[str, str]:
    evaluation = {**make_evaluation(GOOD), "sha256": "ab" * 32}
    return notification.compose(RUN_ID, make_results(evaluation, decision), REPORT)


def test_message_of_a_rejected_promotion():
    record = rejected()
    subject, body = _compose({**KEEP, "approval": record})

    assert subject.endswith(", rejected, champion kept")
    assert approval.summary(record) + "\n" in body
    assert "recall too low for the campaign" in body


def test_message_of_a_request_that_timed_out():
    record = timed_out()
    subject, body = _compose({**KEEP, "approval": record})

    assert subject.endswith(", no approval, champion kept")
    assert approval.summary(record) + "\n" in body


def test_message_of_an_approval_that_came_too_late_says_champion_kept_not_rejected():
    subject, body = _compose({**KEEP, "approval": approved()})

    assert subject.endswith(", champion kept")
    assert "rejected" not in subject and "no approval" not in subject
    assert "Approval: APPROVED by Ana Lima (ana.lima)" in body


def test_message_of_an_approved_promotion():
    subject, body = _compose({**PROMOTE, "approval": approved()})

    assert subject.endswith(", promoted")
    assert approval.summary(approved()) + "\n" in body


def _request(family: str = "hist_gradient_boosting") -> dict:
    results = request_results()
    results["evaluation"]["family"] = family
    subject, body = request_text(results)
    return {"subject": subject, "body": body, "report_uri": REPORT["report_uri"], "report_url": None, "due": DUE}


def test_approval_requested_message():
    request = _request()
    link = "http://airflow.example/dags/bank_marketing_training/runs/r/tasks/approve/required_actions"

    subject, body = notification.approval_requested(RUN_ID, request, link)

    assert subject == f"[bank-ml] APPROVAL NEEDED: {request['subject']}"
    assert len(subject) <= notification.MAX_SUBJECT
    assert f"Run {RUN_ID} waits for a person" in body
    assert f"Decide here: {link}\n" in body
    assert f"Without an answer by {DUE} the champion is kept." in body
    assert body.endswith(request["body"])


def test_approval_requested_message_without_a_link_points_to_required_actions():
    _, body = notification.approval_requested(RUN_ID, _request(), None)

    assert "Decide here: the run's approve task in the Airflow UI (Browse > Required Actions" in body
    assert DUE in body


def test_approval_requested_subject_of_a_long_family_is_cut_to_100_characters():
    subject, _ = notification.approval_requested(RUN_ID, _request("f" * 300), None)

    assert subject.startswith("[bank-ml] APPROVAL NEEDED: Promote ffff")
    assert len(subject) == notification.MAX_SUBJECT == 100
