"""The evaluation report: leaderboard numbers, Kendall's tau-b, and an HTML report that really
renders (headless Chromium screenshot with visible plots, SVG present in the rendered DOM)."""

from __future__ import annotations

import html
import re
import time
from pathlib import Path

import pytest

from eigencore.evaluation.harness import Transcript
from eigencore.evaluation.report import (
    PALETTE,
    html_report,
    kendall_tau_b,
    leaderboard,
    rank_correlation,
    ranks,
    render_html,
    summarize,
)
from eigencore.evaluation.scoring import TurnCheck, Verdict
from eigencore.evaluation.store import RunStore
from eigencore.evaluation.task import Fact
from environments.state import ColumnChange, RowChange, StateDiff
from tests.report_browser import colour_counts, decode_png, render

T, F = True, False
CATEGORY = {"t1": "base", "t2": "base", "t3": "miss_param", "t4": "long_context"}
# model -> task -> per sample (outcome, per_turn, bfcl); bfcl None = not applicable
RUNS: dict[str, dict[str, list[tuple[bool, bool, bool | None]]]] = {
    "alpha": {"t1": [(T, T, T), (T, T, T)], "t2": [(T, F, T), (F, F, F)],
              "t3": [(T, T, F), (T, T, T)], "t4": [(F, F, F), (F, F, F)]},
    "beta [b] <b>&": {"t1": [(T, T, T), (T, T, T)], "t2": [(T, T, T), (T, T, T)],
                  "t3": [(T, F, T), (T, T, T)], "t4": [(T, T, F), (F, F, F)]},
    "gamma": {"t1": [(T, T, None), (F, F, None)], "t2": [(F, F, None), (F, F, None)],
              "t3": [(T, F, None), (F, F, None)], "t4": [(F, F, None), (F, F, None)]},
}
EVIL = "<script>alert('x')</script>"


def _verdict(task: str, sample: int, outcome: bool, per_turn: bool, bfcl: bool | None
             ) -> Verdict:
    diff = StateDiff(changes=[RowChange(table="loans", key={"loan_id": 7}, kind="updated",
                                        columns={"returned": ColumnChange(old=0, new=1)})])
    return Verdict(
        task_id=task, sample=sample, category=CATEGORY[task], domains=["library"],
        outcome=outcome, per_turn=per_turn, bfcl=bfcl,
        final_state={} if outcome else {"library": diff},
        turns=[] if per_turn else [TurnCheck(turn=1, state={"library": diff},
                                             missing=[Fact(value=EVIL, label="get.note")])],
        bfcl_detail=None if bfcl is not False else {"error_type": "state_mismatch"})


@pytest.fixture
def store(tmp_path: Path) -> tuple[RunStore, list[str]]:
    s = RunStore(tmp_path / "eval.db")
    ids = []
    for model, tasks in RUNS.items():
        run_id = s.create_run(model, "library-demo", {"k": 2}, run_id=f"run-{model[:4]}")
        for task, samples in tasks.items():
            for i, (o, p, b) in enumerate(samples):
                s.write(run_id, _verdict(task, i, o, p, b),
                        Transcript(task_id=task, sample=i, model=model))
        s.finish(run_id)
        ids.append(run_id)
    return s, ids


def test_summary_numbers_and_order(store: tuple[RunStore, list[str]]) -> None:
    s, ids = store
    runs = summarize(s, ids)
    assert [r.model for r in runs] == ["beta [b] <b>&", "alpha", "gamma"]  # by outcome success
    beta, alpha, gamma = (r.rates for r in runs)
    assert (alpha.tasks, alpha.samples, alpha.k) == (4, 8, 2)
    assert alpha.success["outcome"] == 5 / 8 and alpha.pass_k["outcome"] == 2 / 4
    assert beta.success["outcome"] == 7 / 8 and beta.pass_k["outcome"] == 3 / 4
    assert beta.success["per_turn"] == 6 / 8 and beta.pass_k["per_turn"] == 2 / 4
    assert gamma.success["bfcl"] is None and gamma.pass_k["bfcl"] is None
    assert runs[1].categories["base"].success["outcome"] == 3 / 4
    assert summarize(s)[0].run_id == ids[1]  # no ids: every run in the store


def test_leaderboard_text(store: tuple[RunStore, list[str]]) -> None:
    s, ids = store
    text = leaderboard(s, ids)
    lines = text.splitlines()
    rows = {m: next(ln for ln in lines if m in ln and "library-demo" in ln)
            for m in ("alpha", "beta", "gamma")}
    assert lines.index(rows["beta"]) < lines.index(rows["alpha"]) < lines.index(rows["gamma"])
    # alpha: tasks 4, samples 8, k 2; outcome 62.5% / pass^2 50.0%; per_turn 50.0% / 50.0%
    assert re.search(r"\b4\s+8\s+2\s+62\.5%\s+50\.0%\s+50\.0%\s+50\.0%", rows["alpha"])
    assert re.search(r"87\.5%\s+75\.0%", rows["beta"])
    assert "beta [b] <b>&" in rows["beta"]  # printed verbatim, not read as rich markup
    assert rows["gamma"].count("n/a") == 2  # bfcl does not apply to gamma
    assert "Success by category" in text and "long_context" in text
    assert "outcome~per_turn" in text


