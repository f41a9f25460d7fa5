"""Evaluation report: a terminal leaderboard and one static, self-contained HTML file.

Runs are ranked by outcome success; each metric's success rate and pass^k sit side by side,
followed by per-category rates and how far the metrics agree on the ranking (Kendall's tau-b).
The HTML adds inline-SVG plots (per-category success, rank per metric) and every failed sample
explained. A rescored run (`eval rescore`) is rated on the samples it reproduced; those that
diverged are excluded from every denominator, and the report says how many. It loads nothing
from the network (no scripts, fonts or stylesheets), so it can be
archived or mailed as a single file and still render the same.
"""

from __future__ import annotations

import html
import io
import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

from eigencore.evaluation.metrics import METRICS, Rates, grouped, rates
from eigencore.evaluation.scoring import Verdict
from eigencore.evaluation.store import RunStore

FAILURES_PER_RUN = 200
# Okabe-Ito (colour-blind safe) minus its yellow, which vanishes on white, then a few extras.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#7F3C8D",
           "#6B6B6B", "#8C6D31", "#1B9E77")
FONT = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif"


@dataclass
class RunSummary:
    run_id: str
    model: str
    suite: str
    label: str
    """The model name, plus the run id when several runs share the model."""
    verdicts: list[Verdict]
    rates: Rates
    categories: dict[str, Rates]
    note: str = ""
    """For a rescored run: its source and the samples excluded from the rates."""


def rescore_note(meta: Mapping[str, Any]) -> str:
    """What a rescored run's rates leave out (empty for an ordinary run)."""
    cfg = meta.get("config") or {}
    if "rescored_from" not in cfg:
        return ""
    diverged, missing = cfg.get("diverged") or [], cfg.get("not_in_suite") or []
    text = (f"rescored from run {cfg['rescored_from']} ({cfg.get('source_suite', '?')}): "
            f"{len(diverged)} diverged samples not scored and excluded from the rates")
    if missing:
        text += f"; {len(missing)} source tasks are not in {meta.get('suite')}"
    return text


def _rank_key(r: RunSummary) -> tuple[float, float, str]:
    def neg(x: float | None) -> float:
        return 1.0 if x is None else -x  # n/a sorts after any real rate

    return neg(r.rates.success["outcome"]), neg(r.rates.pass_k["outcome"]), r.label


def summarize(store: RunStore, run_ids: Iterable[str] = (), k: int | None = None
              ) -> list[RunSummary]:
    """Rates per run (all runs in the store when none are named), best outcome success first."""
    ids = list(dict.fromkeys(run_ids)) or [r["run_id"] for r in store.runs()]
    metas = [store.run(r) for r in ids]
    per_model = Counter(m["model"] for m in metas)
    out = []
    for meta in metas:
        verdicts = store.verdicts(meta["run_id"])
        overall = rates(verdicts, k)
        label = meta["model"] if per_model[meta["model"]] == 1 else (
            f"{meta['model']} [{meta['run_id']}]")
        out.append(RunSummary(run_id=meta["run_id"], model=meta["model"], suite=meta["suite"],
                              label=label, verdicts=verdicts, rates=overall,
                              categories=grouped(verdicts, "category", overall.k),
                              note=rescore_note(meta)))
    return sorted(out, key=_rank_key)


# ---------------------------------------------------------------------------------- rankings

