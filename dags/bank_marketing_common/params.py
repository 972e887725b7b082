"""The trigger forms of both DAGs: one typed, titled, described and bounded ``Param`` per setting.

Names and defaults come from ``include.bank_marketing.params`` (shared with the bare pipeline); this module
adds only what the form needs: types, titles, descriptions, bounds and sections. The form shows sections in
the order of their first Param: Data first, Notification last.
"""

from __future__ import annotations

from airflow.sdk import Param

from include.bank_marketing import config, families
from include.bank_marketing.contracts import ApprovalMode, DuplicatePolicy, ThresholdRule
from include.bank_marketing.params import AS_PUBLISHED, baseline_param, defaults

_DEFAULTS = defaults()
SCORING_INPUT_KEY = "scoring/{{ ds }}/customers.csv"


def _bucket(holds: str) -> Param:
    return Param(
        _DEFAULTS["bucket"],
        type="string",
        title="S3 bucket",
        description=f"Bucket holding {holds}.",
        pattern="^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        section="Data",
    )


def _wait_timeout(sensor_task: str) -> Param:
    return Param(
        _DEFAULTS["wait_timeout_seconds"],
        type="integer",
        title="Wait for the file (seconds)",
        description=f"How long {sensor_task} waits for the file before the run fails and alerts.",
        minimum=10,
        maximum=config.WAIT_TIMEOUT_MAX_SECONDS,
        section="Data",
    )


def _topic(receives: str) -> Param:
    return Param(
        _DEFAULTS["sns_topic_arn"],
        type="string",
        title="SNS topic ARN",
        description=f"Topic that receives {receives} and any failure alert.",
        pattern="^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$",
        section="Notification",
    )


_RULE_LABELS = {
    ThresholdRule.F1.value: "f1 (maximum F1)",
    ThresholdRule.PROFIT.value: "profit (maximum expected profit)",
}


def _threshold_rule(default: str, description: str, *extra: tuple[str, str]) -> Param:
    return Param(
        default,
        type="string",
        title="Threshold rule",
        description=description,
        enum=[value for value, _ in extra] + list(_RULE_LABELS),
        values_display=dict(extra) | _RULE_LABELS,
        section="Campaign",
    )


