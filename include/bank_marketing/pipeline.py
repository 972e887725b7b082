"""The whole training pipeline in one Python process, without Airflow: the DAG's tasks called in its order.

It is the benchmark's "bare pipeline" (``make bench`` compares it with the DAG) and a way to run the
pipeline from a notebook. Each stage calls the same ``include/`` function as the DAG task of the same name,
with the same S3 reads and writes and the same Param handling (``params.TrainingSettings``); ``stage`` (a
context-manager factory) lets a caller time each one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from include.bank_marketing import (
    approval,
    campaign,
    drift,
    evaluation,
    notification,
    preprocessing,
    publish,
    registry,
    report,
    training,
    validation,
)
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import ApprovalMode, ReportLinks, RunResults
from include.bank_marketing.params import TrainingSettings


def run(
    s3: Any,
    sns: Any,
    run_id: str,
    params: dict[str, Any],
    stage: Callable[[str], contextlib.AbstractContextManager] = lambda name: contextlib.nullcontext(),
) -> tuple[RunResults, ReportLinks, str]:
    """Validate, check drift, preprocess, train every family, evaluate, publish, explain for the campaign, promote
    or keep, report and
    notify, as ``bank_marketing_training`` does with the Params ``params`` (``params.defaults()`` with any
    overrides). Returns what the DAG's tasks would push to XCom, the report's links and the SNS subject."""
    settings = TrainingSettings.from_params(params)
    ctx = RunContext(s3, settings.bucket, run_id)
    with stage("validate"):
        validated = validation.validate_object(ctx, params["input_key"], settings.cv_folds, settings.duplicates)
    with stage("check_drift"):
        drift_check = drift.check_object(ctx, validated, settings.drift_threshold)
    with stage("preprocess"):
        split = preprocessing.split_object(ctx, validated, settings.drop)
    with stage("plan_training"):
        specs = training.plan(settings.families, settings.param_grids)
    candidates = []
    for spec in specs:
        with stage(f"train[{spec['family']}]"):
            candidates.append(training.train_planned(ctx, split, spec, settings.cv_folds))
    with stage("evaluate"):
        result = evaluation.evaluate_candidates(ctx, split, candidates, settings)
    with stage("publish"):
        artifacts = publish.publish_run(ctx, validated, split, result)
    with stage("explain_for_campaign"):
        explained = campaign.explain_for_campaign(ctx, split, candidates, result)
    # Nobody to ask here: the bare pipeline decides as approval=auto does, whatever the Param says.
    gate = approval.without_person(ApprovalMode.AUTO, result["decision"])
    if result["decision"]["promote"]:
        with stage("promote"):
            decision = registry.promote(ctx, split, result, artifacts, gate)
    else:
        with stage("keep_champion"):
            decision = registry.keep(ctx, result, gate)
    results: RunResults = {
        "validated": validated,
        "drift": drift_check,
        "split": split,
        "candidates": candidates,
        "evaluation": result,
        "artifacts": artifacts,
        "campaign": explained,
        "decision": decision,
    }
    with stage("build_report"):
        links = report.build_report(ctx, results)
    with stage("notify"):
        subject, message = notification.compose(run_id, results, links)
        sns.publish(TopicArn=settings.sns_topic_arn, Subject=subject, Message=message)
    return results, links, subject


__all__ = ["run"]
