"""What travels between the stages: one declared type per hand-over, and the verdict's one spelling.

Every type here is a ``TypedDict`` of plain JSON values, so the same object is what a stage function returns,
what the DAG task pushes to XCom and what the next stage receives; nothing here imports pandas or
scikit-learn, so the DAG files can import it at parse time.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any, Final, NotRequired, TypedDict

from include.bank_marketing import config


class Verdict(StrEnum):
    """The baseline verdict of a run. Its value is the spelling stored in JSON; ``label`` is how texts show it."""

    PASS = "PASS"
    BELOW_BASELINE = "BELOW_BASELINE"
    # Passes the baselines but looks too good to be true (a leaked label, an implausible gain over the
    # champion): never promoted without a person (``quality.suspicions``).
    SUSPICIOUS = "SUSPICIOUS"

    @property
    def label(self) -> str:
        """Human spelling, e.g. ``BELOW BASELINE``."""
        return self.value.replace("_", " ")


# --- file arrivals (S3 event notifications) and resolve_input --------------------------------------------


class NewObject(TypedDict):
    """One object named by an S3 ``ObjectCreated`` notification: the payload of one asset event."""

    bucket: str
    key: str  # URL-decoded
    etag: str  # without quotes
    size: int
    event_name: str  # e.g. "ObjectCreated:Put"
    event_time: str  # ISO 8601, as S3 wrote it
    version_id: NotRequired[str]  # on versioned buckets


class StartedBy(StrEnum):
    """What started a training run: a new file (an S3 event), the daily schedule, or a person (or backfill)."""

    FILE_EVENT = "file_event"
    SCHEDULE = "schedule"
    MANUAL = "manual"


class OtherRun(TypedDict):
    """A run to start for another file of the same batch of events (TriggerDagRunOperator's arguments)."""

    trigger_run_id: str
    conf: dict[str, str]


class RunInput(TypedDict):
    """What resolve_input decided: the key this run trains on, what started it, and runs for other new files."""

    key: str | None  # None: every file of the events already has its run (nothing to do)
    started_by: str  # a StartedBy value
    other_runs: list[OtherRun]
    claims: dict[str, str]  # file identity -> the run that takes it (recorded in the asset's state store)


# --- validate -----------------------------------------------------------------------------------------------


class DuplicatePolicy(StrEnum):
    """What validate does with repeated rows (the ``duplicates`` Param)."""

    DROP = "drop"  # keep the first of each set of identical rows, train on the rest
    FAIL = "fail"  # reject the file like any bad input: quarantine, reason, alert


class Duplicates(TypedDict):
    """Repeated rows of the input file, and what validate did with them."""

    policy: str  # a DuplicatePolicy value
    exact_rows: int  # rows identical to an earlier row in every column, the target included
    conflicting_rows: int  # rows whose features equal another row's while their targets differ (every such row)
    dropped_rows: int  # rows removed before training: exact_rows under "drop"


class ColumnQuality(TypedDict):
    """One column of the input as the data-quality section shows it."""

    column: str
    kind: str  # "numeric" or "categorical"
    missing_share: float  # empty cells / rows (0..1); "unknown" is a category of its own, not missing
    distinct: int  # distinct non-missing values
    constant: bool  # a single distinct value (or none): the column cannot inform a model
    minimum: float | None  # numeric columns only
    maximum: float | None
    bounds: list[float | None] | None  # [low, high] plausible values (config.PLAUSIBLE_BOUNDS) if the column is known
    out_of_bounds: int  # rows outside ``bounds`` (0 when the column has none)


class ClassBalance(TypedDict):
    """The share of subscribers in this file's rows against the champion's training rows."""

    positive_rate: float
    champion_positive_rate: float | None  # None: no champion, or one trained before quality.json existed
    champion_run_id: str | None


class QualityReport(TypedDict):
    """``quality.json``: the data-quality profile of the input file, written by validate."""

    input_uri: str
    rows_read: int
    rows_used: int  # after dropping duplicates
    duplicates: Duplicates
    columns: list[ColumnQuality]
    constant_columns: list[str]
    out_of_bounds_columns: list[str]
    class_balance: ClassBalance


class ValidatedInput(TypedDict):
    """The checked input file: where its parsed rows are (Parquet) and what validation learned of it."""

    input_uri: str
    input_sha256: str
    input_bytes: int
    rows: int  # rows used: after dropping duplicates
    duplicates: Duplicates
    quality_uri: str  # quality.json
    delimiter: str
    target_format: str  # "yes/no" or "1/0": how new.csv and predictions.csv write labels back
    class_counts: dict[str, int]  # rows per class, keyed "0" and "1"
    numeric: list[str]
    categorical: list[str]
    validated_uri: str


# --- check_drift ----------------------------------------------------------------------------------------------


class DriftedColumn(TypedDict):
    column: str
    psi: float


class DriftCheck(TypedDict):
    """The drift check's summary; the per-column detail is in ``drift.json`` at ``drift_uri``."""

    drift_uri: str
    summary: str  # one line for the alert and the report
    drifted: list[DriftedColumn]
    max_psi: float | None  # None: nothing compared (no champion, or no common column)
    threshold: float
    champion_run_id: str | None


# --- preprocess ----------------------------------------------------------------------------------------------


class Split(TypedDict):
    """The stratified train/test split written as Parquet, and the feature columns that remain."""

    numeric: list[str]
    categorical: list[str]
    dropped: list[str]
    train_uri: str
    test_uri: str
    train_rows: int
    test_rows: int
    train_positive_rate: float
    test_positive_rate: float
    # Test rows whose features also appear in the training rows: 0, as rows with identical features are kept
    # on one side (quality.overlap_rows checks it after the split).
    overlap_rows: int


# --- plan_training / train -----------------------------------------------------------------------------------

# Parameter name (a pipeline parameter such as ``model__C``, or an estimator parameter such as ``C``) -> values.
Grid = dict[str, list[Any]]


class TrainingSpec(TypedDict):
    """One mapped ``train`` task: a family and the grid it searches."""

    family: str
    grid: Grid


class GridResult(TypedDict):
    params: dict[str, Any]
    cv_auc: float


class SearchSummary(TypedDict):
    """One family's grid search: the best parameters and every parameter set's CV AUC."""

    family: str
    best_params: dict[str, Any]
    cv_auc: float
    cv_auc_std: float
    cv_folds: int
    candidates: int  # parameter sets tried
    fit_seconds: float
    grid_results: list[GridResult]


class Candidate(SearchSummary):
    """One family's best pipeline from its grid search: the pickle stays in S3, its summary travels."""

    model_uri: str
    sha256: str
    model_bytes: int


# --- evaluate ------------------------------------------------------------------------------------------------


class ThresholdRule(StrEnum):
    """How the operating point (the threshold new.csv and the scoring DAG label at) is chosen, both on
    out-of-fold predictions of the training split, never on the test rows."""

    F1 = "f1"  # the maximum F1: subscribers found and calls wasted weigh the same
    PROFIT = "profit"  # the maximum expected profit: value x subscribers reached - cost x calls

    @property
    def description(self) -> str:
        """How texts say where the threshold comes from, e.g. ``max F1 on training folds``."""
        return {"f1": "max F1", "profit": "max expected profit"}[self.value] + " on training folds"


class Economics(TypedDict):
    """What a call costs and what a subscription is worth, in one currency (the Params of the same names)."""

    cost_per_call: float
    value_per_subscription: float


class ConfusionMatrix(TypedDict):
    tn: int
    fp: int
    fn: int
    tp: int


class Metrics(TypedDict):
    """Test metrics at one threshold. The names of the compared ones are ``config.METRICS``."""

    auc: float
    f1: float
    precision: float
    recall: float
    accuracy: float
    threshold: float
    rows: int
    confusion_matrix: ConfusionMatrix
    classification_report: str


def metric_values(metrics: Metrics) -> dict[str, float]:
    """The compared metrics (``config.METRICS``) of ``metrics``, by name: what model.json and the pointer keep."""
    values: Mapping[str, Any] = metrics
    return {name: values[name] for name in config.METRICS}


class Check(TypedDict):
    """One metric beside its baseline."""

    value: float
    baseline: float
    passed: bool


class LeaderboardRow(TypedDict):
    family: str
    cv_auc: float
    fit_seconds: float


# What a history line and the report call the two outcomes of a run.
PROMOTED: Final = "promoted"
KEPT: Final = "kept_champion"
# What the report shows while a person decides.
AWAITING_APPROVAL: Final = "awaiting_approval"


class ApprovalMode(StrEnum):
    """The ``approval`` Param: whether a person must sign off a promotion."""

    AUTO = "auto"  # a challenger that passes the rules is promoted at once
    REQUIRED = "required"  # it waits for a person's decision in the UI (or the REST API)


class ApprovalOutcome(StrEnum):
    """What became of the promotion request of a run."""

    NOT_NEEDED = "not_needed"  # the rules kept the champion: nothing to approve
    AUTO = "auto"  # approval "auto": promoted without asking
    APPROVED = "approved"
    REJECTED = "rejected"
    TIMED_OUT = "timed_out"  # nobody answered within approval_timeout: the champion is kept
    PENDING = "pending"  # asked, no answer yet (what the report shows the approver)


class Approval(TypedDict):
    """The approval gate's record: who decided a promotion, when, and what they said."""

    mode: str  # an ApprovalMode value
    outcome: str  # an ApprovalOutcome value
    requested_at: str | None  # ISO 8601; None when nobody was asked
    responded_at: str | None  # of the answer, or of the timeout
    responded_by: str | None  # the approver's name (and id when it differs); None without an answer
    comment: str | None
    timeout_seconds: int | None


class Decision(TypedDict):
    """Promote or keep, why, and the champion the challenger was compared with."""

    promote: bool
    reason: str
    margin: float
    challenger_auc: float
    champion_run_id: str | None
    champion_auc: float | None
    champion_etag: NotRequired[str | None]  # the pointer's ETag when compared: the conditional write's guard
    # A SUSPICIOUS model the rules would otherwise promote: not promoted automatically, but a person may.
    review: NotRequired[bool]
    approval: NotRequired[Approval]  # the approval gate's record, once the gate has decided


class ScoredModel(TypedDict):
    """The winning candidate scored on the test split and its verdict against the baselines."""

    family: str
    best_params: dict[str, Any]
    cv_auc: float
    candidate_uri: str
    sha256: str
    scores_uri: str  # row_id, y and probability of every test row
    metrics: Metrics  # at threshold 0.5, where the baselines were measured
    threshold: float  # the operating point: thresholds[threshold_rule]
    threshold_rule: str  # a ThresholdRule value
    thresholds: dict[str, float]  # ThresholdRule value -> threshold chosen on out-of-fold training predictions
    threshold_oof_f1: float | None  # F1 of the out-of-fold predictions at the F1 threshold
    economics: Economics  # what the profit threshold was chosen with
    metrics_at_threshold: Metrics  # at the operating point
    checks: dict[str, Check]
    verdict: str  # a Verdict value, stored as its plain string so XCom and JSON carry it as is
    leaderboard: list[LeaderboardRow]
    # Columns that alone rank the test rows' target with AUC >= config.LEAK_AUC, and why the verdict is
    # SUSPICIOUS (empty when it is not).
    leaked_columns: NotRequired[dict[str, float]]
    suspicions: NotRequired[list[str]]


class Evaluation(ScoredModel):
    """``evaluate``'s result: the scored winner and the promotion decision it implies against the champion."""

    decision: Decision


# --- explain_for_campaign -----------------------------------------------------------------------------------


class RankingCurve(TypedDict):
    """Cumulative gains of one ranking of the test rows: calling the best-ranked ``share_called`` of the
    customers reaches ``share_reached`` of the subscribers (both 0..1, at 1 % steps of the customers)."""

    label: str  # "model" or the compared family's name
    share_called: list[float]
    share_reached: list[float]


class ProfitCurve(TypedDict):
    """Expected profit on the test rows of calling every customer whose probability is >= each threshold."""

    threshold: list[float]
    calls: list[int]
    subscribers: list[int]
    profit: list[float]


class CalibrationCurve(TypedDict):
    """The reliability curve: per bin of predicted probability, the mean prediction and the observed rate."""

    mean_predicted: list[float]
    observed: list[float]
    rows: list[int]


class ColumnImportance(TypedDict):
    """Permutation importance of one input column: the test ROC AUC lost when its values are shuffled."""

    column: str
    mean: float
    std: float


class ProfitAt(TypedDict):
    """Calling every test customer at or above one rule's threshold: calls, subscribers reached, profit."""

    rule: str  # a ThresholdRule value
    threshold: float
    calls: int
    subscribers: int
    profit: float  # value x subscribers - cost x calls, on the test rows
    profit_per_1000: float  # the same per 1,000 customers


class GainsAt(TypedDict):
    share_called: float  # the best-ranked share of the customers called (0.1 = top 10 %)
    share_reached: float  # the share of all subscribers among them
    lift: float  # share_reached / share_called: how many times better than calling at random


class CampaignCurves(TypedDict):
    """``campaign.json``: the numbers behind the campaign charts, all on the test rows."""

    rows: int
    positives: int
    economics: Economics
    threshold_rule: str
    thresholds: dict[str, float]  # ThresholdRule value -> threshold (chosen on training folds)
    rankings: list[RankingCurve]  # the model first, then the lab's family when it was trained and did not win
    profit: ProfitCurve
    calibration: CalibrationCurve
    importance: list[ColumnImportance]  # every input column, largest mean first
    importance_repeats: int


class CampaignSummary(TypedDict):
    """What the campaign manager decides with, in brief; the curves are in ``campaign.json``."""

    campaign_uri: str  # campaign.json, the CampaignCurves the report's campaign charts are drawn from
    economics: Economics
    threshold_rule: str
    gains: list[GainsAt]  # at config.GAINS_SHARES
    profit: list[ProfitAt]  # one per ThresholdRule, the operating point's rule first
    top_columns: list[str]  # the most important input columns, most important first
    compared_with: str | None  # the family whose ranking the gains chart shows beside the model's


# --- publish -------------------------------------------------------------------------------------------------


class Artifacts(TypedDict):
    """Where publish wrote the run's artifacts."""

    model_uri: str
    model_json_uri: str
    metrics_uri: str
    new_csv_uri: str
    latest_new_csv_uri: str
    profile_uri: str
    predictions_rows: int


# --- promote / keep_champion ---------------------------------------------------------------------------------


class Champion(TypedDict):
    """The champion pointer, ``models/champion.json``."""

    run_id: str
    promoted_at: str
    model_uri: str
    model_json_uri: str
    profile_uri: str | None
    sha256: str
    family: str
    threshold: float  # the operating point the scoring DAG labels at by default
    metrics: dict[str, float]
    reason: str
    previous_run_id: str | None
    # Absent from pointers written before profit thresholds existed (threshold was then always the F1 one).
    threshold_rule: NotRequired[str]
    thresholds: NotRequired[dict[str, float]]
    economics: NotRequired[Economics]


# --- build_report / notify -----------------------------------------------------------------------------------


class Link(TypedDict):
    """A presigned GET link and when it stops working."""

    url: str
    expires_at: str  # ISO 8601, UTC: the link's lifetime's end, or the signing credentials' expiry if earlier
    capped_by_credentials: bool  # the credentials expire before the lifetime asked for


class ReportLinks(TypedDict):
    report_uri: str
    report_url: str | None  # presigned (SigV4); None when the connection cannot sign
    report_url_expires_at: str | None  # when report_url stops working (see Link)
    report_url_capped: bool  # report_url dies with the credentials that signed it, before its lifetime
    chart_uris: dict[str, str]


class RunResults(TypedDict):
    """Everything a finished training run produced: what the report and the SNS message are built from."""

    validated: ValidatedInput
    drift: DriftCheck
    split: Split
    candidates: list[Candidate]
    evaluation: Evaluation
    artifacts: Artifacts
    campaign: CampaignSummary
    decision: Decision


class RunReport(TypedDict):
    """``build_report``'s result, all that ``notify`` needs: the run's results and where its report is."""

    results: RunResults
    links: ReportLinks


# --- scoring DAG ---------------------------------------------------------------------------------------------


class ScoringResult(TypedDict):
    input_uri: str
    predictions_uri: str
    rows: int
    positives: int
    positive_share: float
    threshold: float
    threshold_rule: str  # a ThresholdRule value: which of the champion's thresholds labelled the rows
    champion_run_id: str
    family: str
    call_list_uri: str
    calls: int  # rows of call_list.csv
    expected_subscriptions: float  # the sum of the called customers' probabilities
    expected_profit: float  # value x expected subscriptions - cost x calls
    economics: Economics
