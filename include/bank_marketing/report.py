"""Report: the run's self-contained HTML page for senior management, rendered from ``templates/report.html.j2``.

``render_html`` only lays out what the pipeline decided: the verdict and the per-metric checks come in the
context exactly as evaluation computed them, never recomputed here. The charts are drawn by ``charts.render``.
Escaping is Jinja2's autoescape (every ``{{ value }}`` of the template), not a helper of this module.

``build_report`` is the stage: it assembles the ``ReportContext`` from the run's results, draws and stores the
charts (the campaign's from ``campaign.json``) and writes ``report.html`` under the run's prefix.
"""

from __future__ import annotations

import base64
import functools
import json
import math
import mimetypes
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, TypeGuard, cast

import jinja2

from include.bank_marketing import approval as approvals
from include.bank_marketing import charts, config, families, layout, storage
from include.bank_marketing.charts import CAPTIONS, CHART_SIZE
from include.bank_marketing.context import RunContext
from include.bank_marketing.contracts import (
    AWAITING_APPROVAL,
    KEPT,
    PROMOTED,
    Approval,
    ApprovalOutcome,
    CampaignSummary,
    Check,
    Decision,
    DriftedColumn,
    QualityReport,
    ReportLinks,
    RunResults,
    ThresholdRule,
    Verdict,
    metric_values,
)

TEMPLATES = Path(__file__).parent / "templates"
TEMPLATE = "report.html.j2"

# What the promotion decision reads as in the page's headline; any other value shows as it is.
DECISION_HEADLINES = {
    PROMOTED: "Promoted to champion",
    KEPT: "Not promoted: the champion is kept",
    AWAITING_APPROVAL: "Awaiting approval: the rules would promote this model; a person decides",
}


class MetricColumns(TypedDict):
    """The two value columns of the metrics table, by metric name (``config.METRICS``)."""

    at_0_5: dict[str, float]  # at threshold 0.5, where the baselines were measured
    at_threshold: dict[str, float]  # at the chosen threshold (the operating point)


class ChampionComparison(TypedDict):
    """The champion the challenger was compared with, and the outcome."""

    run_id: str | None  # None: there was no champion before this run
    auc: float | None  # the champion's test AUC on this run's test rows
    decision: Literal["promoted", "kept_champion", "awaiting_approval"]
    reason: str


class DataSummary(TypedDict):
    """The input file and the columns the model was trained on."""

    input_uri: str
    rows: int
    class_counts: dict[str, int]  # rows per class, keyed "0" and "1"
    numeric: list[str]
    categorical: list[str]
    dropped: list[str]


class DriftColumn(TypedDict):
    """One column of ``drift.compare``'s result."""

    kind: str  # "numeric" or "categorical"
    psi: float
    unseen_share: NotRequired[float]  # categorical columns only


class DriftReport(TypedDict):
    """``drift.json`` as ``drift.compare`` writes it, plus the alert's one-line summary."""

    threshold: float
    max_psi: float | None  # None: no column compared
    drifted: list[DriftedColumn]  # PSI above the threshold, largest first
    columns: dict[str, DriftColumn]
    missing_columns: NotRequired[list[str]]  # the champion's columns absent from this file
    rows: NotRequired[int]
    reference_rows: NotRequired[int]
    summary: str


class ArtifactLink(TypedDict):
    uri: str  # s3://...
    url: str | None  # presigned https URL; None when the connection cannot sign
    expires_at: NotRequired[str | None]  # when url stops working (ISO 8601, UTC)