def training_params() -> dict[str, Param]:
    """The training DAG's form; its keys are exactly those of ``include.bank_marketing.params.defaults()``."""
    names = list(families.FAMILIES)
    return {
        "bucket": _bucket("the input; the run's artifacts go under runs/{run_id}/ and the champion under models/"),
        "input_key": Param(
            _DEFAULTS["input_key"],
            type="string",
            title="Input key",
            description="Key of the input CSV (';' or ',' separated, target column y). Rendered as a template "
            "with the run's ds, ds_nodash and run_id, e.g. raw/{{ ds }}/banking.csv.",
            minLength=1,
            section="Data",
        ),
        "wait_timeout_seconds": _wait_timeout("wait_for_data"),
        "duplicates": Param(
            _DEFAULTS["duplicates"],
            type="string",
            title="Repeated rows",
            description="drop: train on the first of each set of identical rows (the counts go to the report and "
            "the SNS message); fail: reject the file like any bad input (quarantine, reason, alert). Repeated "
            "rows would otherwise put copies of training rows among the test rows and inflate every score.",
            enum=[policy.value for policy in DuplicatePolicy],
            section="Data",
        ),
        "model_families": Param(
            _DEFAULTS["model_families"],
            type="array",
            title="Model families",
            description="Families to grid-search; each trains as its own mapped task.",
            items={"type": "string", "enum": names},
            examples=names,
            values_display=families.LABELS,
            minItems=1,
            uniqueItems=True,
            section="Training",
        ),
        "cv_folds": Param(
            _DEFAULTS["cv_folds"],
            type="integer",
            title="Cross-validation folds",
            description="Stratified k-fold splits of the training set used by the grid search.",
            minimum=2,
            maximum=10,
            section="Training",
        ),
        "drop_duration": Param(
            _DEFAULTS["drop_duration"],
            type="boolean",
            title="Drop duration (no leakage)",
            description="Train without the call duration, which is known only after the call: the model a "
            "campaign can use to choose whom to call. Off reproduces the benchmark setting of the original lab.",
            section="Training",
        ),
        "param_grids": Param(
            _DEFAULTS["param_grids"],
            type=["object", "null"],  # optional: the form marks a field required unless it may be null
            title="Grid overrides",
            description="Optional JSON replacing a family's default grid, e.g. "
            '{"logistic_regression": {"C": [0.5, 5.0]}}. Keys are estimator parameters, or any pipeline step\'s '
            "as preprocess__numeric__impute__strategy; values are lists.",
            section="Training",
        ),
        "drift_threshold": Param(
            _DEFAULTS["drift_threshold"],
            type="number",
            title="Drift threshold (PSI)",
            description="A column of the incoming file whose population stability index against the champion's "
            "training data exceeds this has drifted; the SNS message and the report name it.",
            minimum=0.01,
            maximum=5,
            section="Monitoring",
        ),
        "promotion_margin": Param(
            _DEFAULTS["promotion_margin"],
            type="number",
            title="Promotion margin (AUC)",
            description="A model passing the baselines replaces the champion only if its test AUC beats the "
            "champion's, re-scored on the same rows, by at least this much.",
            minimum=0,
            maximum=0.1,
            section="Promotion",
        ),
        "suspicious_gain": Param(
            _DEFAULTS["suspicious_gain"],
            type="number",
            title="Suspicious gain (AUC)",
            description="A test AUC above the champion's (same rows) by more than this is too good to be true: "
            "the run is marked SUSPICIOUS and not promoted automatically (with approval required, a person "
            "decides). A column that alone ranks the target with AUC >= 0.99 does the same.",
            minimum=0,
            maximum=0.5,
            section="Promotion",
        ),
        "approval": Param(
            _DEFAULTS["approval"],
            type="string",
            title="Approval",
            description="required: a model that would be promoted waits for a person to Approve or Reject it "
            "(Browse > Required Actions, or the link in the SNS message); auto: it is promoted at once.",
            enum=[mode.value for mode in ApprovalMode],
            values_display={
                ApprovalMode.REQUIRED.value: "required (a person signs off)",
                ApprovalMode.AUTO.value: "auto (promote at once)",
            },
            section="Promotion",
        ),
        "approval_timeout": Param(
            _DEFAULTS["approval_timeout"],
            type="integer",
            title="Approval timeout (seconds)",
            description="How long a promotion waits for an answer; without one the champion is kept, and the "
            "SNS message says so. Default 86400 (24 h).",
            minimum=5,
            maximum=config.APPROVAL_TIMEOUT_MAX_SECONDS,
            section="Promotion",
        ),
        "cost_per_call": Param(
            _DEFAULTS["cost_per_call"],
            type="number",
            title="Cost per call",
            description="What one call costs (an agent's time), in the same currency as the value below. With "
            "the value, it sets the profit threshold: a call pays when probability x value > cost.",
            minimum=0,
            maximum=1_000_000,
            section="Campaign",
        ),
        "value_per_subscription": Param(
            _DEFAULTS["value_per_subscription"],
            type="number",
            title="Value per subscription",
            description="What one term-deposit subscription is worth to the bank, in the same currency.",
            minimum=0.01,  # above 0: a subscription worth nothing makes no call pay (the form's bound)
            maximum=1_000_000_000,
            section="Campaign",
        ),
        "threshold_rule": _threshold_rule(
            _DEFAULTS["threshold_rule"],
            "Which threshold labels new.csv and becomes the champion's default for scoring: f1 (maximum F1 on "
            "training folds) or profit (maximum expected profit for the cost and value above). The report shows both.",
        ),
        **{
            baseline_param(name): Param(
                _DEFAULTS[baseline_param(name)],
                type="number",
                title=f"Baseline {config.METRIC_TITLES[name]}",
                description=f"Test {config.METRIC_TITLES[name]} the model must reach to PASS "
                "(default: the original lab's recipe on banking.csv).",
                minimum=0,
                maximum=1,
                section="Baselines",
            )
            for name in config.BASELINES
        },
        "link_expiry_hours": Param(
            _DEFAULTS["link_expiry_hours"],
            type="integer",
            title="Link lifetime (hours)",
            description="How long the presigned links in the report, the SNS message and the approval request "
            "work (at most 168 h, S3's limit). Links signed with role credentials stop when those expire; "
            "the message gives the real expiry.",
            minimum=1,
            maximum=config.LINK_HOURS_MAX,
            section="Notification",
        ),
        "sns_topic_arn": _topic("the run's scores"),
    }


def scoring_params() -> dict[str, Param]:
    """The scoring DAG's form."""
    return {
        "bucket": _bucket("the champion (models/champion.json) and the customers file"),
        "input_key": Param(
            SCORING_INPUT_KEY,
            type="string",
            title="Customers key",
            description="Key of the customers CSV, rendered with the run's ds; predictions.csv is written beside it.",
            minLength=1,
            section="Data",
        ),
        "wait_timeout_seconds": _wait_timeout("wait_for_customers"),
        "threshold_rule": _threshold_rule(
            AS_PUBLISHED,
            "Which of the champion's thresholds labels the customers and chooses the call list: the one its "
            "training run chose (as published), or f1, or profit.",
            (AS_PUBLISHED, "as published with the champion"),
        ),
        "top_k": Param(
            None,
            type=["integer", "null"],
            title="Calls to list (top k)",
            description="How many customers call_list.csv holds, best first. Empty: every customer at or above "
            "the threshold.",
            minimum=1,
            section="Campaign",
        ),
        "sns_topic_arn": _topic("the scoring summary"),
    }
