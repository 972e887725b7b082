"""report: the self-contained HTML page rendered from the Jinja2 template."""

from __future__ import annotations

import base64
import copy
import re
import subprocess
import sys
from html.parser import HTMLParser

import jinja2
import markupsafe
import pytest

from include.bank_marketing import charts, config, report
from include.bank_marketing.contracts import Verdict
from tests.conftest import ROOT
from tests.support.builders import campaign_summary

# Stand-ins for the PNGs: the page embeds whatever bytes it is given, so drawing real charts is not needed here.
IMAGES = {name: f"png bytes of {name}".encode() + bytes(range(256)) for name in charts.CAPTIONS}

AT_0_5 = {"auc": 0.9371, "f1": 0.5412, "precision": 0.6633, "recall": 0.4571, "accuracy": 0.9101}


def checks_of(values: dict[str, float]) -> dict:
    """The checks evaluation records for ``values`` at threshold 0.5 against ``config.BASELINES``."""
    return {n: {"value": values[n], "baseline": b, "passed": values[n] >= b} for n, b in config.BASELINES.items()}


def make_context(**changes) -> dict:
    """A report context as build_report assembles it, with top-level keys replaced by ``changes``."""
    context = {
        "run_id": "manual__2026-11-28T05:34:00+00:00",
        "dag_id": "bank_marketing",
        "created_at": "2026-11-28T05:41:12+00:00",
        "verdict": Verdict.PASS,
        "checks": checks_of(AT_0_5),
        "family": "hist_gradient_boosting",
        "params": {"learning_rate": 0.1, "max_leaf_nodes": 31},
        "cv_auc": 0.9312,
        "threshold": 0.37,
        "threshold_rule": "f1",
        "campaign": campaign_summary(),
        "metrics": {
            "at_0_5": dict(AT_0_5),
            "at_threshold": {"auc": 0.9371, "f1": 0.6012, "precision": 0.5623, "recall": 0.6458, "accuracy": 0.9007},
        },
        "champion": {
            "run_id": "scheduled__2026-11-27T05:00:00+00:00",
            "auc": 0.9302,
            "decision": "promoted",
            "reason": "challenger AUC 0.9371 beats champion 0.9302 by more than 0.002",
        },
        "data": {
            "input_uri": "s3://bank-ml/incoming/banking.csv",
            "rows": 45211,
            "class_counts": {"0": 39922, "1": 5289},
            "numeric": ["age", "balance", "campaign"],
            "categorical": ["job", "marital", "education"],
            "dropped": ["duration"],
        },
        "drift": {
            "threshold": 0.2,
            "max_psi": 0.4137,
            "drifted": [{"column": "balance", "psi": 0.4137}, {"column": "job", "psi": 0.2519}],
            "columns": {
                "age": {"kind": "numeric", "psi": 0.0123},
                "balance": {"kind": "numeric", "psi": 0.4137},
                "campaign": {"kind": "numeric", "psi": 0.0871},
                "job": {"kind": "categorical", "psi": 0.2519, "unseen_share": 0.031},
            },
            "missing_columns": [],
            "summary": "drift in 2 columns: balance PSI 0.41, job PSI 0.25 (threshold 0.2)",
        },
        "artifacts": {
            "model": {
                "uri": "s3://bank-ml/runs/r/model.joblib",
                "url": "https://bank-ml.s3.amazonaws.com/runs/r/model.joblib?X-Amz-Signature=abc",
            },
            "new_csv": {"uri": "s3://bank-ml/runs/r/new.csv", "url": None},
        },
    }
    context.update(copy.deepcopy(changes))
    return context


def minimal_context(**changes) -> dict:
    """The least a context can hold: no drift check, no metrics, checks, parameters or artifacts."""
    context = make_context(
        checks={},
        metrics={"at_0_5": {}, "at_threshold": {}},
        params={},
        drift=None,
        artifacts={},
        champion={"run_id": None, "auc": None, "decision": "promoted", "reason": "no champion yet"},
        data={
            "input_uri": "s3://b/in.csv",
            "rows": 0,
            "class_counts": {},
            "numeric": [],
            "categorical": [],
            "dropped": [],
        },
    )
    context.update(copy.deepcopy(changes))
    return context


def h1_text(page: str) -> str:
    return re.sub(r"<[^>]+>", "", re.search(r"<h1>(.*?)</h1>", page, re.S).group(1))


