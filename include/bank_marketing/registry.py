"""Model registry in S3: the champion pointer, its promotion rules and the history of decisions.

- ``models/champion.json`` points at the promoted model (URI, sha256, metrics, run id, time).
- ``models/history/{run_id}.json`` records each run's decision (promoted or kept), one object per run, so a
  re-run replaces its own line instead of adding a second one, and runs never overwrite each other's.

Promotion is safe under concurrency: the pointer is replaced with an S3 conditional write (``If-Match`` on
the ETag of the champion the challenger was compared with, ``If-None-Match: *`` for the first one). A run
that loses the race re-reads the new champion, re-scores it on its own test rows and decides again, so the
pointer can never end up on a model that lost a comparison. The history line is written after the pointer,
so there is no history line claiming a promotion the pointer does not show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from include.bank_marketing import approval as approvals
from include.bank_marketing import storage
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import (
    KEPT,
    PROMOTED,
    Approval,
    ApprovalOutcome,
    Artifacts,
    Champion,
    Decision,
    Evaluation,
    ScoredModel,
    Split,
    Verdict,
    metric_values,
)
from include.bank_marketing.layout import CHAMPION_KEY, history_key

# A lost race is re-decided against the new champion; more rounds than this means something is wrong.
MAX_PROMOTION_ATTEMPTS = 5


class ChampionChangedError(RuntimeError):
    """The champion pointer changed between reading and writing it."""


@dataclass(frozen=True)
class ChampionScore:
    """The champion re-scored on a run's test rows: its AUC there, or why it could not score them."""

    run_id: str
    auc: float | None
    why_unscored: str | None = None


def read_champion(s3: Any, bucket: str) -> tuple[Champion | None, str | None]:
    """The champion document and its ETag, or ``(None, None)`` before the first promotion."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=CHAMPION_KEY)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None, None
        raise
    return json.loads(obj["Body"].read()), obj["ETag"]


def score_champion(s3: Any, champion: Champion, test: Any) -> ChampionScore:
    """The champion's AUC on this run's test rows, or why it cannot score them.

    The champion's pickle is verified against its recorded sha256 before loading; a mismatch raises
    ``storage.IntegrityError`` (a tampered pickle must stop the run, not be skipped).
    """
    # Here, not at the top: promote and keep import this module and need neither scikit-learn nor pandas,
    # and each task process pays for the imports it makes.
    from sklearn.metrics import roc_auc_score

    from include.bank_marketing.preprocessing import features_and_target

    model = storage.load_model(s3, champion["model_uri"], champion["sha256"])
    x, y = features_and_target(test)
    try:
        proba = model.predict_proba(x)[:, 1]
    except (KeyError, ValueError) as exc:  # e.g. the input's columns changed since the champion was trained
        why = f"champion {champion['run_id']} cannot score this run's rows: {exc}"
        return ChampionScore(champion["run_id"], None, why)
    return ChampionScore(champion["run_id"], round(float(roc_auc_score(y, proba)), 4))


def decide(scored: ScoredModel, champion: ChampionScore | None, margin: float) -> tuple[bool, str]:
    """Promote or keep, and why.

    A challenger must pass every baseline, then beat the champion's AUC on the same test rows by ``margin``.
    Without a champion, passing the baselines is enough; a champion that cannot score the rows (its columns
    are gone) yields to a challenger that passes the baselines.
    """
    auc = scored["metrics"]["auc"]
    if scored["verdict"] != Verdict.PASS:
        failed = [name for name, c in scored["checks"].items() if not c["passed"]]
        return False, f"below baseline on {', '.join(failed)}; champion kept"
    if champion is None:
        return True, f"first champion: no model promoted yet; AUC {auc:.4f} passes"
    if champion.auc is None:
        return True, f"{champion.why_unscored}; challenger AUC {auc:.4f} passes the baselines"
    if auc >= champion.auc + margin:
        return True, f"challenger AUC {auc:.4f} >= champion {champion.auc:.4f} + margin {margin:g}"
    return False, f"challenger AUC {auc:.4f} < champion {champion.auc:.4f} + margin {margin:g}"


def compare_with_champion(
    run: RunContext, scored: ScoredModel, test: Any, margin: float, approved: bool = False
) -> Decision:
    """Read the current champion, re-score it on ``test`` and decide; returns the decision with the context."""
    champion, etag = read_champion(run.s3, run.bucket)
    against = score_champion(run.s3, champion, test) if champion else None
    return decision_against(scored, against, etag, margin, approved)


def decision_against(
    scored: ScoredModel, against: ChampionScore | None, etag: str | None, margin: float, approved: bool = False
) -> Decision:
    """The decision against the champion as re-scored (``against``). A SUSPICIOUS model is judged as if it
    passed, then held back: not promoted unless a person ``approved`` it; ``review`` says whether a person
    may (the rules alone would have promoted it)."""
    suspicious = scored["verdict"] == Verdict.SUSPICIOUS
    promote, reason = decide({**scored, "verdict": Verdict.PASS} if suspicious else scored, against, margin)
    review = False
    if suspicious and not approved:
        why = "; ".join(scored.get("suspicions", []))
        review, promote = promote, False
        reason = f"SUSPICIOUS, not promoted without a person: {why} (the rules alone: {reason})"
    return {
        "promote": promote,
        "reason": reason,
        "margin": margin,
        "challenger_auc": scored["metrics"]["auc"],
        "champion_run_id": against.run_id if against else None,
        "champion_auc": against.auc if against else None,
        "champion_etag": etag,
        "review": review,
    }


def _put_pointer(s3: Any, bucket: str, doc: Champion, etag: str | None) -> None:
    condition = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        s3.put_object(
            Bucket=bucket,
            Key=CHAMPION_KEY,
            Body=json.dumps(doc, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
            **condition,
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
            raise ChampionChangedError(f"champion pointer changed while promoting ({condition})") from exc
        raise


def record(run: RunContext, outcome: str, evaluation: ScoredModel, decision: Decision) -> str:
    """Write this run's history line (replacing the one of an earlier try of the same run)."""
    entry = {
        "run_id": run.run_id,
        "decision": outcome,
        "reason": decision["reason"],
        "decided_at": datetime.now(UTC).isoformat(),
        "family": evaluation["family"],
        "challenger_auc": decision["challenger_auc"],
        "champion_run_id": decision["champion_run_id"],
        "champion_auc": decision["champion_auc"],
        "margin": decision["margin"],
        "sha256": evaluation["sha256"],
        "approval": decision.get("approval"),
    }
    return storage.write_json(run.s3, run.bucket_uri(history_key(run.run_id)), entry)


