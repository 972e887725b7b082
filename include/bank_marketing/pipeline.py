"""The whole training pipeline in one Python process, without Airflow: the DAG's tasks called in its order.

It is the benchmark's "bare pipeline" (``make bench`` compares it with the DAG) and a way to run the
pipeline from a notebook. Each stage calls the same ``include/`` function as the DAG task of the same name,
with the same S3 reads and writes; ``stage`` (a context-manager factory) lets a caller time each one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from include.bank_marketing import (
    config,
    drift,
    evaluation,
    notification,
    preprocessing,
    registry,
    reporting,
    training,
    validation,
)


def default_params(bucket: str, key: str = "banking.csv") -> dict[str, Any]:
    """The DAG's Param defaults (the ones the pipeline reads), for ``bucket`` and input ``key``."""
    return {
        "bucket": bucket,
        "input_key": key,
        "model_families": list(config.FAMILIES),
        "param_grids": {},
        "cv_folds": config.DEFAULT_CV_FOLDS,
        "drop_duration": False,
        "drift_threshold": config.DRIFT_PSI_THRESHOLD,
        "promotion_margin": config.PROMOTION_MARGIN,
        **{f"baseline_{name}": value for name, value in config.BASELINES.items()},
    }


def run(
    s3: Any,
    sns: Any,
    topic_arn: str,
    run_id: str,
    params: dict[str, Any],
    stage: Callable[[str], contextlib.AbstractContextManager] = lambda name: contextlib.nullcontext(),
    dag_id: str = "bank_marketing_training",
) -> dict[str, Any]:
    """Validate, check drift, preprocess, train every family, evaluate, publish, promote or keep, report and
    notify, as ``bank_marketing_training`` does. Returns the small results each DAG task would push to XCom."""
    bucket = params["bucket"]
    with stage("validate"):
        validated = validation.validate_object(s3, bucket, params["input_key"], run_id, params["cv_folds"])
    with stage("check_drift"):
        drift_check = drift.check_object(s3, bucket, run_id, validated["validated_uri"], params["drift_threshold"])
    with stage("preprocess"):
        drop = ["duration"] if params["drop_duration"] else []
        split = preprocessing.split_object(s3, validated, bucket, run_id, drop)
    with stage("plan_training"):
        specs = training.plan(params["model_families"], params["param_grids"])
    candidates = []
    for spec in specs:
        with stage(f"train[{spec['family']}]"):
            candidates.append(training.train_planned(s3, split, bucket, run_id, spec, params["cv_folds"]))
    with stage("evaluate"):
        baselines = {name: params[f"baseline_{name}"] for name in config.BASELINES}
        result = evaluation.evaluate_candidates(
            s3, candidates, split["test_uri"], baselines, bucket, params["promotion_margin"],
            train_uri=split["train_uri"], cv_folds=params["cv_folds"],
        )  # fmt: skip
    with stage("publish"):
        artifacts = reporting.publish_run(s3, bucket, run_id, result, split, validated)
    if result["decision"]["promote"]:
        with stage("promote"):
            decision = registry.promote(s3, bucket, run_id, result, artifacts, result["decision"], split["test_uri"])
    else:
        with stage("keep_champion"):
            decision = registry.keep(s3, bucket, run_id, result, result["decision"])
    with stage("build_report"):
        report = reporting.build_report(
            s3, bucket, run_id, dag_id, result, artifacts, split, validated, drift_check, decision, candidates
        )
    with stage("notify"):
        subject, message = notification.compose(run_id, result, artifacts, decision, drift_check, report)
        sns.publish(TopicArn=topic_arn, Subject=subject, Message=message)
    return {
        "validated": validated,
        "drift": drift_check,
        "split": split,
        "candidates": candidates,
        "evaluation": result,
        "artifacts": artifacts,
        "decision": decision,
        "report": report,
        "subject": subject,
    }


__all__ = ["default_params", "run"]