class ReportContext(TypedDict):
    """Everything ``report.html`` shows, as plain JSON values (plus the ``Verdict``)."""

    run_id: str
    dag_id: str
    created_at: str  # ISO 8601
    verdict: Verdict  # evaluation's verdict; a plain "PASS"/"BELOW_BASELINE" string is accepted too
    checks: dict[str, Check]  # evaluation's checks: each metric at threshold 0.5 beside its baseline
    metrics: MetricColumns
    family: str
    params: dict[str, Any]
    cv_auc: float
    threshold: float  # the operating point
    threshold_rule: str  # a ThresholdRule value: how the operating point was chosen
    campaign: CampaignSummary  # the "for the campaign" section
    champion: ChampionComparison
    data: DataSummary
    drift: DriftReport | None  # None: no champion profile to compare with
    artifacts: dict[str, ArtifactLink]  # name -> where it is
    links_expire_at: NotRequired[str | None]  # when the first of the presigned links stops working
    approval: NotRequired[Approval | None]  # the approval gate's record; absent or None: not recorded
    quality: NotRequired[QualityReport | None]  # quality.json; None: validated before it existed
    overlap_rows: NotRequired[int | None]  # the split's test rows with a training twin (0)
    suspicions: NotRequired[list[str]]  # why the verdict is SUSPICIOUS
    leaked_columns: NotRequired[dict[str, float]]  # columns that alone rank the target with AUC >= LEAK_AUC


def build_report(run: RunContext, results: RunResults) -> ReportLinks:
    """Charts (PNG) and the self-contained ``report.html`` of a run, under ``runs/{run_id}/``.

    Returns the report's S3 URI, its presigned URL (None when the connection cannot sign) and the charts' URIs.
    """
    evaluation, decision, drift, data = results["evaluation"], results["decision"], results["drift"], results["split"]
    validated = results["validated"]
    scores = storage.read_parquet(run.s3, evaluation["scores_uri"])  # written by evaluate, read, not re-scored
    grid = [
        {"family": c["family"], "params": g["params"], "cv_auc": g["cv_auc"]}
        for c in results["candidates"]
        for g in c["grid_results"]
    ]
    images = charts.render(scores[config.TARGET], scores["probability"].to_numpy(), evaluation["threshold"], grid)
    chart_uris = {name: storage.write_bytes(run.s3, run.uri(name), png, "image/png") for name, png in images.items()}
    campaign = results["campaign"]
    # From the numbers explain_for_campaign wrote: drawn here, where matplotlib is imported anyway.
    campaign_images = charts.render_campaign(storage.read_json(run.s3, campaign["campaign_uri"]))
    for name, png in campaign_images.items():
        chart_uris[name] = storage.write_bytes(run.s3, run.uri(name), png, "image/png")
    images.update(campaign_images)
    report_uri = run.uri(layout.REPORT)
    linked = {k.removesuffix("_uri"): v for k, v in results["artifacts"].items() if isinstance(v, str)}
    linked.update({"drift": drift["drift_uri"], "campaign": campaign["campaign_uri"], "report": report_uri})
    # drift.json holds the per-column detail; without a champion profile nothing was compared.
    drift_doc = storage.read_json(run.s3, drift["drift_uri"]) if drift["max_psi"] is not None else None
    artifacts = {name: _artifact_link(run, uri) for name, uri in linked.items()}
    context: ReportContext = {
        "run_id": run.run_id,
        "dag_id": run.dag_id,
        "created_at": datetime.now(UTC).isoformat(),
        "verdict": Verdict(evaluation["verdict"]),
        "checks": evaluation["checks"],
        "metrics": {
            "at_0_5": metric_values(evaluation["metrics"]),
            "at_threshold": metric_values(evaluation["metrics_at_threshold"]),
        },
        "family": evaluation["family"],
        "params": evaluation["best_params"],
        "cv_auc": evaluation["cv_auc"],
        "threshold": evaluation["threshold"],
        "threshold_rule": evaluation["threshold_rule"],
        "campaign": campaign,
        "champion": {
            "run_id": decision["champion_run_id"],
            "auc": decision["champion_auc"],
            "decision": _headline(decision),
            "reason": decision["reason"],
        },
        "data": {
            "input_uri": results["validated"]["input_uri"],
            "rows": results["validated"]["rows"],
            "class_counts": results["validated"]["class_counts"],
            "numeric": data["numeric"],
            "categorical": data["categorical"],
            "dropped": data["dropped"],
        },
        "drift": cast(DriftReport, {**drift_doc, "summary": drift["summary"]}) if drift_doc else None,
        "artifacts": artifacts,
        "links_expire_at": min((str(a["expires_at"]) for a in artifacts.values() if a["expires_at"]), default=None),
        "approval": decision.get("approval"),
        "quality": storage.read_json(run.s3, quality_uri) if (quality_uri := validated.get("quality_uri")) else None,
        "overlap_rows": data.get("overlap_rows"),
        "suspicions": evaluation.get("suspicions", []),
        "leaked_columns": evaluation.get("leaked_columns", {}),
    }
    storage.write_bytes(run.s3, report_uri, render_html(context, images).encode(), "text/html; charset=utf-8")
    link = storage.presign(run.s3, report_uri, run.link_seconds)
    return {
        "report_uri": report_uri,
        "report_url": link["url"] if link else None,
        "report_url_expires_at": link["expires_at"] if link else None,
        "report_url_capped": bool(link and link["capped_by_credentials"]),
        "chart_uris": chart_uris,
    }


