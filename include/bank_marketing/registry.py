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
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from include.bank_marketing import storage
from include.bank_marketing.layout import CHAMPION_KEY, history_key, s3_uri
from include.bank_marketing.preprocessing import features_and_target

# A lost race is re-decided against the new champion; more rounds than this means something is wrong.
MAX_PROMOTION_ATTEMPTS = 5


class ChampionChangedError(RuntimeError):
    """The champion pointer changed between reading and writing it."""


def read_champion(s3: Any, bucket: str) -> tuple[dict[str, Any] | None, str | None]:
    """The champion document and its ETag, or ``(None, None)`` before the first promotion."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=CHAMPION_KEY)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None, None
        raise
    return json.loads(obj["Body"].read()), obj["ETag"]


def score_champion(s3: Any, champion: dict[str, Any], test: Any) -> tuple[float | None, str | None]:
    """The champion's AUC on this run's test rows, or ``(None, why)`` when it cannot score them.

    The champion's pickle is verified against its recorded sha256 before loading; a mismatch raises
    ``storage.IntegrityError`` (a tampered pickle must stop the run, not be skipped).
    """
    from sklearn.metrics import roc_auc_score

    model = storage.load_model(s3, champion["model_uri"], champion["sha256"])
    x, y = features_and_target(test)
    try:
        proba = model.predict_proba(x)[:, 1]
    except (KeyError, ValueError) as exc:  # e.g. the input's columns changed since the champion was trained
        return None, f"champion {champion['run_id']} cannot score this run's rows: {exc}"
    return round(float(roc_auc_score(y, proba)), 4), None


def decide(
    verdict: str,
    failed_checks: list[str],
    challenger_auc: float,
    champion: dict[str, Any] | None,
    champion_auc: float | None,
    why_unscored: str | None,
    margin: float,
) -> dict[str, Any]:
    """Promote or keep: ``{"promote": bool, "reason": str}``.

    A challenger must pass every baseline, then beat the champion's AUC on the same test rows by ``margin``.
    Without a champion, passing the baselines is enough; a champion that cannot score the rows (its columns
    are gone) yields to a challenger that passes the baselines.
    """
    if verdict != "PASS":
        return {"promote": False, "reason": f"below baseline on {', '.join(failed_checks)}; champion kept"}
    if champion is None:
        return {"promote": True, "reason": f"first champion: no model promoted yet; AUC {challenger_auc:.4f} passes"}
    if champion_auc is None:
        return {"promote": True, "reason": f"{why_unscored}; challenger AUC {challenger_auc:.4f} passes the baselines"}
    target = champion_auc + margin
    if challenger_auc >= target:
        return {
            "promote": True,
            "reason": f"challenger AUC {challenger_auc:.4f} >= champion {champion_auc:.4f} + margin {margin:g}",
        }
    return {
        "promote": False,
        "reason": f"challenger AUC {challenger_auc:.4f} < champion {champion_auc:.4f} + margin {margin:g}",
    }


def compare_with_champion(s3: Any, bucket: str, evaluation: dict[str, Any], test: Any, margin: float) -> dict[str, Any]:
    """Read the current champion, re-score it on ``test`` and decide; returns the decision with the context."""
    champion, etag = read_champion(s3, bucket)
    champion_auc, why = score_champion(s3, champion, test) if champion else (None, None)
    failed = [name for name, c in evaluation["checks"].items() if not c["passed"]]
    decision = decide(evaluation["verdict"], failed, evaluation["metrics"]["auc"], champion, champion_auc, why, margin)
    return {
        **decision,
        "margin": margin,
        "challenger_auc": evaluation["metrics"]["auc"],
        "champion_run_id": champion["run_id"] if champion else None,
        "champion_auc": champion_auc,
        "champion_etag": etag,
    }


def _put_pointer(s3: Any, bucket: str, doc: dict[str, Any], etag: str | None) -> None:
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


def record(s3: Any, bucket: str, run_id: str, entry: dict[str, Any]) -> str:
    """Write this run's history line (replacing the one of an earlier try of the same run)."""
    return storage.write_json(s3, s3_uri(bucket, history_key(run_id)), {"run_id": run_id, **entry})


def promote(
    s3: Any,
    bucket: str,
    run_id: str,
    evaluation: dict[str, Any],
    artifacts: dict[str, Any],
    decision: dict[str, Any],
    test_uri: str,
) -> dict[str, Any]:
    """Make this run's model the champion unless another run promoted a better one meanwhile.

    Idempotent: a retry of a run that already holds the pointer only (re)writes its history line.
    Returns the final decision, as recorded in the history.
    """
    test = None
    for _ in range(MAX_PROMOTION_ATTEMPTS):
        current, etag = read_champion(s3, bucket)
        if current and current["run_id"] == run_id:
            break  # promoted by an earlier try of this run
        if etag != decision["champion_etag"]:
            # Another run promoted since this one was evaluated: decide again against it, on this run's rows.
            test = test if test is not None else storage.read_parquet(s3, test_uri)
            decision = compare_with_champion(s3, bucket, evaluation, test, decision["margin"])
            if not decision["promote"]:
                return keep(s3, bucket, run_id, evaluation, decision)
            continue
        doc = {
            "run_id": run_id,
            "promoted_at": datetime.now(UTC).isoformat(),
            "model_uri": artifacts["model_uri"],
            "model_json_uri": artifacts["model_json_uri"],
            "profile_uri": artifacts.get("profile_uri"),
            "sha256": evaluation["sha256"],
            "family": evaluation["family"],
            "threshold": evaluation["threshold"],
            "metrics": {k: evaluation["metrics"][k] for k in ("auc", "f1", "precision", "recall", "accuracy")},
            "reason": decision["reason"],
            "previous_run_id": current["run_id"] if current else None,
        }
        try:
            _put_pointer(s3, bucket, doc, etag)
            break
        except ChampionChangedError:
            continue  # lost the race between read and write: the next round re-reads and re-decides
    else:
        raise ChampionChangedError(f"champion kept changing; gave up after {MAX_PROMOTION_ATTEMPTS} attempts")
    final = {**decision, "promote": True}
    record(s3, bucket, run_id, {"decision": "promoted", **_summary(evaluation, final)})
    return final


def keep(s3: Any, bucket: str, run_id: str, evaluation: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    """Record that this run's model was not promoted, and why; the champion pointer is not touched."""
    final = {**decision, "promote": False}
    record(s3, bucket, run_id, {"decision": "kept_champion", **_summary(evaluation, final)})
    return final


def _summary(evaluation: dict[str, Any], decision: dict[str, Any]) -> dict[str, Any]:
    return {
        "reason": decision["reason"],
        "decided_at": datetime.now(UTC).isoformat(),
        "family": evaluation["family"],
        "challenger_auc": decision["challenger_auc"],
        "champion_run_id": decision["champion_run_id"],
        "champion_auc": decision["champion_auc"],
        "margin": decision["margin"],
        "sha256": evaluation["sha256"],
    }
