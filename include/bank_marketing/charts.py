"""The run's charts: four PNGs of the winning model on the test rows and of the grid search (``render``), and
five for the campaign manager drawn from ``campaign.json`` (``render_campaign``).

matplotlib, numpy and scikit-learn are imported inside the functions only, so importing this module stays cheap
(the HTML report imports it for ``CAPTIONS`` and ``CHART_SIZE`` without drawing anything).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

from include.bank_marketing import config
from include.bank_marketing import families as model_families
from include.bank_marketing.contracts import CampaignCurves, ColumnImportance, RankingCurve, ThresholdRule

CHART_SIZE = (800, 600)  # pixels of every PNG (width, height)
_DPI = 100
_FIGSIZE = (CHART_SIZE[0] / _DPI, CHART_SIZE[1] / _DPI)

# Chart file name -> caption, in the order the report shows them.
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
    "gains.png": (
        "Cumulative gains: calling the customers the model ranks highest first, the share of all subscribers "
        "reached for each share of customers called. The dashed diagonal is calling at random."
    ),
    "lift.png": (
        "Lift: how many times more subscribers a call reaches than a call at random, for each share of "
        "customers called, best-ranked first. Above 1, the ranking beats calling at random."
    ),
    "profit.png": (
        "Expected profit on the test rows of calling every customer whose predicted probability is at or "
        "above each threshold: each subscription's value minus the cost of every call. The vertical lines are "
        "the two threshold rules; the bold one labels new customers."
    ),
    "calibration.png": (
        "Calibration: the share of customers who actually subscribed against the model's predicted probability, "
        "by bin. On the dashed diagonal a predicted 30 % means 30 % subscribe; bigger markers hold more rows."
    ),
    "importance.png": (
        "The input columns the model leans on most: how much its ranking quality (ROC AUC) drops when a "
        "column's values are shuffled. Whiskers show the spread over the repeated shuffles."
    ),
}


def render(y_true: Any, proba: Any, threshold: float, grid_results: list[dict]) -> dict[str, bytes]:
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


def render_campaign(curves: CampaignCurves, top: int = config.IMPORTANCE_TOP) -> dict[str, bytes]:
    """PNG bytes by file name, from ``campaign.json``'s numbers (all on the test rows):
    "gains.png" (cumulative gains of every ranking, the model's marked at ``config.GAINS_SHARES``),
    "lift.png" (the same as lift over calling at random), "profit.png" (expected profit against the threshold,
    a vertical line per threshold rule, the operating point's in bold), "calibration.png" (observed subscription
    rate against mean predicted probability per bin) and "importance.png" (the ``top`` columns' permutation
    importance with the spread of the repeats as error bars).

    Every PNG is exactly ``CHART_SIZE`` pixels, and the same inputs give the same bytes. Whatever cannot be
    drawn (no rankings, no subscribers among the test rows, empty curves) gets a note in its place; it never
    raises.
    """
    import matplotlib.style

    # The same defaults as render(): the PNG's size must not depend on the worker's matplotlibrc.
    with matplotlib.style.context("default"):
        return {
            "gains.png": _gains_png(curves),
            "lift.png": _lift_png(curves),
            "profit.png": _profit_png(curves),
            "calibration.png": _calibration_png(curves),
            "importance.png": _importance_png(curves, top),
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


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
    # Same tie-break as evaluation.select_best: the family listed first in families.SPECS wins a tie.
    families = sorted({r["family"] for r in scored}, key=lambda f: (model_families.rank(f), f))
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


# --- the campaign charts --------------------------------------------------------------------------------------


def _rankings(curves: CampaignCurves) -> list[tuple[int, str, Any, Any]]:
    """(position, label, share called, share reached) of every ranking with points, as arrays sorted by share
    called. Position 0 is the model's ranking."""
    out = []
    for i, ranking in enumerate(curves.get("rankings") or []):
        x, y = _sorted_xy(ranking.get("share_called") or [], ranking.get("share_reached") or [])
        if len(x):
            out.append((i, _ranking_label(ranking, i), x, y))
    return out


def _ranking_label(ranking: RankingCurve, index: int) -> str:
    # The first ranking is the model's whatever its label says; a compared one is named by its family.
    return "model" if index == 0 else str(ranking.get("label") or f"ranking {index + 1}")


def _sorted_xy(xs: Any, ys: Any) -> tuple[Any, Any]:
    """Finite (x, y) pairs sorted by x (np.interp needs increasing x); unequal lengths keep the common prefix."""
    import numpy as np

    n = min(len(xs), len(ys))
    x = np.asarray(xs[:n], dtype=float)
    y = np.asarray(ys[:n], dtype=float)
    keep = np.isfinite(x) & np.isfinite(y)
    order = np.argsort(x[keep], kind="stable")
    return x[keep][order], y[keep][order]


def _no_ranking_note(curves: CampaignCurves) -> str | None:
    """Why the gains and lift charts cannot be drawn, or None when they can."""
    if not curves.get("positives"):
        return "No subscribers among the test rows:\nthere is no one to reach"
    if not _rankings(curves):
        return "No ranking of the test rows to show"
    return None


def _percent_axis(axis: Any) -> None:
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))