def _artifact_link(run: RunContext, uri: str) -> ArtifactLink:
    link = storage.presign(run.s3, uri, run.link_seconds)
    return {"uri": uri, "url": link["url"] if link else None, "expires_at": link["expires_at"] if link else None}


def _headline(decision: Decision) -> Literal["promoted", "kept_champion", "awaiting_approval"]:
    gate = decision.get("approval")
    if gate and gate["outcome"] == ApprovalOutcome.PENDING:
        return AWAITING_APPROVAL
    return PROMOTED if decision["promote"] else KEPT


def render_html(context: ReportContext, images: dict[str, bytes]) -> str:
    """The self-contained HTML report (no external CSS, JS or fonts; every chart embedded as a data: URI).

    ``images`` maps chart file names to PNG bytes (``charts.render``); they are shown in ``charts.CAPTIONS``
    order, any other image after them. A context key missing is an error (``KeyError`` or
    ``jinja2.UndefinedError``), not a blank in the page.
    """
    verdict = Verdict(context["verdict"])  # from XCom or JSON the verdict arrives as its plain string value
    view = {
        **context,
        "verdict": verdict,
        "verdict_passed": verdict is Verdict.PASS,
        "verdict_suspicious": verdict is Verdict.SUSPICIOUS,
        # Defaults for a context built before the data-quality checks (older tests and XCom).
        "quality": context.get("quality"),
        "overlap_rows": context.get("overlap_rows"),
        "suspicions": context.get("suspicions", []),
        "leaked_columns": context.get("leaked_columns", {}),
        "decision_headlines": DECISION_HEADLINES,
        "family_labels": families.LABELS,
        # Ordering and merging done here, so the template only lays out and formats.
        "metric_rows": _metric_rows(context["metrics"], context["checks"]),
        "class_balance": _class_balance(context["data"]["class_counts"]),
        "drift_rows": _drift_rows(context["drift"]),
        "figures": _figures(images),
        "approval_line": approvals.summary(context.get("approval")) if context.get("approval") else None,
        "threshold_source": ThresholdRule(context["threshold_rule"]).description,
        "break_even": _break_even(context["campaign"]),
        "chart_size": CHART_SIZE,
    }
    return _environment().get_template(TEMPLATE).render(view)