def kendall_tau_b(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b of two paired samples (ties allowed); None when it is undefined."""
    if len(x) != len(y):
        raise ValueError("kendall_tau_b needs two samples of the same length")
    concordant = discordant = tied_x = tied_y = 0
    for i, j in combinations(range(len(x)), 2):
        # Rounding keeps rates that are equal fractions computed differently tied.
        dx, dy = round(x[i] - x[j], 12), round(y[i] - y[j], 12)
        tied_x += dx == 0
        tied_y += dy == 0
        if dx and dy:
            if (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    pairs = len(x) * (len(x) - 1) // 2
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    return (concordant - discordant) / denominator if denominator else None


def rank_correlation(scores: Mapping[str, Mapping[str, float | None]]
                     ) -> dict[tuple[str, str], float | None]:
    """Per pair of metrics, tau-b between the model rankings they induce.

    `scores` maps metric -> model -> score (higher is better; None = not applicable). Only
    models scored under both metrics of a pair count; with fewer than two the tau is None.
    """
    out: dict[tuple[str, str], float | None] = {}
    for a, b in combinations(scores, 2):
        both = [(x, y) for m, x in scores[a].items()
                if x is not None and (y := scores[b].get(m)) is not None]
        out[(a, b)] = (kendall_tau_b([x for x, _ in both], [y for _, y in both])
                       if len(both) >= 2 else None)
    return out


def ranks(scores: Mapping[str, float | None]) -> dict[str, int]:
    """Competition ranks (1 = best; ties share a rank, the next rank skips) of scored models."""
    vals = {m: round(v, 12) for m, v in scores.items() if v is not None}
    return {m: 1 + sum(o > v for o in vals.values()) for m, v in vals.items()}


def metric_scores(runs: Sequence[RunSummary]) -> dict[str, dict[str, float | None]]:
    """Metric -> run label -> success rate: what the rankings and their agreement use."""
    return {m: {r.label: r.rates.success[m] for r in runs} for m in METRICS}


# ---------------------------------------------------------------------------------- terminal

def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _tau(t: float | None) -> str:
    return "n/a" if t is None else f"{t:+.2f}"


def render_leaderboard(runs: Sequence[RunSummary], width: int = 140) -> str:
    # Imported here: rich comes in through fastmcp, and the HTML report does not need it.
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    board = Table(title="Leaderboard (ranked by outcome success)", box=box.SIMPLE_HEAD,
                  title_justify="left")
    for name in ("#", "model", "suite", "tasks", "samples", "k"):
        board.add_column(name, justify="left" if name in ("model", "suite") else "right")
    for m in METRICS:
        board.add_column(f"{m}\nsuccess", justify="right")
        board.add_column(f"{m}\npass^k", justify="right")
    outcome_rank = ranks({r.label: r.rates.success["outcome"] for r in runs})
    for r in runs:
        cells = [str(outcome_rank.get(r.label, "-")), r.label, r.suite, str(r.rates.tasks),
                 str(r.rates.samples), str(r.rates.k)]
        for m in METRICS:
            cells += [_pct(r.rates.success[m]), _pct(r.rates.pass_k[m])]
        board.add_row(*map(Text, cells))  # Text: "[...]" in a name is not rich markup

    by_cat = Table(title="Success by category", box=box.SIMPLE_HEAD, title_justify="left")
    for name in ("category", "model", "samples", *METRICS):
        by_cat.add_column(name, justify="left" if name in ("category", "model") else "right")
    for cat in sorted({c for r in runs for c in r.categories}):
        first = True
        for r in runs:
            cr = r.categories.get(cat)
            if cr is None:
                continue
            by_cat.add_row(*map(Text, (cat if first else "", r.label, str(cr.samples),
                                       *(_pct(cr.success[m]) for m in METRICS))))
            first = False
        by_cat.add_section()

    console = Console(file=io.StringIO(), width=width, record=True, color_system=None)
    console.print(board)
    console.print(by_cat)
    tau = rank_correlation(metric_scores(runs))
    console.print(Text("Rank agreement between metrics (Kendall tau-b over runs): " + ", ".join(
        f"{a}~{b} {_tau(t)}" for (a, b), t in tau.items())))
    for r in runs:
        if r.note:
            console.print(Text(f"{r.label}: {r.note}"))
    # rich pads every line to the console width; trailing blanks only get in the way.
    return "\n".join(line.rstrip() for line in console.export_text().splitlines()) + "\n"


def leaderboard(store: RunStore, run_ids: Iterable[str] = (), k: int | None = None,
                width: int = 140) -> str:
    """The terminal leaderboard of the given runs (all runs in the store when none)."""
    return render_leaderboard(summarize(store, run_ids, k), width)


# -------------------------------------------------------------------------------------- SVG

def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _text_w(s: str, size: float) -> float:
    # No font metrics without a browser: average advance of DejaVu/Liberation Sans, generous.
    return len(s) * size * 0.62


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"


def _text(x: float, y: float, s: str, size: int = 12, anchor: str = "start",
          weight: str = "normal", fill: str = "#222", extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'font-weight="{weight}" fill="{fill}" {extra}>{_e(s)}</text>')


def _legend(items: Sequence[tuple[str, str]], x0: float, y0: float, max_w: float
            ) -> tuple[list[str], float]:
    """Swatch + label items wrapped into rows; returns the elements and the height used."""
    out: list[str] = []
    x, y = x0, y0
    for colour, full in items:
        label = _clip(full, 44)
        w = 14 + 6 + _text_w(label, 12) + 18
        if x > x0 and x + w > x0 + max_w:
            x, y = x0, y + 20
        out.append(f'<rect class="swatch" x="{x:.1f}" y="{y:.1f}" width="14" height="14" '
                   f'rx="2" fill="{colour}"/>')
        out.append(_text(x + 20, y + 12, label))
        x += w
    return out, (y - y0) + 20 if items else 0.0


def _svg(width: float, height: float, title: str, body: list[str], cls: str) -> str:
    w, h = math.ceil(width), math.ceil(height)
    return (f'<svg class="plot {cls}" role="img" aria-label="{_e(title)}" width="{w}" '
            f'height="{h}" viewBox="0 0 {w} {h}" font-family="{_e(FONT)}">'
            f'<rect width="{w}" height="{h}" fill="#ffffff"/>' + "".join(body) + "</svg>")


def bar_chart(runs: Sequence[RunSummary], metric: str, colours: Mapping[str, str]) -> str:
    """Grouped bars: one group per category, one bar per run, for one metric's success."""
    title = f"{metric}: success by category"
    cats = sorted({c for r in runs for c in r.categories})
    n = max(len(runs), 1)
    # Thinner bars as runs x categories grow, so a big comparison still fits a screen.
    bar_w = max(6.0, min(26.0, 200.0 / n, 1000.0 / (max(len(cats), 1) * (n + 1))))
    plot_w = max(420.0, len(cats) * (n * bar_w + max(18.0, bar_w)))
    slot = plot_w / max(len(cats), 1)  # groups spread over the whole axis
    labels = [_clip(c, 26) for c in cats]
    longest = max((_text_w(s, 12) for s in labels), default=0.0)
    rotate = longest > slot - 6
    angle = 35.0
    label_h = (longest * math.sin(math.radians(angle)) * 0.9 + 12) if rotate else 16.0
    ml, mr = 64.0, 20.0
    if rotate:  # the first rotated label runs left of its group; keep it inside the canvas
        ml = max(ml, longest * math.cos(math.radians(angle)) - slot / 2 + 10)
    width = ml + plot_w + mr
    legend_items = [(colours[r.label], r.label if r.rates.success[metric] is not None
                     else _clip(r.label, 38) + " (n/a)") for r in runs]
    body = [_text(12, 22, title, 15, weight="bold")]
    legend, legend_h = _legend(legend_items, 12, 34, width - 24)
    body += legend
    top = 34 + legend_h + 22  # room for value labels above 100% bars
    plot_h = 230.0
    base = top + plot_h
    height = base + 10 + label_h + 30

    for pct in (0, 25, 50, 75, 100):
        y = base - plot_h * pct / 100
        body.append(f'<line x1="{ml:.1f}" y1="{y:.1f}" x2="{ml + plot_w:.1f}" y2="{y:.1f}" '
                    f'stroke="{"#555" if pct == 0 else "#dddddd"}" stroke-width="1"/>')
        body.append(_text(ml - 8, y + 4, f"{pct}%", 11, anchor="end", fill="#444"))
    body.append(f'<line x1="{ml:.1f}" y1="{top:.1f}" x2="{ml:.1f}" y2="{base:.1f}" '
                f'stroke="#555" stroke-width="1"/>')
    body.append(_text(18, top + plot_h / 2, "success rate", 12, anchor="middle",
                      extra=f'transform="rotate(-90 18 {top + plot_h / 2:.1f})"'))
    if not cats or all(r.rates.success[metric] is None for r in runs):
        note = "no results" if not cats else f"{metric} does not apply to these runs"
        body.append(_text(ml + plot_w / 2, top + plot_h / 2, note, 13, "middle", fill="#777"))
    for i, (cat, label) in enumerate(zip(cats, labels, strict=True)):
        x0 = ml + i * slot + (slot - n * bar_w) / 2
        for j, r in enumerate(runs):
            cr = r.categories.get(cat)
            if cr is None or (v := cr.success[metric]) is None:
                continue
            # A 0% bar still gets a visible sliver so "zero" is not mistaken for "missing".
            h = max(plot_h * v, 2.0)
            x = x0 + j * bar_w
            tip = f"{r.label} · {cat}: {_pct(v)} of {cr.samples} samples"
            body.append(f'<rect class="bar" x="{x + 1:.1f}" y="{base - h:.1f}" '
                        f'width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{colours[r.label]}">'
                        f"<title>{_e(tip)}</title></rect>")
            if bar_w >= 20:
                body.append(_text(x + bar_w / 2, base - h - 4, f"{100 * v:.0f}", 10, "middle",
                                  fill="#333"))
        cx, ly = ml + i * slot + slot / 2, base + 16
        if rotate:
            body.append(_text(cx, ly, label, 12, "end",
                              extra=f'transform="rotate(-{angle:.0f} {cx:.1f} {ly:.1f})"'))
        else:
            body.append(_text(cx, ly, label, 12, "middle"))
    body.append(_text(ml + plot_w / 2, height - 10, "category", 12, "middle", "bold"))
    return _svg(width, height, title, body, "bars")


def bump_chart(runs: Sequence[RunSummary], colours: Mapping[str, str]) -> str:
    """Each run's rank under each metric: x = metric, y = rank, one line per run."""
    title = "Rank by metric (success rate; 1 = best)"
    scores = metric_scores(runs)
    metrics = [m for m in METRICS if any(v is not None for v in scores[m].values())]
    by_metric = {m: ranks(scores[m]) for m in metrics}
    n = max(len(runs), 1)
    # Ties share a rank; they are fanned out `step` apart so no marker hides another, and
    # rows grow to hold the largest tie.
    step, col_gap = 20.0, 210.0
    largest_tie = max((c for m in metrics for c in Counter(by_metric[m].values()).values()),
                      default=1)
    row_h = max(48.0, step * largest_tie + 12)
    fan = step * (largest_tie - 1) / 2
    names = {r.label: _clip(r.label, 34) for r in runs}
    label_w = max((_text_w(s, 12) for s in names.values()), default=0.0)
    axis_x = 56.0
    first_x = axis_x + 26 + label_w + 18
    last_x = first_x + col_gap * max(len(metrics) - 1, 0)
    width = max(last_x + 18 + label_w + 24, 480.0)
    body = [_text(12, 22, title, 15, weight="bold")]
    legend, legend_h = _legend([(colours[r.label], r.label) for r in runs], 12, 34, width - 24)
    body += legend
    top = 34 + legend_h + 30 + fan
    height = top + row_h * (n - 1) + fan + 84
    xs = {m: first_x + col_gap * i for i, m in enumerate(metrics)}

    ys: dict[str, dict[str, float]] = defaultdict(dict)
    for m in metrics:
        tied: dict[int, list[str]] = defaultdict(list)
        for r in runs:
            if r.label in by_metric[m]:
                tied[by_metric[m][r.label]].append(r.label)
        for rank, group in tied.items():
            for i, label in enumerate(group):
                ys[label][m] = top + (rank - 1) * row_h + (i - (len(group) - 1) / 2) * step

    for rank in range(1, n + 1):
        y = top + (rank - 1) * row_h
        body.append(f'<line x1="{axis_x:.1f}" y1="{y:.1f}" x2="{width - 12:.1f}" y2="{y:.1f}" '
                    'stroke="#e4e4e4" stroke-width="1"/>')
        body.append(_text(axis_x - 8, y + 4, f"#{rank}", 12, "end", fill="#444"))
    body.append(f'<line x1="{axis_x:.1f}" y1="{top - fan - 16:.1f}" x2="{axis_x:.1f}" '
                f'y2="{top + row_h * (n - 1) + fan + 16:.1f}" stroke="#555" stroke-width="1"/>')
    mid = top + row_h * (n - 1) / 2
    body.append(_text(18, mid, "rank", 12, "middle",
                      extra=f'transform="rotate(-90 18 {mid:.1f})"'))
    axis_y = top + row_h * (n - 1) + fan + 34
    for m, x in xs.items():
        body.append(_text(x, axis_y, m, 13, "middle", "bold"))
        missing = [names[r.label] for r in runs if r.label not in by_metric[m]]
        if missing:  # otherwise a run silently drops out of the chart
            body.append(_text(x, axis_y + 16, _clip("n/a: " + ", ".join(missing), 32), 11,
                              "middle", fill="#777"))
    body.append(_text((first_x + last_x) / 2, axis_y + 36, "metric", 12, "middle", fill="#444"))

    marks: list[str] = []  # drawn after every line, so no line crosses over a marker
    for r in runs:
        colour, pts = colours[r.label], ys[r.label]
        for a, b in pairwise(metrics):
            if a in pts and b in pts:  # n/a under a metric breaks the line there
                body.append(f'<line class="bump" x1="{xs[a]:.1f}" y1="{pts[a]:.1f}" '
                            f'x2="{xs[b]:.1f}" y2="{pts[b]:.1f}" stroke="{colour}" '
                            'stroke-width="3.5" stroke-linecap="round"/>')
        for m in (m for m in metrics if m in pts):
            tip = f"{r.label} · {m}: rank {by_metric[m][r.label]} ({_pct(scores[m][r.label])})"
            marks.append(f'<circle class="marker" cx="{xs[m]:.1f}" cy="{pts[m]:.1f}" r="9" '
                        f'fill="{colour}" stroke="#fff" stroke-width="1.5">'
                        f"<title>{_e(tip)}</title></circle>")
            marks.append(_text(xs[m], pts[m] + 4, str(by_metric[m][r.label]), 10, "middle",
                               "bold", "#fff"))
        # Name the line at the outer columns only: a label at an inner column (a run with
        # n/a at the edge) would run into the neighbouring lines.
        if metrics and metrics[0] in pts:
            marks.append(_text(xs[metrics[0]] - 16, pts[metrics[0]] + 4, names[r.label], 12,
                               "end", fill=colour, weight="bold"))
        if len(metrics) > 1 and metrics[-1] in pts:
            marks.append(_text(xs[metrics[-1]] + 16, pts[metrics[-1]] + 4, names[r.label], 12,
                               fill=colour, weight="bold"))
    body += marks
    if not metrics:
        body.append(_text(width / 2, top, "no results", 13, "middle"))
    return _svg(width, height, title, body, "bump")


# ------------------------------------------------------------------------------------- HTML

CSS = f"""
body {{ font-family: {FONT}; color: #222; margin: 24px 32px; background: #fff; }}
h1 {{ font-size: 24px; margin: 0 0 4px; }}
h2 {{ font-size: 19px; margin: 32px 0 10px; border-bottom: 1px solid #ddd; }}
h3 {{ font-size: 16px; margin: 20px 0 6px; }}
.meta {{ color: #666; font-size: 13px; }}
table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ padding: 4px 10px; border-bottom: 1px solid #e6e6e6; }}
th {{ background: #f4f4f4; text-align: left; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
th.group {{ text-align: center; border-left: 1px solid #ddd; }}
.sw {{ display: inline-block; width: 11px; height: 11px; border-radius: 2px;
       margin-right: 6px; vertical-align: -1px; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 20px; align-items: flex-start; }}
svg.plot {{ border: 1px solid #e2e2e2; border-radius: 4px; max-width: 100%; height: auto; }}
details {{ margin: 3px 0; font-size: 13px; }}
summary {{ cursor: pointer; }}
summary .why {{ color: #b23; }}
pre {{ background: #f7f7f7; padding: 8px 10px; margin: 4px 0 8px 18px; overflow-x: auto;
       font-size: 12px; white-space: pre-wrap; }}
"""


def _colours(runs: Sequence[RunSummary]) -> dict[str, str]:
    return {r.label: PALETTE[i % len(PALETTE)] for i, r in enumerate(runs)}


def _swatch(colour: str) -> str:
    return f'<span class="sw" style="background:{colour}"></span>'


def _leaderboard_html(runs: Sequence[RunSummary], colours: Mapping[str, str]) -> str:
    head1 = "".join(f"<th rowspan=2>{h}</th>" for h in
                    ("#", "model", "run", "suite", "tasks", "samples", "k"))
    head1 += "".join(f'<th class="group" colspan=2>{_e(m)}</th>' for m in METRICS)
    head2 = "<th>success</th><th>pass^k</th>" * len(METRICS)
    outcome_rank = ranks({r.label: r.rates.success["outcome"] for r in runs})
    rows = []
    for r in runs:
        cells = [f'<td class="num">{outcome_rank.get(r.label, "-")}</td>',
                 f"<td>{_swatch(colours[r.label])}{_e(r.label)}</td>",
                 f"<td><code>{_e(r.run_id)}</code></td>", f"<td>{_e(r.suite)}</td>",
                 *(f'<td class="num">{v}</td>' for v in (r.rates.tasks, r.rates.samples,
                                                          r.rates.k))]
        for m in METRICS:
            cells += [f'<td class="num">{_pct(r.rates.success[m])}</td>',
                      f'<td class="num">{_pct(r.rates.pass_k[m])}</td>']
        rows.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f"<p class='meta'>{_e(r.label)}: {_e(r.note)}</p>" for r in runs if r.note)
    return (f'<table class="leaderboard"><thead><tr>{head1}</tr><tr>{head2}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>{notes}")


def _categories_html(runs: Sequence[RunSummary], colours: Mapping[str, str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in ("category", "model", "samples", *METRICS))
    rows = []
    for cat in sorted({c for r in runs for c in r.categories}):
        present = [r for r in runs if cat in r.categories]
        for i, r in enumerate(present):
            cr = r.categories[cat]
            first = f'<td rowspan="{len(present)}">{_e(cat)}</td>' if i == 0 else ""
            rows.append(f"<tr>{first}<td>{_swatch(colours[r.label])}{_e(r.label)}</td>"
                        f'<td class="num">{cr.samples}</td>'
                        + "".join(f'<td class="num">{_pct(cr.success[m])}</td>' for m in METRICS)
                        + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _agreement_html(runs: Sequence[RunSummary]) -> str:
    rows = "".join(f"<tr><td>{_e(a)}</td><td>{_e(b)}</td><td class='num'>{_tau(t)}</td></tr>"
                   for (a, b), t in rank_correlation(metric_scores(runs)).items())
    return ("<p class='meta'>Kendall tau-b between the run rankings two metrics induce "
            "(+1 same order, −1 reversed; n/a with fewer than two comparable runs).</p>"
            "<table><thead><tr><th>metric</th><th>metric</th><th>tau-b</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def failure_text(v: Verdict) -> str:
    """`explain()`, plus the per-turn state differences it leaves out (per_turn failures)."""
    parts = [v.explain()]
    for t in v.turns:
        for domain, diff in t.state.items():
            parts.append(f"turn {t.turn}: state of {domain} differs:\n{diff.to_text()}")
    return "\n".join(p for p in parts if p) or "(no explanation recorded)"


def _failed_metrics(v: Verdict) -> list[str]:
    return [m for m in METRICS if getattr(v, m) is False]


def _failures_html(runs: Sequence[RunSummary], cap: int) -> str:
    out = []
    for r in runs:
        failed = sorted((v for v in r.verdicts if _failed_metrics(v)),
                        key=lambda v: (v.outcome, v.task_id, v.sample))
        out.append(f"<h3>{_e(r.label)} <span class='meta'>run {_e(r.run_id)}: "
                   f"{len(failed)} of {len(r.verdicts)} samples failed a metric</span></h3>")
        for v in failed[:cap]:
            out.append(f"<details><summary><code>{_e(v.task_id)}</code> sample {v.sample} · "
                       f"{_e(v.category)} · <span class='why'>failed: "
                       f"{_e(', '.join(_failed_metrics(v)))}</span></summary>"
                       f"<pre>{_e(failure_text(v))}</pre></details>")
        if len(failed) > cap:
            out.append(f"<p class='meta'>… {len(failed) - cap} more failed samples not shown "
                       f"(first {cap}, outcome failures first).</p>")
    return "".join(out)


def render_html(runs: Sequence[RunSummary], cap: int = FAILURES_PER_RUN) -> str:
    colours = _colours(runs)
    plots = [bar_chart(runs, m, colours) for m in METRICS] + [bump_chart(runs, colours)]
    created = time.strftime("%Y-%m-%d %H:%M")
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Evaluation report</title><style>{CSS}</style></head><body>"
        "<h1>Evaluation report</h1>"
        f"<p class='meta'>{len(runs)} run(s), generated {_e(created)}. Success = share of "
        "samples passing; pass^k = share of tasks whose first k samples all pass.</p>"
        f"<h2>Leaderboard</h2>{_leaderboard_html(runs, colours)}"
        f"<h2>Plots</h2><div class='plots'>{''.join(plots)}</div>"
        f"<h2>Success by category</h2>{_categories_html(runs, colours)}"
        f"<h2>Rank agreement between metrics</h2>{_agreement_html(runs)}"
        f"<h2>Failures</h2>{_failures_html(runs, cap)}"
        "</body></html>\n")


def html_report(store: RunStore, run_ids: Iterable[str], path: str | Path,
                k: int | None = None) -> Path:
    """Write the self-contained HTML report of the given runs (all when none) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(summarize(store, run_ids, k)), encoding="utf-8")
    return path