def promote(
    run: RunContext, split: Split, evaluation: Evaluation, artifacts: Artifacts, approval: Approval
) -> Decision:
    """Make this run's model the champion unless another run promoted a better one meanwhile.

    The rule is re-checked here, at promotion time, not only when the run was evaluated: a run approved a day
    after its evaluation, when a newer run has promoted a better model since, re-scores that model on its own
    test rows and keeps it rather than moving the pointer back. ``approval`` (the gate's record) goes into the
    decision and the history. Idempotent: a retry of a run that already holds the pointer only (re)writes its
    history line. Returns the final decision, as recorded in the history.
    """
    decision: Decision = {**evaluation["decision"], "approval": approval}
    test = None
    for _ in range(MAX_PROMOTION_ATTEMPTS):
        current, etag = read_champion(run.s3, run.bucket)
        if current and current["run_id"] == run.run_id:
            break  # promoted by an earlier try of this run
        if etag != decision.get("champion_etag"):
            # Another run promoted since this one was evaluated: decide again against it, on this run's rows.
            test = test if test is not None else storage.read_parquet(run.s3, split["test_uri"])
            approved = approval["outcome"] == ApprovalOutcome.APPROVED
            again = compare_with_champion(run, evaluation, test, decision["margin"], approved)
            decision = {**again, "approval": approval}
            if not decision["promote"]:
                return keep(run, evaluation, approval, decision)
            continue
        doc: Champion = {
            "run_id": run.run_id,
            "promoted_at": datetime.now(UTC).isoformat(),
            "model_uri": artifacts["model_uri"],
            "model_json_uri": artifacts["model_json_uri"],
            "profile_uri": artifacts.get("profile_uri"),
            "sha256": evaluation["sha256"],
            "family": evaluation["family"],
            "threshold": evaluation["threshold"],
            "metrics": metric_values(evaluation["metrics"]),
            "reason": decision["reason"],
            "previous_run_id": current["run_id"] if current else None,
            "threshold_rule": evaluation["threshold_rule"],
            "thresholds": evaluation["thresholds"],
            "economics": evaluation["economics"],
        }
        try:
            _put_pointer(run.s3, run.bucket, doc, etag)
            break
        except ChampionChangedError:
            continue  # lost the race between read and write: the next round re-reads and re-decides
    else:
        raise ChampionChangedError(f"champion kept changing; gave up after {MAX_PROMOTION_ATTEMPTS} attempts")
    final: Decision = {**decision, "promote": True}
    record(run, PROMOTED, evaluation, final)
    return final


def keep(run: RunContext, evaluation: Evaluation, approval: Approval, decision: Decision | None = None) -> Decision:
    """Record that this run's model was not promoted, and why (``decision``, by default the evaluation's own,
    or the approver's rejection or the request's timeout); the champion pointer is not touched."""
    final: Decision = {**(decision or evaluation["decision"]), "promote": False, "approval": approval}
    if (why := approvals.kept_reason(approval)) is not None:
        final["reason"] = f"{why}; champion kept (the rules had said: {final['reason']})"
    record(run, KEPT, evaluation, final)
    return final