@functools.cache
def _environment() -> jinja2.Environment:
    """The report's Jinja2 environment, built once per process."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every value is HTML-escaped: run ids, column names and reasons come from outside
        undefined=jinja2.StrictUndefined,  # a misspelt or missing key fails the task instead of a blank cell
        finalize=_none_as_na,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(f4=_f4, g4=_g4, pct=_pct, thousands=_thousands, money=_money, param=_param)
    env.tests["web_url"] = _is_web_url
    return env


# --- filters and tests of the template ------------------------------------------------------------------------


def _none_as_na(value: Any) -> Any:
    """Every ``{{ value }}`` that is None shows as n/a (a missing champion AUC, a column without a kind)."""
    return "n/a" if value is None else value


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _f4(value: Any) -> str:
    """A metric with 4 decimals (0.8526 < 0.853 must show), or n/a when missing or NaN."""
    return f"{value:.4f}" if _is_number(value) else "n/a"


def _g4(value: Any) -> str:
    """A threshold with up to 4 significant digits (0.37, not 0.3700), or n/a."""
    return f"{value:.4g}" if _is_number(value) else "n/a"


def _pct(value: Any, missing: str = "n/a") -> str:
    """A share as a percentage with one decimal (0.117 -> 11.7%), or ``missing``."""
    return f"{value:.1%}" if _is_number(value) else missing


def _thousands(value: Any) -> Any:
    """A count with thousands separators (45,211); anything else as it is."""
    return f"{value:,}" if _is_number(value) else value


def _money(value: Any) -> str:
    """An amount in whole units with thousands separators (-1,234), or n/a."""
    return f"{value:,.0f}" if _is_number(value) else "n/a"


def _param(value: Any) -> str:
    """A hyperparameter value as JSON (None -> null, lists in brackets); text as it is."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _is_web_url(value: Any) -> bool:
    """Only http(s) URLs become links: a javascript: or data: URL in the context must not be clickable."""
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


# --- what the template shows, put in order --------------------------------------------------------------------


def _metric_rows(metrics: MetricColumns, checks: dict[str, Check]) -> list[dict[str, Any]]:
    """One row per metric, in ``config.METRICS`` order (then any other checked metric): the two value columns
    and, when evaluation checked it, its baseline and whether it passed (None: no baseline)."""
    at_0_5, at_threshold = metrics["at_0_5"], metrics["at_threshold"]
    names = [n for n in config.METRICS if n in at_0_5 or n in at_threshold or n in checks]
    names += [n for n in checks if n not in names]
    rows = []
    for name in names:
        check = checks.get(name)
        rows.append(
            {
                "name": name,
                "at_0_5": at_0_5.get(name),
                "at_threshold": at_threshold.get(name),
                "baseline": check["baseline"] if check else None,
                "passed": check["passed"] if check else None,
            }
        )
    return rows


def _class_balance(counts: dict[str, int]) -> dict[str, Any] | None:
    """Negatives, positives and the positive share, or None when the counts do not add up to any rows."""
    neg, pos = counts.get("0"), counts.get("1")
    if not (_is_number(neg) and _is_number(pos) and neg + pos > 0):
        return None
    return {"no": neg, "yes": pos, "share": pos / (neg + pos)}


def _drift_rows(drift: DriftReport | None) -> list[dict[str, Any]]:
    """The drift table: largest PSI first, columns without a PSI last, ties by name.

    A drifted column missing from ``columns`` still gets its row, so the table never hides a drift.
    """
    if drift is None:
        return []
    drifted = {d["column"]: d["psi"] for d in drift["drifted"]}
    rows = [
        {
            "name": name,
            "kind": info.get("kind"),
            "psi": info.get("psi"),
            "unseen_share": info.get("unseen_share"),
            "drifted": name in drifted,
        }
        for name, info in drift["columns"].items()
    ]
    rows += [
        {"name": name, "kind": None, "psi": psi, "unseen_share": None, "drifted": True}
        for name, psi in drifted.items()
        if name not in drift["columns"]
    ]
    return sorted(rows, key=_by_psi)


def _by_psi(row: dict[str, Any]) -> tuple[int, float, str]:
    psi = row["psi"]
    return (0, -psi, str(row["name"])) if _is_number(psi) else (1, 0.0, str(row["name"]))


def _break_even(campaign: CampaignSummary) -> float:
    """The probability above which a call pays for itself: cost / value."""
    money = campaign["economics"]
    return money["cost_per_call"] / money["value_per_subscription"]


def _figures(images: dict[str, bytes]) -> list[dict[str, str]]:
    """Each image as a data: URI with its caption, in ``CAPTIONS`` order, unknown images last."""
    names = [n for n in CAPTIONS if n in images] + [n for n in images if n not in CAPTIONS]
    figures = []
    for name in names:
        mime = mimetypes.guess_type(name)[0] or "image/png"
        data = base64.b64encode(images[name]).decode("ascii")
        figures.append({"src": f"data:{mime};base64,{data}", "caption": CAPTIONS.get(name, name)})
    return figures
