"""The run's charts: four PNGs of the winning model on the test rows and of the grid search.

matplotlib, numpy and scikit-learn are imported inside the functions only, so importing this module stays cheap
(the HTML report imports it for ``CAPTIONS`` and ``CHART_SIZE`` without drawing anything).
"""

from __future__ import annotations

import io
import math
from typing import Any

from include.bank_marketing import families as model_families

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
