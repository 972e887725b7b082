"""The training run's settings: the DAG's Param names and defaults, and their reading into one typed object.

The DAG's trigger form (``dags/``) and the bare pipeline (``pipeline.py``) both go through here, so a default,
a Param name or the way a Param becomes a setting (the baselines dict, the dropped columns) is written once.
No pandas or scikit-learn: the DAG file imports it at parse time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from include.bank_marketing import config
from include.bank_marketing.contracts import ApprovalMode, DuplicatePolicy, Economics, Grid, ThresholdRule
from include.bank_marketing.families import FAMILIES

BASELINE_PREFIX = "baseline_"
# The scoring DAG's threshold_rule that labels at the threshold the champion was published with.
AS_PUBLISHED = "as_published"
# The column that drop_duration leaves out: the call's length, known only once the call is over.
DURATION_COLUMN = "duration"


def baseline_param(metric: str) -> str:
    """The Param holding the baseline of ``metric``, e.g. ``baseline_auc``."""
    return f"{BASELINE_PREFIX}{metric}"


def defaults(bucket: str = config.DEFAULT_BUCKET, input_key: str = config.DEFAULT_INPUT_KEY) -> dict[str, Any]:
    """Every Param of the training DAG with its default value (the form's defaults, the pipeline's too)."""
    return {
        "bucket": bucket,
        "input_key": input_key,
        "wait_timeout_seconds": config.WAIT_TIMEOUT_SECONDS,
        "duplicates": config.DUPLICATES,
        "model_families": list(FAMILIES),
        "cv_folds": config.DEFAULT_CV_FOLDS,
        "drop_duration": False,
        "param_grids": {},
        "drift_threshold": config.DRIFT_PSI_THRESHOLD,
        "promotion_margin": config.PROMOTION_MARGIN,
        "suspicious_gain": config.SUSPICIOUS_GAIN,
        "approval": config.APPROVAL_DEFAULT,
        "approval_timeout": config.APPROVAL_TIMEOUT_SECONDS,
        "cost_per_call": config.COST_PER_CALL,
        "value_per_subscription": config.VALUE_PER_SUBSCRIPTION,
        "threshold_rule": config.THRESHOLD_RULE,
        **{baseline_param(name): value for name, value in config.BASELINES.items()},
        "link_expiry_hours": config.LINK_HOURS,
        "sns_topic_arn": config.DEFAULT_TOPIC_ARN,
    }


def economics(cost_per_call: float, value_per_subscription: float) -> Economics:
    """The campaign's economics; ``ValueError`` unless a call costs >= 0 and a subscription is worth > 0."""
    if not (math.isfinite(cost_per_call) and cost_per_call >= 0):
        raise ValueError(f"cost_per_call must be a number >= 0, got {cost_per_call!r}")
    if not (math.isfinite(value_per_subscription) and value_per_subscription > 0):
        raise ValueError(f"value_per_subscription must be a number > 0, got {value_per_subscription!r}")
    return {"cost_per_call": float(cost_per_call), "value_per_subscription": float(value_per_subscription)}


@dataclass(frozen=True)
class TrainingSettings:
    """A run's Params read into the settings the stages take."""

    bucket: str
    families: list[str]
    param_grids: Mapping[str, Grid]  # overrides as given; training.plan checks their shape
    cv_folds: int
    drop: list[str]  # feature columns left out before the split
    drift_threshold: float
    promotion_margin: float
    suspicious_gain: float  # a test AUC this far above the champion's is SUSPICIOUS, not promoted automatically
    duplicates: str  # a DuplicatePolicy value: what validate does with repeated rows
    baselines: dict[str, float]  # metric -> the value a model must reach to PASS
    approval: str  # an ApprovalMode value: does a promotion wait for a person?
    approval_timeout: int  # seconds an approval request waits before the champion is kept
    economics: Economics  # what a call costs and a subscription is worth: the profit threshold's inputs
    threshold_rule: str  # a ThresholdRule value: which threshold labels new.csv
    sns_topic_arn: str

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrainingSettings:
        """Read a run's Params (as Airflow gives them, or ``defaults()`` with overrides)."""
        return cls(
            bucket=params["bucket"],
            families=list(params["model_families"]),
            param_grids=params.get("param_grids") or {},  # the form sends null for "no overrides"
            cv_folds=int(params["cv_folds"]),
            drop=[DURATION_COLUMN] if params["drop_duration"] else [],
            drift_threshold=float(params["drift_threshold"]),
            promotion_margin=float(params["promotion_margin"]),
            suspicious_gain=float(params.get("suspicious_gain", config.SUSPICIOUS_GAIN)),
            duplicates=DuplicatePolicy(params.get("duplicates", config.DUPLICATES)).value,
            baselines={
                name: float(params[baseline_param(name)]) for name in config.METRICS if baseline_param(name) in params
            },
            approval=ApprovalMode(params["approval"]).value,
            approval_timeout=int(params["approval_timeout"]),
            # .get: conf of runs queued before these Params existed lacks them
            economics=economics(
                float(params.get("cost_per_call", config.COST_PER_CALL)),
                float(params.get("value_per_subscription", config.VALUE_PER_SUBSCRIPTION)),
            ),
            threshold_rule=ThresholdRule(params.get("threshold_rule", config.THRESHOLD_RULE)).value,
            sns_topic_arn=params["sns_topic_arn"],
        )