def _reached(called: Any, reached: Any) -> Any:
    """The gains chart's value: the share of subscribers reached."""
    return reached


def _lift(called: Any, reached: Any) -> Any:
    """The lift chart's value: the share reached over the share called."""
    return reached / called


def _plot_rankings(ax: Any, rankings: list[tuple[int, str, Any, Any]], value: Callable[[Any, Any], Any]) -> None:
    """One line per ranking of ``value(share called, share reached)``, the model's (position 0) bold and on top."""
    for i, label, x, y in rankings:
        ax.plot(x, value(x, y), lw=2.5 if i == 0 else 1.5, color=f"C{i}", label=label, zorder=3 if i == 0 else 2)


def _mark_model_shares(
    ax: Any,
    rankings: list[tuple[int, str, Any, Any]],
    value: Callable[[Any, Any], Any],
    text: Callable[[float, float], str],
    offset: tuple[int, int],
) -> None:
    """The model's ``value`` at each of ``config.GAINS_SHARES``, marked and labelled ``text(share, value)``.
    The marks belong to the model's curve only: a compared family's curve alone gets none."""
    import numpy as np

    if rankings[0][0] != 0:
        return
    _, _, x, y = rankings[0]
    for share in config.GAINS_SHARES:
        v = float(value(share, float(np.interp(share, x, y))))
        ax.plot(share, v, "o", ms=7, color="C3", zorder=4)
        ax.annotate(text(share, v), (share, v), xytext=offset, textcoords="offset points", fontsize=10, color="C3")


def _gains_png(curves: CampaignCurves) -> bytes:

    fig, ax = _figure()
    ax.set_title("Cumulative gains: subscribers reached by calling the best-ranked customers first")
    note = _no_ranking_note(curves)
    if note:
        _note(ax, note)
        return _png(fig)
    rankings = _rankings(curves)
    _plot_rankings(ax, rankings, _reached)
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="random")
    # Below and to the right of each point: the curve is concave, so that side stays clear of it.
    _mark_model_shares(ax, rankings, _reached, lambda share, v: f"top {share * 100:.0f} %: {v * 100:.0f} %", (8, -14))
    ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="Customers called (best-ranked first)", ylabel="Subscribers reached")
    _percent_axis(ax.xaxis)
    _percent_axis(ax.yaxis)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _png(fig)


def _lift_png(curves: CampaignCurves) -> bytes:

    fig, ax = _figure()
    ax.set_title("Lift: subscribers per call against calling at random")
    note = _no_ranking_note(curves)
    if note:
        _note(ax, note)
        return _png(fig)
    # Nobody called yet (share called 0): the lift is 0/0, left out.
    rankings = [(i, label, x[x > 0], y[x > 0]) for i, label, x, y in _rankings(curves) if (x > 0).any()]
    if not rankings:
        _note(ax, "No ranking calls anyone: lift is undefined")
        return _png(fig)
    _plot_rankings(ax, rankings, _lift)
    ax.axhline(1, ls="--", color="grey", label="random")
    _mark_model_shares(ax, rankings, _lift, lambda share, v: f"top {share * 100:.0f} %: {v:.1f}x", (8, 6))
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set(xlabel="Customers called (best-ranked first)", ylabel="Lift (times the random rate)")
    _percent_axis(ax.xaxis)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return _png(fig)


