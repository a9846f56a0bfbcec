"""The soak's memory bound (benchmarks/soak.py): one step in the second half is a buffer paged in
once, growth spread over the intervals is a leak."""

from benchmarks.soak import Bounds, Report


def _report(series: list[float]) -> Report:
    return Report(duration_s=5.0 * len(series), clients=16, rss_start_mib=series[0], rss_mid_mib=series[len(series) // 2],
                  rss_end_mib=series[-1], rss_peak_mib=max(series), rss_series_mib=series)


def _memory_lines(rep: Report) -> list[str]:
    return [line for line in rep.broken(Bounds(min_completed_chats=0)) if "RSS" in line]


def test_one_step_late_in_a_short_run_is_not_a_leak():
    # the series of the CI run that failed on the old bound (end - mid = 66 MiB)
    series = [3166, 3170, 3170, 3171, 3171, 3171, 3172, 3239, 3239, 3239, 3239, 3239, 3238]
    rep = _report(series)
    assert rep.second_half_spread_growth_mib() < 1
    assert _memory_lines(rep) == []


def test_steady_growth_in_the_second_half_is_a_leak():
    series = [3166.0 + 16 * i for i in range(13)]  # 16 MiB every 5 s
    lines = _memory_lines(_report(series))
    assert len(lines) == 1 and "second half" in lines[0], lines


def test_growth_over_the_whole_run_still_has_its_own_bound():
    series = [3000.0] + [3400.0] * 12  # one big step right after warm-up: not flat, too big
    lines = _memory_lines(_report(series))
    assert len(lines) == 1 and "RSS grew 400 MiB" in lines[0], lines
