"""Report: the run's charts (PNG) and a self-contained HTML page for senior management.

matplotlib, numpy and scikit-learn are imported inside ``charts`` only, so importing this module stays cheap;
``html`` needs nothing beyond the standard library.
"""

from __future__ import annotations

import base64
import io
import json
import math
import mimetypes
from html import escape
from typing import Any

from include.bank_marketing import config

CHART_SIZE = (800, 600)  # pixels of every PNG (width, height)
_DPI = 100
_FIGSIZE = (CHART_SIZE[0] / _DPI, CHART_SIZE[1] / _DPI)

PASS = "PASS"
BELOW_BASELINE = "BELOW BASELINE"

# Charts in the order the page shows them, each with its caption.
CAPTIONS: dict[str, str] = {
    "roc.png": (
        "ROC curve on the held-out test rows: the further it bows towards the top left, the better the model "
        "ranks subscribers above non-subscribers. The dashed diagonal is a coin toss."
    ),
    "precision_recall.png": (
        "Precision against recall: of the clients the model flags, how many subscribe (precision), and how many "
        "of all subscribers it finds (recall). The marker is the chosen decision threshold."
    ),
    "confusion_matrix.png": (
        "Test rows by actual and predicted answer at the chosen threshold: the diagonal holds the correct calls."
    ),
    "cv_auc.png": (
        "Every model family and parameter set tried by the grid search, by mean cross-validated AUC; "
        "the winner is marked."
    ),
}

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; color: #1a1a1a;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2rem; }
.meta { color: #555; margin-top: 0; }
.verdict { padding: 0.1rem 0.5rem; border-radius: 0.3rem; border: 2px solid; }
.pass { color: #0a6b2d; border-color: #0a6b2d; }
.below { color: #a4161a; border-color: #a4161a; }
table { border-collapse: collapse; margin: 0.5rem 0; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ok { color: #0a6b2d; }
td.bad, tr.drifted td { color: #a4161a; font-weight: bold; }
tr.drifted td { background: #fdecea; }
code { font-size: 0.9em; word-break: break-all; }
figure { margin: 1.5rem 0; break-inside: avoid; page-break-inside: avoid; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { color: #444; font-size: 0.9rem; }
@media print { body { margin: 0; max-width: none; } h2 { break-after: avoid; page-break-after: avoid; } }
"""


# --- charts -----------------------------------------------------------------------------------------------


def charts(y_true: Any, proba: Any, threshold: float, grid_results: list[dict]) -> dict[str, bytes]:
    """PNG bytes by file name: "roc.png" (ROC curve with AUC in the legend, diagonal for chance),
    "precision_recall.png" (PR curve with average precision, a marker at the chosen threshold),
    "confusion_matrix.png" (counts at `threshold`, labels no/yes, counts written in the cells),
    "cv_auc.png" (horizontal bars: the grid search's mean CV AUC of every family and parameter set, one colour
    per family, the best one marked). `grid_results` items: {"family": str, "params": dict, "cv_auc": float}.

    Every PNG is exactly ``CHART_SIZE`` pixels, and the same inputs give the same bytes. Test rows of a single
    class get a note in place of the ROC and PR curves (both are undefined then); no rows at all is an error.
    """
    import matplotlib.style
    import numpy as np

    y = np.asarray(y_true).astype(int).ravel()
    p = np.asarray(proba, dtype=float).ravel()
    if len(y) == 0 or len(y) != len(p):
        raise ValueError(f"charts need as many probabilities as labels, at least one: got {len(y)} and {len(p)}")
    # matplotlib's own defaults, whatever matplotlibrc the worker has: a savefig.bbox of "tight" or another
    # savefig.dpi there would change the PNG's size.
    with matplotlib.style.context("default"):
        return {
            "roc.png": _roc_png(y, p, threshold),
            "precision_recall.png": _precision_recall_png(y, p, threshold),
            "confusion_matrix.png": _confusion_png(y, p, threshold),
            "cv_auc.png": _cv_auc_png(grid_results),
        }


def _figure() -> tuple[Any, Any]:
    """A CHART_SIZE figure and its axes.

    A bare ``Figure`` rather than ``pyplot.figure``: pyplot keeps every figure it creates in a global registry
    until closed, and selects a GUI backend; a ``Figure`` is freed with its last reference and renders its PNG
    with Agg whatever the backend, so a long-lived worker neither leaks figures nor needs a display.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=_FIGSIZE, dpi=_DPI, layout="constrained")
    return fig, fig.add_subplot()


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes, without the matplotlib version in the metadata (same inputs, same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _note(ax: Any, text: str) -> None:
    """Write ``text`` in the middle of an otherwise empty chart."""
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=14, color="#555", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _one_class(y: Any) -> bool:
    return len(set(y.tolist())) < 2


def _counts(y: Any, p: Any, threshold: float) -> Any:
    """2x2 confusion matrix (rows actual no/yes, columns predicted no/yes) at ``threshold``."""
    from sklearn.metrics import confusion_matrix

    return confusion_matrix(y, (p >= threshold).astype(int), labels=[0, 1])


def _roc_png(y: Any, p: Any, threshold: float) -> bytes:
    from sklearn.metrics import roc_auc_score, roc_curve

    fig, ax = _figure()
    ax.set_title("ROC curve (test rows)")
    if _one_class(y):
        _note(ax, "ROC undefined: the test rows hold one class only")
        return _png(fig)
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, lw=2, color="C0", label=f"model (AUC = {roc_auc_score(y, p):.4f})")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="chance (AUC = 0.5)")
    (tn, fp), (fn, tp) = _counts(y, p, threshold)
    ax.plot(fp / (fp + tn), tp / (tp + fn), "o", ms=9, color="C3", label=f"threshold {threshold:.4g}")
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="False positive rate", ylabel="True positive rate (recall)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)


def _precision_recall_png(y: Any, p: Any, threshold: float) -> bytes:
    from sklearn.metrics import average_precision_score, precision_recall_curve

    fig, ax = _figure()
    ax.set_title("Precision and recall (test rows)")
    if _one_class(y):
        _note(ax, "Precision-recall undefined: the test rows hold one class only")
        return _png(fig)
    precision, recall, _ = precision_recall_curve(y, p)
    ap = average_precision_score(y, p)
    ax.plot(recall, precision, lw=2, color="C0", drawstyle="steps-post", label=f"model (AP = {ap:.4f})")
    share = float(y.mean())
    ax.axhline(share, ls="--", color="grey", label=f"chance (positive share {share:.1%})")
    (_, fp), (fn, tp) = _counts(y, p, threshold)
    # Nothing flagged: precision is 0/0, drawn as 1 like the curve's own end point.
    prec_t = tp / (tp + fp) if tp + fp else 1.0
    rec_t = tp / (tp + fn)
    label = f"threshold {threshold:.4g}: precision {prec_t:.3f}, recall {rec_t:.3f}"
    ax.plot(rec_t, prec_t, "o", ms=9, color="C3", label=label, zorder=3)
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Recall", ylabel="Precision")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")  # high precision at low recall: that corner is the one the curve leaves free
    return _png(fig)


def _confusion_png(y: Any, p: Any, threshold: float) -> bytes:
    counts = _counts(y, p, threshold)
    total = int(counts.sum())
    fig, ax = _figure()
    ax.imshow(counts, cmap="Blues", vmin=0)
    for (row, col), n in _cells(counts):
        # White on the dark cells, black on the light ones, so every count stays legible.
        colour = "white" if n > counts.max() / 2 else "black"
        ax.text(col, row, f"{n:,}\n{n / total:.1%}", ha="center", va="center", fontsize=18, color=colour)
    ax.set_xticks([0, 1], labels=["no", "yes"])
    ax.set_yticks([0, 1], labels=["no", "yes"])
    ax.set(xlabel="Predicted", ylabel="Actual")
    ax.set_title(f"Confusion matrix at threshold {threshold:.4g} ({total:,} test rows)")
    return _png(fig)


def _cells(counts: Any) -> list[tuple[tuple[int, int], int]]:
    return [((r, c), int(counts[r, c])) for r in range(2) for c in range(2)]


def _cv_auc_png(grid_results: list[dict]) -> bytes:
    from matplotlib.patches import Patch

    fig, ax = _figure()
    ax.set_title("Grid search: mean cross-validated AUC")
    scored = [r for r in grid_results or [] if _is_number(r.get("cv_auc"))]
    unscored = len(grid_results or []) - len(scored)
    if not scored:
        _note(ax, "No grid search results")
        return _png(fig)
    order = list(config.FAMILIES)
    # Same tie-break as evaluation.select_best: the family listed first in config.FAMILIES wins a tie.
    families = sorted({r["family"] for r in scored}, key=lambda f: (order.index(f) if f in order else len(order), f))
    colours = {f: f"C{i % 10}" for i, f in enumerate(families)}
    best = max(scored, key=lambda r: (r["cv_auc"], -families.index(r["family"])))
    # Highest on top (barh draws the first item at the bottom); sorted() is stable, so ties keep their order.
    bars = sorted(scored, key=lambda r: r["cv_auc"])
    values = [float(r["cv_auc"]) for r in bars]
    ax.barh(
        range(len(bars)),
        values,
        color=[colours[r["family"]] for r in bars],
        edgecolor=["black" if r is best else "none" for r in bars],
        linewidth=2,
    )
    ax.set_yticks(range(len(bars)), labels=[_params_label(r.get("params")) for r in bars])
    fontsize = 10 if len(bars) <= 12 else max(5, 120 // len(bars))
    ax.tick_params(axis="y", labelsize=fontsize)
    # AUCs of the candidates usually differ in the second decimal: bars from 0 would all look the same.
    lo, hi = min(values), max(values)
    span = max(hi - lo, 0.01)
    left = max(0.0, lo - 0.5 * span)
    ax.set_xlim(left, hi + 0.35 * span)  # room on the right for the values written after the bars
    for i, (r, v) in enumerate(zip(bars, values, strict=True)):
        text = f"{v:.4f}  best" if r is best else f"{v:.4f}"
        ax.text(v, i, " " + text, va="center", fontsize=fontsize, fontweight="bold" if r is best else "normal")
    ax.set_xlabel("Mean CV AUC" + (f" ({unscored} parameter set(s) without a score not shown)" if unscored else ""))
    ax.grid(axis="x", alpha=0.3)
    # Below the axes, not inside them: nearly equal scores leave no free corner among the bars.
    handles = [Patch(color=colours[f], label=f) for f in families]
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(families), 4), fontsize=9, frameon=False)
    return _png(fig)


def _params_label(params: Any) -> str:
    if not params:
        return "(defaults)"
    if isinstance(params, dict):
        return ", ".join(f"{k}={v}" for k, v in params.items())
    return str(params)


# --- HTML -------------------------------------------------------------------------------------------------


def html(context: dict, images: dict[str, bytes]) -> str:
    """A self-contained HTML report (no external CSS/JS/fonts; every chart embedded as a data: URI).

    ``context`` holds plain JSON values (run, model, metrics, baselines, champion, data, drift, artifacts);
    missing or None optional parts are rendered as such. The verdict is computed here from the metrics at the
    chosen threshold and the baselines. Every value from ``context`` is HTML-escaped.
    """
    rows, verdict = _checks(context)
    verdict_class = "pass" if verdict == PASS else "below"
    title = f"Bank marketing model: {verdict}"
    run_id = context.get("run_id")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)} ({_e(run_id)})</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f'<h1>Bank marketing model: <span class="verdict {verdict_class}">{_e(verdict)}</span></h1>',
        f'<p class="meta">Run <code>{_e(run_id)}</code> of DAG <code>{_e(context.get("dag_id"))}</code>, '
        f"created {_e(context.get('created_at'))}.</p>",
        _verdict_sentence(verdict, context.get("threshold")),
        _decision_section(context.get("champion")),
        _metrics_section(rows, context.get("threshold")),
        _model_section(context),
        _data_section(context.get("data")),
        _drift_section(context.get("drift")),
        _charts_section(images),
        _artifacts_section(context.get("artifacts")),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _e(value: Any) -> str:
    """Escaped text of any value; None shows as n/a."""
    return "n/a" if value is None else escape(str(value), quote=True)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


def _f4(value: Any) -> str:
    """A metric with 4 decimals (0.8526 < 0.853 must show), or n/a."""
    return f"{value:.4f}" if _is_number(value) else "n/a"


def _threshold(value: Any) -> str:
    return f"{value:.4g}" if _is_number(value) else "n/a"


def _checks(context: dict) -> tuple[list[dict[str, Any]], str]:
    """One row per metric (values at 0.5 and at the threshold, baseline, passed) and the verdict.

    PASS only if every metric with a baseline reaches it at threshold 0.5, where the baselines were measured
    (the pipeline's own verdict, in metrics.json and the SNS message, is taken the same way); a metric that is
    missing (or NaN) cannot show that it does, so it counts as below.
    """
    metrics = context.get("metrics") or {}
    at_half = metrics.get("at_0_5") or {}
    at_t = metrics.get("at_threshold") or {}
    baselines = context.get("baselines") or {}
    names = [n for n in config.METRICS if n in at_half or n in baselines]
    names += [n for n in at_half if n not in names and n in baselines]  # metrics this version does not list yet
    rows = []
    for name in names:
        baseline = baselines.get(name)
        passed = None if not _is_number(baseline) else _is_number(at_half.get(name)) and at_half[name] >= baseline
        rows.append(
            {
                "name": name,
                "at_half": at_half.get(name),
                "value": at_t.get(name),
                "baseline": baseline,
                "passed": passed,
            }
        )
    checked = [r for r in rows if r["passed"] is not None]
    verdict = PASS if checked and all(r["passed"] for r in checked) else BELOW_BASELINE
    return rows, verdict


def _verdict_sentence(verdict: str, threshold: Any) -> str:
    if verdict == PASS:
        text = "Every test metric at threshold 0.5, where the baselines were measured, reaches its baseline."
    else:
        text = "At least one test metric at threshold 0.5 is below its baseline (see the table)."
    return f"<p>{_e(text)} Decision threshold: <strong>{_threshold(threshold)}</strong>.</p>"


def _decision_section(champion: Any) -> str:
    out = ["<h2>Promotion decision</h2>"]
    if not champion:
        out.append("<p>No champion comparison was made for this run: no promotion decision recorded.</p>")
        return "\n".join(out)
    decision = champion.get("decision")
    headline = {"promoted": "Promoted to champion", "kept_champion": "Not promoted: the champion is kept"}
    out.append(f"<p><strong>{_e(headline.get(decision, decision))}</strong>: {_e(champion.get('reason'))}</p>")
    if champion.get("run_id") is None:
        out.append("<p>There was no champion before this run.</p>")
    else:
        out.append(
            f"<p>Champion compared with: run <code>{_e(champion.get('run_id'))}</code>, "
            f"test AUC on the same rows {_f4(champion.get('auc'))}.</p>"
        )
    return "\n".join(out)


def _metrics_section(rows: list[dict[str, Any]], threshold: Any) -> str:
    t = _threshold(threshold)
    out = [
        "<h2>Test metrics</h2>",
        "<table>",
        f"<tr><th>metric</th><th>at 0.5</th><th>at threshold {t}</th><th>baseline</th><th>result</th></tr>",
    ]
    for r in rows:
        if r["passed"] is None:
            result = '<td class="num">no baseline</td>'
        else:
            result = '<td class="ok">ok</td>' if r["passed"] else '<td class="bad">BELOW</td>'
        out.append(
            f'<tr><td>{_e(r["name"])}</td><td class="num">{_f4(r["at_half"])}</td>'
            f'<td class="num">{_f4(r["value"])}</td><td class="num">{_f4(r["baseline"])}</td>{result}</tr>'
        )
    out.append("</table>")
    out.append(
        "<p>The baselines are what the original lab's recipe reaches on the same kind of split at threshold "
        "0.5; the verdict compares the 0.5 column with them. The chosen threshold (maximum F1 on training "
        "folds) is the operating point: new.csv and the scoring DAG label at it.</p>"
    )
    return "\n".join(out)


def _model_section(context: dict) -> str:
    family = context.get("family")
    out = [
        "<h2>Winning model</h2>",
        f"<p>Family: <strong>{_e(family)}</strong>"
        + (f" ({_e(config.FAMILIES[family])})" if isinstance(family, str) and family in config.FAMILIES else "")
        + f". Mean cross-validated AUC: {_f4(context.get('cv_auc'))}.</p>",
    ]
    params = context.get("params")
    if isinstance(params, dict) and params:
        out.append("<table><tr><th>parameter</th><th>value</th></tr>")
        out += [f"<tr><td>{_e(k)}</td><td>{_e(_json(v))}</td></tr>" for k, v in params.items()]
        out.append("</table>")
    else:
        out.append(f"<p>Parameters: {_e(_json(params) if params else 'the estimator defaults')}</p>")
    return "\n".join(out)


def _json(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _data_section(data: Any) -> str:
    out = ["<h2>Data</h2>"]
    if not data:
        out.append("<p>No data summary recorded.</p>")
        return "\n".join(out)
    counts = data.get("class_counts") or {}
    # JSON turns the int class labels into strings; accept either.
    neg, pos = counts.get("0", counts.get(0)), counts.get("1", counts.get(1))
    if _is_number(neg) and _is_number(pos) and neg + pos > 0:
        balance = f"no {neg:,}, yes {pos:,} ({pos / (neg + pos):.1%} positive)"
    else:
        balance = "n/a"
    rows = data.get("rows")
    items = [
        ("Input", f"<code>{_e(data.get('input_uri'))}</code>"),
        ("Rows", _e(f"{rows:,}" if _is_number(rows) else rows)),
        ("Class balance", _e(balance)),
        ("Numeric columns", _column_list(data.get("numeric"))),
        ("Categorical columns", _column_list(data.get("categorical"))),
        ("Dropped columns", _column_list(data.get("dropped"))),
    ]
    out.append("<table>")
    out += [f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in items]
    out.append("</table>")
    return "\n".join(out)


def _column_list(columns: Any) -> str:
    if not columns:
        return "none"
    return f"{len(columns)}: " + ", ".join(f"<code>{_e(c)}</code>" for c in columns)


def _drift_section(drift: Any) -> str:
    out = ["<h2>Data drift against the champion's training data</h2>"]
    if not drift:
        out.append("<p>No drift check: no champion to compare with.</p>")
        return "\n".join(out)
    drifted = {d.get("column"): d.get("psi") for d in drift.get("drifted") or []}
    columns = dict(drift.get("columns") or {})
    out.append(f"<p>{_e(drift.get('summary'))}</p>")
    if not columns and not drifted:  # e.g. a champion trained before profiles were stored: nothing compared
        return "\n".join(out)
    # drift.compare flags PSI strictly above the threshold.
    out.append(
        f"<p>Population stability index (PSI) per column; a column has drifted when its PSI is above "
        f"{_threshold(drift.get('threshold'))}. Largest PSI: {_f4(drift.get('max_psi'))}. "
        + (
            "Drifted: " + ", ".join(f"<strong>{_e(c)}</strong>" for c in drifted) + ".</p>"
            if drifted
            else "No column drifted.</p>"
        )
    )
    missing = drift.get("missing_columns")
    if missing:  # drift.compare lists the champion's columns absent from this file: they could not be checked
        out.append(
            "<p>Missing from the file, not checked: " + ", ".join(f"<code>{_e(c)}</code>" for c in missing) + ".</p>"
        )
    for name, psi in drifted.items():  # a drifted column missing from the table still gets its row
        columns.setdefault(name, {"psi": psi})
    if columns:
        ordered = sorted(columns.items(), key=_by_psi)
        out.append("<table>")
        out.append("<tr><th>column</th><th>kind</th><th>PSI</th><th>unseen categories</th><th>status</th></tr>")
        for name, info in ordered:
            info = info or {}
            unseen = info.get("unseen_share")
            is_drifted = name in drifted
            row_class = ' class="drifted"' if is_drifted else ""
            out.append(
                f"<tr{row_class}><td>{_e(name)}</td><td>{_e(info.get('kind'))}</td>"
                f'<td class="num">{_f4(info.get("psi"))}</td>'
                f'<td class="num">{f"{unseen:.1%}" if _is_number(unseen) else ""}</td>'
                f"<td>{'DRIFT' if is_drifted else 'ok'}</td></tr>"
            )
        out.append("</table>")
    return "\n".join(out)


def _by_psi(item: tuple[Any, Any]) -> tuple[int, float, str]:
    """Sort key of a drift table row: largest PSI first, columns without a PSI last, ties by name."""
    name, info = item
    psi = (info or {}).get("psi")
    return (0, -psi, str(name)) if _is_number(psi) else (1, 0.0, str(name))


def _charts_section(images: dict[str, bytes]) -> str:
    out = ["<h2>Charts</h2>"]
    if not images:
        out.append("<p>No charts.</p>")
        return "\n".join(out)
    names = [n for n in CAPTIONS if n in images] + [n for n in images if n not in CAPTIONS]
    for name in names:
        mime = mimetypes.guess_type(name)[0] or "image/png"
        data = base64.b64encode(images[name]).decode("ascii")
        caption = CAPTIONS.get(name, name)
        out.append(
            f'<figure><img src="data:{_e(mime)};base64,{data}" alt="{_e(caption)}" '
            f'width="{CHART_SIZE[0]}" height="{CHART_SIZE[1]}"><figcaption>{_e(caption)}</figcaption></figure>'
        )
    return "\n".join(out)


def _artifacts_section(artifacts: Any) -> str:
    out = ["<h2>Artifacts</h2>"]
    if not artifacts:
        out.append("<p>No artifacts recorded.</p>")
        return "\n".join(out)
    out.append("<table><tr><th>artifact</th><th>location</th></tr>")
    for name, info in artifacts.items():
        info = info if isinstance(info, dict) else {"uri": info}
        uri, url = info.get("uri"), info.get("url")
        # Only web links become links: a javascript: or data: URL in the context must not be clickable.
        if isinstance(url, str) and url.lower().startswith(("https://", "http://")):
            location = f'<a href="{_e(url)}">{_e(uri or url)}</a>'
        else:
            location = f"<code>{_e(uri)}</code>"
        out.append(f"<tr><td>{_e(name)}</td><td>{location}</td></tr>")
    out.append("</table>")
    return "\n".join(out)