def _amount(value: float) -> str:
    """A money figure with thousands separators, without decimals when it is whole."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _profit_png(curves: CampaignCurves) -> bytes:
    import numpy as np
    from matplotlib.ticker import StrMethodFormatter

    economics = curves.get("economics") or {}
    cost, value = economics.get("cost_per_call"), economics.get("value_per_subscription")
    title = "Expected profit on the test rows"
    if _is_number(cost) and _is_number(value):
        title += f" (call costs {_amount(cost)}, subscription worth {_amount(value)})"
    fig, ax = _figure()
    ax.set_title(title)
    profit = curves.get("profit") or {}
    t, p = _sorted_xy(profit.get("threshold") or [], profit.get("profit") or [])
    if not len(t):
        _note(ax, "No profit curve to show")
        return _png(fig)
    ax.plot(t, p, lw=2, color="C0", label="expected profit")
    ax.axhline(0, color="black", lw=0.8)
    operating = str(curves.get("threshold_rule") or "")
    rules = {rule: float(v) for rule, v in (curves.get("thresholds") or {}).items() if _is_number(v)}
    # The operating point's rule last, so its line is drawn over the other's where they coincide.
    for rule in sorted(rules, key=lambda r: (r == operating, r)):
        threshold = rules[rule]
        # The curve's thresholds are a grid: between two of its points the profit is interpolated.
        at = float(np.interp(threshold, t, p))
        main = rule == operating
        name = _rule_name(rule) + (" (operating point)" if main else "")
        colour = "C3" if main else "C2"
        label = f"{name}: threshold {threshold:.3g}, profit {at:,.0f}"
        ax.axvline(threshold, color=colour, lw=2.5 if main else 1.2, ls="-" if main else "--", label=label)
        ax.plot(threshold, at, "o", ms=9 if main else 6, color=colour, zorder=4)
    # Past the first threshold at which nobody is called the curve is flat at 0: stop there, keeping every
    # rule's line in view.
    pairs = zip(profit.get("threshold") or [], profit.get("calls") or [], strict=False)
    idle = [float(th) for th, calls in pairs if calls == 0 and _is_number(th)]
    right = max([min(idle, default=float(t.max())), *rules.values()])
    ax.set_xlim(0, min(1.0, right + 0.05))
    ax.yaxis.set_major_formatter(StrMethodFormatter("{x:,.0f}"))
    ax.set(xlabel="Threshold: call every customer whose predicted probability is at least this", ylabel="Profit")
    ax.grid(alpha=0.3)
    # Below the axes: where the curve peaks depends on the economics, so no corner inside is sure to be free.
    fig.legend(loc="outside lower center", fontsize=9, frameon=False)
    return _png(fig)


def _rule_name(rule: str) -> str:
    names = {ThresholdRule.F1.value: "F1 rule", ThresholdRule.PROFIT.value: "profit rule"}
    return names.get(rule, f"{rule} rule")


def _calibration_png(curves: CampaignCurves) -> bytes:
    import numpy as np

    fig, ax = _figure()
    ax.set_title("Calibration: observed subscription rate against predicted probability (test rows)")
    calibration = curves.get("calibration") or {}
    predicted = calibration.get("mean_predicted") or []
    observed = calibration.get("observed") or []
    rows = calibration.get("rows") or [1] * len(predicted)
    n = min(len(predicted), len(observed), len(rows))
    x = np.asarray(predicted[:n], dtype=float)
    y = np.asarray(observed[:n], dtype=float)
    r = np.asarray(rows[:n], dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (r > 0)  # an empty bin has no observed rate
    if not keep.any():
        _note(ax, "No calibration bins to show")
        return _png(fig)
    x, y, r = x[keep], y[keep], r[keep]
    ax.plot([0, 1], [0, 1], ls="--", color="grey", label="perfectly calibrated")
    ax.plot(x, y, lw=1.5, color="C0", zorder=2)
    # Marker area by the bin's rows: a bin of a handful of customers is noisy and should look small.
    # Not clipped: the lowest bin often sits on the axis (hardly anyone subscribes there).
    sizes = 20 + 280 * r / r.max()
    ax.scatter(x, y, s=sizes, color="C0", edgecolor="white", zorder=3, clip_on=False, label="model (area: rows)")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Mean predicted probability", ylabel="Observed subscription rate")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _png(fig)


def _importance_png(curves: CampaignCurves, top: int) -> bytes:
    fig, ax = _figure()
    repeats = curves.get("importance_repeats")
    shuffles = f" ({repeats} shuffles per column)" if _is_number(repeats) else ""
    ax.set_title(f"Which columns matter: permutation importance{shuffles}")
    if not curves.get("positives"):
        _note(ax, "No subscribers among the test rows:\nthe ROC AUC, and so the importance, is undefined")
        return _png(fig)
    columns: list[ColumnImportance] = [c for c in curves.get("importance") or [] if _is_number(c.get("mean"))]
    if not columns or top < 1:
        _note(ax, "No column importance to show")
        return _png(fig)
    shown = columns[:top]
    bars = shown[::-1]  # the largest on top: barh draws the first item at the bottom
    errors = [float(c["std"]) if _is_number(c.get("std")) else 0.0 for c in bars]
    ax.barh(range(len(bars)), [float(c["mean"]) for c in bars], xerr=errors, color="C0", capsize=3)
    ax.set_yticks(range(len(bars)), labels=[str(c["column"]) for c in bars])
    fontsize = 10 if len(bars) <= 12 else max(5, 120 // len(bars))
    ax.tick_params(axis="y", labelsize=fontsize)
    ax.axvline(0, color="black", lw=0.8)  # a negative mean: shuffling the column did no harm (noise)
    more = f" (top {len(shown)} of {len(columns)} columns)" if len(shown) < len(columns) else ""
    ax.set_xlabel("Drop in test ROC AUC when the column is shuffled" + more)
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)