def table_row(page: str, first_cell: str) -> str:
    """The markup of the first table row whose first cell is ``first_cell``."""
    return re.search(rf"<tr[^>]*><td>{re.escape(first_cell)}</td>.*?</tr>", page).group(0)


class _Collector(HTMLParser):
    """Every tag with its attributes, to check what the page loads."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict[str, str | None]]]:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    return collector.tags


def test_importing_report_loads_no_plotting_or_ml_library():
    code = (
        "import sys, include.bank_marketing.report; "
        "print(sorted(m for m in ('matplotlib', 'numpy', 'sklearn', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


# --- content ------------------------------------------------------------------------------------------------


def test_html_shows_every_metric_the_threshold_and_the_baselines():
    context = make_context()
    page = report.render_html(context, IMAGES)

    for column in ("at_0_5", "at_threshold"):
        for name in config.METRICS:
            assert f"{context['metrics'][column][name]:.4f}" in table_row(page, name)
    for name, baseline in config.BASELINES.items():
        assert f"{baseline:.4f}" in table_row(page, name)
    assert "at threshold 0.37" in page
    assert "<strong>0.37</strong>" in page


def test_html_lists_the_metrics_in_config_order_whatever_the_context_order():
    context = make_context()
    context["checks"] = dict(reversed(context["checks"].items()))
    context["metrics"]["at_0_5"] = dict(reversed(context["metrics"]["at_0_5"].items()))
    page = report.render_html(context, IMAGES)

    assert [page.index(f"<tr><td>{name}</td>") for name in config.METRICS] == sorted(
        page.index(f"<tr><td>{name}</td>") for name in config.METRICS
    )


def test_html_shows_a_metric_without_a_check_as_having_no_baseline():
    context = make_context()
    del context["checks"]["recall"]
    row = table_row(report.render_html(context, IMAGES), "recall")

    assert "no baseline" in row
    assert "0.4571" in row and "0.6458" in row


@pytest.mark.parametrize("value", [float("nan"), "absent"])
def test_html_shows_a_missing_metric_value_as_n_a(value):
    context = make_context()
    if value == "absent":
        del context["metrics"]["at_threshold"]["f1"]
    else:
        context["metrics"]["at_threshold"]["f1"] = value
    row = table_row(report.render_html(context, IMAGES), "f1")

    assert '<td class="num">n/a</td>' in row
    assert "0.5412" in row  # the 0.5 column is still shown


def test_html_shows_the_model_the_decision_and_the_data():
    page = report.render_html(make_context(), IMAGES)

    assert "<strong>hist_gradient_boosting</strong> (Histogram gradient boosting" in page
    assert "0.9312" in page  # CV AUC
    assert "<td>learning_rate</td><td>0.1</td>" in page
    assert "<td>max_leaf_nodes</td><td>31</td>" in page
    assert "Promoted to champion" in page
    assert "challenger AUC 0.9371 beats champion 0.9302 by more than 0.002" in page
    assert "scheduled__2026-11-27T05:00:00+00:00" in page
    assert "0.9302" in page  # the champion's AUC on the same rows
    assert "manual__2026-11-28T05:34:00+00:00" in page
    assert "45,211" in page
    assert "no 39,922, yes 5,289 (11.7% positive)" in page  # 5289 / 45211
    for column in ("age", "balance", "campaign", "job", "marital", "education", "duration"):
        assert f"<code>{column}</code>" in page


def test_html_shows_the_parameters_as_json_values():
    page = report.render_html(make_context(params={"class_weight": None, "hidden": [8, 4]}), IMAGES)

    assert "<td>class_weight</td><td>null</td>" in page
    assert "<td>hidden</td><td>[8, 4]</td>" in page


def test_html_kept_champion_reads_as_not_promoted():
    champion = {"run_id": "r0", "auc": 0.95, "decision": "kept_champion", "reason": "challenger AUC 0.9371 < 0.95"}
    page = report.render_html(make_context(champion=champion), IMAGES)

    assert "Not promoted: the champion is kept" in page
    assert "challenger AUC 0.9371 &lt; 0.95" in page
    assert "Promoted to champion" not in page


def test_html_drift_table_is_sorted_by_psi_with_drifted_columns_highlighted():
    context = make_context()
    page = report.render_html(context, IMAGES)

    assert f"<p>{context['drift']['summary']}</p>" in page
    rows = re.findall(r"<tr( class=\"drifted\")?><td>(\w+)</td><td>(?:numeric|categorical)</td>", page)
    assert [name for _, name in rows] == ["balance", "job", "campaign", "age"]
    assert {name for drifted, name in rows if drifted} == {"balance", "job"}
    assert "3.1%" in table_row(page, "job")  # unseen categories
    assert "<strong>balance</strong>, <strong>job</strong>" in page
    assert "Missing from the file" not in page


def test_html_drift_table_puts_columns_without_psi_last_and_keeps_a_drifted_column_missing_from_it():
    context = make_context()
    context["drift"]["columns"]["zeta"] = {"kind": "numeric", "psi": float("nan")}
    context["drift"]["drifted"].append({"column": "pdays", "psi": 0.3})
    page = report.render_html(context, IMAGES)

    names = re.findall(r"<tr(?: class=\"drifted\")?><td>(\w+)</td><td>(?:numeric|categorical|n/a)</td>", page)
    assert names == ["balance", "pdays", "job", "campaign", "age", "zeta"]
    assert table_row(page, "pdays").startswith('<tr class="drifted">')


# --- for the campaign ---------------------------------------------------------------------------------------


def campaign_section(page: str) -> str:
    """The markup from the campaign heading to the next heading."""
    start = page.index('<h2 id="campaign">For the campaign</h2>')
    return page[start : page.index("<h2>", start + 1)]


def test_html_shows_the_campaign_section_before_the_promotion_decision():
    page = report.render_html(make_context(), IMAGES)
    section = campaign_section(page)

    assert page.index('<h2 id="campaign">For the campaign</h2>') < page.index("<h2>Promotion decision</h2>")
    assert section.endswith("\n\n")  # the next heading is the promotion decision's
    assert page[page.index(section) + len(section) :].startswith("<h2>Promotion decision</h2>")
    # Gains: one row per share called, reached share and lift.
    for called, reached, lift in (("10.0%", "41.0%", "4.1x"), ("20.0%", "62.0%", "3.1x"), ("30.0%", "75.0%", "2.5x")):
        assert (
            f'<tr><td class="num">{called}</td><td class="num">{reached}</td><td class="num">{lift}</td></tr>'
        ) in section
    # The economics and the break-even probability, cost / value = 5 %.
    assert (
        "With a call costing 5 and a subscription worth 100 (a call pays when the probability is above 5.0%)" in section
    )
    # Both thresholds' profits, the operating point's first and marked as chosen.
    chosen = (
        '<tr class="chosen"><td class="num">0.3</td><td>f1 (chosen: labels new.csv)</td><td class="num">1,000</td>'
        '<td class="num">560</td><td class="num">51,000</td><td class="num">5,640</td></tr>'
    )
    other = (
        '<tr><td class="num">0.0712</td><td>profit</td><td class="num">2,600</td>'
        '<td class="num">880</td><td class="num">75,000</td><td class="num">8,294</td></tr>'
    )
    assert chosen in section and other in section
    assert section.index(chosen) < section.index(other)
    assert section.count('class="chosen"') == 1
    # The columns that matter most, in order, and the family the gains chart compares with.
    assert "<strong>duration</strong>, <strong>poutcome</strong>, <strong>month</strong>." in section
    assert "compares the model's ranking with the original lab's family, <code>logistic_regression</code>" in section


def test_html_marks_the_profit_threshold_when_it_is_the_operating_point():
    page = report.render_html(
        make_context(threshold=0.0712, threshold_rule="profit", campaign=campaign_summary("profit")), IMAGES
    )
    section = campaign_section(page)

    assert '<tr class="chosen"><td class="num">0.0712</td><td>profit (chosen: labels new.csv)</td>' in section
    assert '<tr><td class="num">0.3</td><td>f1</td>' in section
    assert section.count('class="chosen"') == 1
    assert "The chosen threshold (max expected profit on training folds) is the operating point" in page


def test_html_says_the_f1_rule_chose_the_threshold():
    page = report.render_html(make_context(), IMAGES)

    assert "The chosen threshold (max F1 on training folds) is the operating point" in page


def test_html_campaign_section_without_a_compared_family_or_with_a_loss():
    campaign = campaign_summary(compared_with=None)
    campaign["profit"][1] = {**campaign["profit"][1], "profit": -1234.4, "profit_per_1000": -136.5}
    section = campaign_section(report.render_html(make_context(campaign=campaign), IMAGES))

    assert "compares the model" not in section
    assert '<td class="num">-1,234</td><td class="num">-136</td></tr>' in section  # whole units, rounded


# --- charts and links ---------------------------------------------------------------------------------------


def test_html_embeds_every_chart_as_a_data_uri_in_caption_order():
    page = report.render_html(make_context(), dict(reversed(IMAGES.items())))

    for name, png in IMAGES.items():
        assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page, name
        assert f"<figcaption>{markupsafe.escape(charts.CAPTIONS[name])}</figcaption>" in page  # escaped: 's
    # In the page's order: ROC, PR, confusion matrix, grid search, then the five campaign charts.
    positions = [page.index(base64.b64encode(IMAGES[n]).decode()) for n in charts.CAPTIONS]
    assert positions == sorted(positions)
    assert page.count('width="800" height="600"') == len(charts.CAPTIONS) == 9


def test_html_loads_nothing_external_and_links_only_the_given_artifacts():
    context = make_context()
    page = report.render_html(context, IMAGES)
    tags = parse(page)

    assert not [t for t, _ in tags if t in {"script", "link", "iframe", "object", "embed"}]
    assert "@import" not in page
    assert "url(" not in page
    srcs = [a["src"] for t, a in tags if "src" in a]
    assert len(srcs) == len(IMAGES) == 9
    assert all(src.startswith("data:image/png;base64,") for src in srcs)
    hrefs = [a["href"] for t, a in tags if "href" in a]
    assert hrefs == [context["artifacts"]["model"]["url"]]
    assert 'src="http' not in page


def test_html_shows_artifacts_without_url_as_their_s3_uri():
    page = report.render_html(make_context(), IMAGES)

    assert "<td>new_csv</td><td><code>s3://bank-ml/runs/r/new.csv</code></td>" in page
    assert ">s3://bank-ml/runs/r/model.joblib</a>" in page


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", "data:text/html,<b>x</b>", " http://x"])
def test_html_never_links_a_non_web_url(url):
    artifacts = {"evil": {"uri": "s3://b/k", "url": url}}
    page = report.render_html(make_context(artifacts=artifacts), IMAGES)

    assert "href" not in page
    assert "<code>s3://b/k</code>" in page


# --- escaping -----------------------------------------------------------------------------------------------


def test_autoescape_is_on_for_every_value():
    context = make_context(dag_id="a<b & c>d")
    context["champion"]["reason"] = "AUC 0.93 < 0.95 & falling"
    page = report.render_html(context, IMAGES)

    assert "<code>a&lt;b &amp; c&gt;d</code>" in page
    assert "AUC 0.93 &lt; 0.95 &amp; falling" in page
    assert "a<b" not in page and "& falling" not in page


def test_html_escapes_every_value():
    evil = "<script>alert('x')</script>"
    context = make_context(
        family=evil,
        run_id=evil,
        params={evil: evil},
        champion={"run_id": evil, "auc": 0.9, "decision": evil, "reason": evil},
        artifacts={evil: {"uri": evil, "url": 'https://x.example/"onmouseover="alert(1)'}},
    )
    context["drift"]["summary"] = evil
    context["drift"]["columns"][evil] = {"kind": evil, "psi": 0.5}
    context["drift"]["drifted"].append({"column": evil, "psi": 0.5})
    context["drift"]["missing_columns"] = [evil]
    context["data"]["categorical"] = [evil]
    context["data"]["input_uri"] = evil
    context["checks"][evil] = {"value": 0.5, "baseline": 0.4, "passed": True}
    context["campaign"]["top_columns"] = [evil]  # column names come from the input file
    context["campaign"]["compared_with"] = evil
    page = report.render_html(context, IMAGES)

    assert "<script" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert 'href="https://x.example/&#34;onmouseover=&#34;alert(1)"' in page
    assert not [t for t, _ in parse(page) if t == "script"]
    assert not [a for _, a in parse(page) if "onmouseover" in a]


def test_html_escapes_a_chart_name_and_caption():
    page = report.render_html(make_context(), {'"><script>x</script>.png': b"\x89PNG"})

    assert "<script" not in page
    assert 'alt="&#34;&gt;&lt;script&gt;x&lt;/script&gt;.png"' in page


def test_html_is_a_complete_document():
    page = report.render_html(make_context(), IMAGES)

    assert page.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in page
    assert page.endswith("</html>\n")
    assert "<style>" in page
    assert "<title>Bank marketing model: PASS (manual__2026-11-28T05:34:00+00:00)</title>" in page
    for section in ("Promotion decision", "Test metrics", "Winning model", "Data", "Charts", "Artifacts"):
        assert f"<h2>{section}</h2>" in page
    assert "<h2>Data drift against the champion&#39;s training data</h2>" not in page  # template text, not a value
    assert "<h2>Data drift against the champion's training data</h2>" in page


# --- verdict: the context's, never recomputed ----------------------------------------------------------------


def test_verdict_pass_is_shown_with_its_sentence():
    page = report.render_html(make_context(), IMAGES)

    assert h1_text(page) == "Bank marketing model: PASS"
    assert '<span class="verdict pass">PASS</span>' in page
    assert "Every test metric at threshold 0.5, where the baselines were measured, reaches its baseline." in page
    assert "BELOW" not in page


def test_verdict_below_baseline_is_shown_from_the_context_even_when_every_check_passes():
    context = make_context(verdict=Verdict.BELOW_BASELINE)
    assert all(c["passed"] for c in context["checks"].values())
    page = report.render_html(context, IMAGES)

    assert h1_text(page) == "Bank marketing model: BELOW BASELINE"
    assert '<span class="verdict below">BELOW BASELINE</span>' in page
    assert "At least one test metric at threshold 0.5 is below its baseline" in page
    assert '<td class="bad">BELOW</td>' not in page  # the rows show the checks as they are


def test_verdict_pass_is_shown_from_the_context_even_when_a_check_failed():
    context = make_context()
    context["checks"]["f1"]["passed"] = False
    page = report.render_html(context, IMAGES)

    assert h1_text(page) == "Bank marketing model: PASS"
    assert '<span class="verdict pass">PASS</span>' in page
    assert "Every test metric at threshold 0.5, where the baselines were measured, reaches its baseline." in page
    assert '<td class="bad">BELOW</td>' in table_row(page, "f1")


@pytest.mark.parametrize("name", config.METRICS)
def test_result_column_shows_the_failed_check(name):
    context = make_context(verdict=Verdict.BELOW_BASELINE)
    context["checks"][name]["passed"] = False
    page = report.render_html(context, IMAGES)

    assert h1_text(page) == "Bank marketing model: BELOW BASELINE"
    assert '<td class="bad">BELOW</td>' in table_row(page, name)
    assert page.count('<td class="bad">BELOW</td>') == 1
    assert page.count('<td class="ok">ok</td>') == len(config.METRICS) - 1


@pytest.mark.parametrize("verdict", ["PASS", "BELOW_BASELINE"])
def test_verdict_may_arrive_as_its_plain_json_string(verdict):
    page = report.render_html(make_context(verdict=verdict), IMAGES)

    assert h1_text(page) == f"Bank marketing model: {Verdict(verdict).label}"


def test_an_unknown_verdict_is_an_error():
    with pytest.raises(ValueError, match="BELOW BASELINE"):
        report.render_html(make_context(verdict="BELOW BASELINE"), IMAGES)  # the display spelling, not the value


# --- missing parts ------------------------------------------------------------------------------------------


def test_html_without_drift_check_says_so():
    page = report.render_html(make_context(drift=None), IMAGES)

    assert "No drift check: no champion to compare with." in page
    assert "PSI per column" not in page


def test_html_of_a_first_champion():
    champion = {"run_id": None, "auc": None, "decision": "promoted", "reason": "no champion yet"}
    page = report.render_html(make_context(champion=champion), IMAGES)

    assert "<strong>Promoted to champion</strong>: no champion yet" in page
    assert "There was no champion before this run" in page
    assert "Champion compared with" not in page


def test_html_with_no_drifted_column():
    drift = {
        "threshold": 0.2,
        "max_psi": 0.01,
        "drifted": [],
        "columns": {"age": {"kind": "numeric", "psi": 0.01}},
        "summary": "no drift (max PSI 0.010 < 0.2)",
    }
    page = report.render_html(make_context(drift=drift), IMAGES)

    assert "No column drifted." in page
    assert 'class="drifted"' not in page


def test_html_with_a_drift_check_that_compared_nothing():
    # What drift.check_object records when the champion has no stored profile.
    drift = {"threshold": 0.2, "drifted": [], "max_psi": None, "columns": {}, "summary": "no champion to compare with"}
    page = report.render_html(make_context(drift=drift), IMAGES)

    assert "<p>no champion to compare with</p>" in page
    assert "PSI per column" not in page


def test_html_lists_columns_missing_from_the_file():
    context = make_context()
    context["drift"]["missing_columns"] = ["pdays", "poutcome"]

    assert "Missing from the file, not checked: <code>pdays</code>, <code>poutcome</code>." in report.render_html(
        context, IMAGES
    )


def test_html_shows_a_missing_champion_auc_and_kind_as_n_a():
    context = make_context()
    context["champion"]["auc"] = float("nan")
    context["drift"]["drifted"].append({"column": "pdays", "psi": 0.3})  # no row in columns: no kind
    page = report.render_html(context, IMAGES)

    assert "test AUC on the same rows n/a." in page
    assert "<td>pdays</td><td>n/a</td>" in page


def test_html_renders_a_minimal_context_and_no_images():
    page = report.render_html(minimal_context(run_id="r1", verdict=Verdict.BELOW_BASELINE), {})

    assert "<code>r1</code>" in page
    assert "No charts." in page
    assert "No artifacts recorded." in page
    assert "Parameters: the estimator defaults" in page
    assert "<tr><th>Class balance</th><td>n/a</td></tr>" in page
    assert "<tr><th>Numeric columns</th><td>none</td></tr>" in page
    assert h1_text(page) == "Bank marketing model: BELOW BASELINE"


@pytest.mark.parametrize("key", ["verdict", "dag_id", "champion", "artifacts"])
def test_a_context_missing_a_key_is_an_error_not_a_blank(key):
    context = make_context()
    del context[key]

    with pytest.raises((KeyError, jinja2.UndefinedError)):
        report.render_html(context, IMAGES)


QUALITY = {
    "input_uri": "s3://bank-ml/raw/banking.csv",
    "rows_read": 90422,
    "rows_used": 45211,
    "duplicates": {"policy": "drop", "exact_rows": 45211, "conflicting_rows": 0, "dropped_rows": 45211},
    "columns": [
        {
            "column": "age",
            "kind": "numeric",
            "missing_share": 0.0,
            "distinct": 77,
            "constant": False,
            "minimum": 17.0,
            "maximum": 95.0,
            "bounds": [18.0, 100.0],
            "out_of_bounds": 2,
        },
        {
            "column": "job",
            "kind": "categorical",
            "missing_share": 0.25,
            "distinct": 12,
            "constant": False,
            "minimum": None,
            "maximum": None,
            "bounds": None,
            "out_of_bounds": 0,
        },
    ],
    "constant_columns": [],
    "out_of_bounds_columns": ["age"],
    "class_balance": {"positive_rate": 0.117, "champion_positive_rate": 0.2, "champion_run_id": "run-0"},
}


def test_html_data_quality_section_shows_duplicates_bounds_and_the_class_balance():
    page = report.render_html(make_context(quality=QUALITY, overlap_rows=0), IMAGES)
    section = page[page.index('<h2 id="quality">') : page.index("<h2>Data drift")]

    assert "45,211 identical to an earlier row in every column (duplicates=drop: 45,211 dropped" in section
    assert "<tr><th>Rows read</th><td>90,422</td></tr>" in section
    assert "<tr><th>Test rows sharing features with a training row</th><td>0</td></tr>" in section
    assert "11.7% positive; the champion's (run-0): 20.0%" in section
    assert '<tr class="drifted"><td>age</td>' in section  # outside its plausible bounds: highlighted
    assert '<td>18&ndash;100</td><td class="num">2</td>' in section
    assert '<td>job</td><td>categorical</td><td class="num">25.0%</td>' in section
    assert "<tr><th>Columns with implausible values</th><td>1: <code>age</code></td></tr>" in section


def test_html_without_quality_json_says_it_was_not_checked():
    page = report.render_html(make_context(), IMAGES)
    assert "Not checked: this run was validated before <code>quality.json</code> existed." in page


def test_verdict_suspicious_is_shown_with_its_reasons():
    why = "column 'copy' alone ranks the target with AUC 1.0000 (>= 0.99)"
    page = report.render_html(
        make_context(verdict=Verdict.SUSPICIOUS, suspicions=[why], leaked_columns={"copy": 1.0}), IMAGES
    )

    assert '<span class="verdict suspicious">SUSPICIOUS</span>' in page
    assert "looks too good to be true, so the model is not promoted without a person" in page
    assert "column &#39;copy&#39; alone ranks the target with AUC 1.0000" in page
    assert "<strong>copy</strong> 1.0000" not in page  # the quality table is absent without quality.json
