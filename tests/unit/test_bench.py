"""The benchmark's arithmetic: growth exponents, medians and spreads, per-stage windows of the sampled timeline."""

from __future__ import annotations

import os
import time

import pytest

from devtools import bench


def test_growth_exponent_of_linear_and_quadratic_growth():
    rows = [45_211, 180_844, 723_376]

    assert bench.growth_exponent(rows, [2 * r for r in rows]) == pytest.approx(1.0)
    assert bench.growth_exponent(rows, [r**2 / 1e6 for r in rows]) == pytest.approx(2.0)
    assert bench.growth_exponent(rows, [5.0, 5.0, 5.0]) == pytest.approx(0.0)


def test_spread_is_median_min_max():
    assert bench.spread([3.0, 1.0, 2.0, 10.0]) == {"median": 2.5, "min": 1.0, "max": 10.0}


def _sampler(samples):
    sampler = bench.TreeSampler(os.getpid())
    sampler.samples = samples
    return sampler


def test_window_takes_cpu_used_and_memory_at_start_and_peak():
    mb = bench.MB
    # (time, RSS, PSS, cumulative CPU)
    sampler = _sampler([(0.0, 100 * mb, 80 * mb, 1.0), (1.0, 300 * mb, 200 * mb, 2.0), (2.0, 150 * mb, 90 * mb, 4.5)])

    window = sampler.window(0.5, 2.0)

    # Starts from the last sample before the window; the peak is inside it.
    assert window == {
        "cpu_s": 3.5,
        "rss_start_mb": 100.0,
        "rss_peak_mb": 300.0,
        "pss_start_mb": 80.0,
        "pss_peak_mb": 200.0,
    }


def test_window_shorter_than_the_sampling_interval_uses_the_sample_before():
    mb = bench.MB
    sampler = _sampler([(0.0, 100 * mb, 80 * mb, 1.0), (1.0, 300 * mb, 200 * mb, 2.0)])

    window = sampler.window(0.2, 0.3)

    assert (window["cpu_s"], window["rss_peak_mb"]) == pytest.approx((0, 100))


def test_sampler_sees_this_process():
    sampler = bench.TreeSampler(os.getpid(), interval=0.01)
    sampler.start()
    deadline = time.monotonic() + 10
    while len(sampler.samples) < 3 and time.monotonic() < deadline:
        sum(range(100_000))  # some CPU to see
    sampler.stop()

    assert len(sampler.samples) >= 2
    _, rss, pss, _ = sampler.samples[-1]
    assert rss > 10 * bench.MB and 0 < pss <= rss


def _run(wall, cpu, auc=0.9367):
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": 900.0, "peak_pss_mb": 700.0, "auc": auc, "stages": []}


def test_overhead_table_ratio_of_medians():
    bare = [_run(40, 70), _run(42, 71), _run(50, 72)]
    dag = [_run(52, 90), _run(55, 95), _run(60, 99)]

    table, summary = bench.overhead_table(bare, dag)

    assert summary["wall_s"]["ratio"] == pytest.approx(55 / 42, abs=0.01)
    assert summary["wall_s"]["bare"] == {"median": 42, "min": 40, "max": 50}
    assert summary["auc"] == [0.9367]  # both sides agree
    assert "| wall time, s | 42.00 (40.00–50.00) | 55.00 (52.00–60.00) | 1.31 |" in table


def test_scaling_table_sums_mapped_stages_and_fits_exponents():
    def run(factor):
        stages = [
            {"stage": "validate", "wall_s": 1.0 * factor, "cpu_s": 1.0 * factor, "rss_start_mb": 300,
             "rss_peak_mb": 300 + 10 * factor, "pss_start_mb": 200, "pss_peak_mb": 200 + 8 * factor},
            {"stage": "train[a]", "wall_s": 2.0 * factor, "cpu_s": 3.0 * factor, "rss_start_mb": 300,
             "rss_peak_mb": 400, "pss_start_mb": 200, "pss_peak_mb": 260},
            {"stage": "train[b]", "wall_s": 1.0 * factor, "cpu_s": 1.0 * factor, "rss_start_mb": 300,
             "rss_peak_mb": 420, "pss_start_mb": 200, "pss_peak_mb": 250},
        ]  # fmt: skip
        return {"rows": 1000 * factor, "stages": stages, "frame_mb": {"validate": 2.0 * factor, "train": 1.5 * factor}}

    table, summary = bench.scaling_table({1: run(1), 4: run(4), 16: run(16)})

    assert summary["validate_exponent"] == pytest.approx({"time": 1.0, "memory": 1.0})
    assert [s["wall_s"] for s in summary["train"]] == [3.0, 12.0, 48.0]  # both families, summed
    assert summary["train"][0]["added_pss_mb"] == 60  # the larger of the two
    assert summary["validate"][2]["added_pss_mb"] / summary["validate"][2]["frame_mb"] == pytest.approx(4.0)
    assert "| validate | 16,000 |" in table