def test_kendall_tau_b() -> None:
    assert kendall_tau_b([1, 2, 3, 4], [10, 20, 30, 40]) == 1.0
    assert kendall_tau_b([1, 2, 3, 4], [4, 3, 2, 1]) == -1.0
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # ties: C=2, D=0, n0=3, one pair tied in x -> 2 / sqrt(2 * 3) (scipy agrees: 0.8165)
    assert kendall_tau_b([1, 1, 2], [1, 2, 3]) == pytest.approx(0.816496580927726)
    assert kendall_tau_b([1], [1]) is None
    assert kendall_tau_b([1, 1], [1, 2]) is None  # no ranking on one side: undefined
    with pytest.raises(ValueError):
        kendall_tau_b([1, 2], [1])


def test_rank_correlation_and_ranks() -> None:
    scores = {"outcome": {"a": 0.9, "b": 0.5, "c": 0.1},
              "per_turn": {"a": 0.8, "b": 0.2, "c": 0.3},
              "bfcl": {"a": 0.1, "b": 0.5, "c": None}}
    tau = rank_correlation(scores)
    assert tau[("outcome", "per_turn")] == pytest.approx(1 / 3)
    assert tau[("outcome", "bfcl")] == -1.0  # only a and b are comparable
    assert tau[("per_turn", "bfcl")] == -1.0
    assert rank_correlation({"outcome": {"a": 0.5}, "bfcl": {"a": 0.2}}) == {
        ("outcome", "bfcl"): None}  # fewer than two runs
    assert ranks({"a": 0.5, "b": 0.9, "c": 0.5, "d": None}) == {"b": 1, "a": 2, "c": 2}


def test_html_is_self_contained_escaped_and_capped(store: tuple[RunStore, list[str]],
                                                   tmp_path: Path) -> None:
    s, ids = store
    page = html_report(s, ids, tmp_path / "out" / "report.html")
    text = page.read_text()
    for remote in ("<script", "http://", "https://", "@import", "url(", "<link"):
        assert remote not in text
    assert EVIL not in text and html.escape(EVIL) in text
    assert "beta [b] &lt;b&gt;&amp;" in text and "[b] <b>" not in text
    assert text.count("<svg class=\"plot") == 4
    assert "~ loans[loan_id=7]" in text  # per-turn state diffs that explain() leaves out
    assert text.count("<details>") == 5 + 3 + 7  # samples failing at least one metric
    capped = render_html(summarize(s, ids), cap=2)
    assert capped.count("<details>") == 6 and "5 more failed samples not shown" in capped


def test_html_renders_with_visible_plots(store: tuple[RunStore, list[str]],
                                         tmp_path: Path) -> None:
    s, ids = store
    page = html_report(s, ids, tmp_path / "report.html")
    started = time.monotonic()
    png, dom = render(page, tmp_path)

    # The rendered DOM still holds every plot and its marks.
    assert dom.count('<svg class="plot') == 4
    assert dom.count('class="bar"') == 3 * 3 + 3 * 3 + 2 * 3  # gamma has no bfcl bars
    assert dom.count('class="marker"') == 3 + 3 + 2
    assert dom.count('class="bump"') == 3 + 2  # gamma's line stops at bfcl (n/a)

    width, height, bpp, rows = decode_png(png)
    assert (width, height) == (1400, 2000)
    colours = colour_counts(rows, bpp)
    white = (255, 255, 255)
    assert sum(n for c, n in colours.items() if c != white) > 20_000, "screenshot is blank"
    # Each run's colour fills a real area (bars, lines, markers, swatches), not a hairline.
    for hex_colour in PALETTE[:3]:
        rgb = tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert colours[rgb] > 2_000, (hex_colour, colours[rgb])
    # The plot region (rows painted in the first run's colour, minus the leaderboard
    # swatches) carries antialiased text, gridlines and marks: many distinct colours.
    first = tuple(int(PALETTE[0][i:i + 2], 16) for i in (1, 3, 5))
    painted = [y for y, row in enumerate(rows)
               if row.count(bytes(first)) >= 20]  # bars/lines, not 11px swatches
    assert painted, "no plot marks in the screenshot"
    region = colour_counts(rows, bpp, min(painted), max(painted) + 1)
    assert len([c for c in region if c != white]) > 200
    assert time.monotonic() - started < 20