def test_budgets_compare_each_figure_with_its_limit(monkeypatch):
    monkeypatch.setattr(bench, "BUDGETS", {"a_s": (60.0, "a"), "b_s": (10.0, "b"), "c_s": (1.0, "not measured")})

    budgets = bench.check_budgets({"a_s": 26.1, "b_s": 10.5})

    assert budgets == {
        "a_s": {"seconds": 26.1, "limit_s": 60.0, "ok": True, "what": "a"},
        "b_s": {"seconds": 10.5, "limit_s": 10.0, "ok": False, "what": "b"},
    }


def test_all_families_must_train_within_sixty_seconds():
    # Moved here from the end-to-end suite (it was asserted on a DAG run's fit_seconds there).
    assert bench.check_budgets({"train_all_families_s": 59.9})["train_all_families_s"]["ok"] is True
    assert bench.check_budgets({"train_all_families_s": 60.1})["train_all_families_s"]["ok"] is False


def test_targets_are_met_or_not_by_their_direction():
    checked = bench.check_targets({"test_auc_with_duration": 0.9391, "search_time_ratio": 0.42, "celery_ratio": 1.5})

    assert checked["test_auc_with_duration"]["met"] is False  # at least 0.94
    assert checked["search_time_ratio"]["met"] is True  # at most 0.5
    assert checked["celery_ratio"]["met"] is True  # the bound itself is met
    assert set(checked) == {"test_auc_with_duration", "search_time_ratio", "celery_ratio"}  # unmeasured: absent


def test_target_figures_come_from_each_part_of_the_bench():
    side = {"search_s": 20.0, "test_auc": 0.93, "pick": "x", "families": {}}
    results = {
        "search": {
            "with_duration": {"before": side, "after": {**side, "search_s": 8.0, "test_auc": 0.9391}},
            "without_duration": {"before": side, "after": {**side, "test_auc": 0.8028}},
        },
        "overhead": {"wall_s": {"ratio": 1.41}},
        "bare": [
            {
                "wall_s": 20.0,
                "stages": [{"stage": "publish", "wall_s": 9.0}, {"stage": "explain_for_campaign", "wall_s": 3.1}],
            },
            {"wall_s": 22.0, "stages": [{"stage": "explain_for_campaign", "wall_s": 2.4}]},
            {"wall_s": 30.0, "stages": [{"stage": "explain_for_campaign", "wall_s": 4.0}]},
        ],
        "orchestrated": {"local": {"all": {"trigger_to_success_s": {"median": 33.0}}}},
        "budgets": {"campaign_charts_9000_rows_s": {"seconds": 1.2, "limit_s": 2.0, "ok": True, "what": ""}},
        "scaling": {
            "train": [
                {"rows": 45_211, "added_pss_mb": 50.0, "frame_mb": 6.0},
                {"rows": 723_376, "added_pss_mb": 300.0, "frame_mb": 100.0},
            ],
            "train_exponent": {"time": 1.02, "memory": 0.5},
        },
    }

    figures = bench.target_figures(results)

    assert figures == {
        "test_auc_with_duration": 0.9391,
        "test_auc_without_duration": 0.8028,
        "search_time_ratio": 0.4,
        "dags_test_ratio": 1.41,
        "standalone_ratio": 1.5,  # 33 s against the bare median of 22 s
        "campaign_added_s": 4.3,  # the bare runs' median explain_for_campaign stage, 3.1, + the charts' 1.2
        "train_memory_16x": 3.0,
        "train_time_exponent": 1.02,
    }
