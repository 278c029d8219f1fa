"""A self-contained HTML report of one research release: charts (images embedded), headline
figures, and a Limitations section written from the data.

Reads the release through the researcher sandbox; uses only released (disclosure-controlled)
numbers. `headline_markdown` gives the headline figures for the orchestrator's artifact.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import polars as pl

from . import sandbox

CHART_DIMENSIONS = ("gender", "ethnicity", "deprivation_quintile", "age_band", "channel")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _rate_chart(outcomes: pl.DataFrame, dimension: str, measure: str) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (outcomes.filter(pl.col("dimension") == dimension)
            .group_by("grp").agg(pl.col(f"{measure}_rate").drop_nulls().last(),
                                 pl.col(f"{measure}_rate_lo").drop_nulls().last(),
                                 pl.col(f"{measure}_rate_hi").drop_nulls().last())
            .drop_nulls().sort("grp"))
    if rows.is_empty():
        return None
    fig, ax = plt.subplots(figsize=(6, 0.45 * rows.height + 1.2))
    rate = rows[f"{measure}_rate"].to_list()
    lo = [r - x for r, x in zip(rate, rows[f"{measure}_rate_lo"].to_list())]
    hi = [x - r for r, x in zip(rate, rows[f"{measure}_rate_hi"].to_list())]
    ax.errorbar(rate, range(rows.height), xerr=[lo, hi], fmt="o", capsize=3, color="#1f5f8b")
    ax.set_yticks(range(rows.height), rows["grp"].to_list())
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{measure.replace('_', ' ')} rate (95% Wilson interval)")
    ax.set_title(f"{measure.replace('_', ' ').capitalize()} by {dimension.replace('_', ' ')}")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _coverage_chart(coverage: pl.DataFrame) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = coverage.filter(pl.col("research_share").is_not_null() & (pl.col("dimension") != "overall"))
    if rows.is_empty():
        return None
    labels = [f"{d}: {g}" for d, g in zip(rows["dimension"], rows["grp"])]
    fig, ax = plt.subplots(figsize=(6, 0.28 * rows.height + 1.2))
    ax.barh(range(rows.height), rows["research_share"].to_list(), color="#6a8f3b")
    ax.set_yticks(range(rows.height), labels, fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of users whose data may be used for research")
    ax.set_title("Consent coverage: who is in the evidence")
    return _png(fig)


def _safety_chart(safety: pl.DataFrame) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = safety.filter(pl.col("median_minutes_to_connection").is_not_null())
    if rows.is_empty():
        return None
    labels = [f"{p} {m}" for p, m in zip(rows["period"], rows["grp"])]
    fig, ax = plt.subplots(figsize=(6, 0.4 * rows.height + 1.2))
    y = range(rows.height)
    p90 = [float("nan") if v is None else v for v in rows["p90_minutes_to_connection"].to_list()]
    ax.barh(y, p90, color="#e4b9b9", label="90th percentile (where publishable)")
    ax.barh(y, rows["median_minutes_to_connection"].to_list(), color="#a33b3b", label="median")
    ax.set_yticks(y, labels)
    ax.set_xlabel("minutes from first high/imminent risk flag to a human")
    ax.set_title("Crisis escalation: time to a human connection")
    ax.legend()
    return _png(fig)


def render(warehouse: Path) -> str:
    con = sandbox.connect(warehouse)
    try:
        outcomes = con.sql("SELECT * FROM outcomes_by_group").pl()
        coverage = con.sql("SELECT * FROM consent_coverage").pl()
        safety = con.sql("SELECT * FROM safety_escalation").pl()
        engagement = con.sql("SELECT * FROM engagement_by_group").pl()
        release = con.sql("SELECT * FROM releases").pl().row(0, named=True)
    finally:
        con.close()
    e = html.escape
    overall = outcomes.filter(pl.col("dimension") == "overall")
    parts = [f"<h1>mhpipe research release {e(release['release_id'])}</h1>",
             f"<p>Published {e(release['created_at'])} under policy {e(release['policy_version'])} "
             f"(code {e(release['code_version'])}). All figures are disclosure-controlled.</p>",
             "<h2>Headline figures</h2><table><tr><th>period</th><th>people with outcomes</th>"
             "<th>recovery rate</th><th>reliable improvement rate</th><th>reliable deterioration rate</th></tr>"]
    for r in overall.iter_rows(named=True):
        def cell(v):
            return "suppressed" if v is None else e(str(v))
        parts.append(f"<tr><td>{e(r['period'])}</td><td>{cell(r['users'])}</td>"
                     f"<td>{cell(r['recovery_rate'])}</td><td>{cell(r['reliable_improvement_rate'])}</td>"
                     f"<td>{cell(r['reliable_deterioration_rate'])}</td></tr>")
    parts.append("</table><h2>Benefit and equity</h2>")
    for dim in CHART_DIMENSIONS:
        img = _rate_chart(outcomes, dim, "recovery")
        if img:
            parts.append(f'<img alt="recovery by {e(dim)}" src="data:image/png;base64,{img}">')
    parts.append("<h2>Safety</h2>")
    img = _safety_chart(safety)
    parts.append(f'<img alt="escalation times" src="data:image/png;base64,{img}">' if img
                 else "<p>Too few escalations to show times.</p>")
    parts.append("<h2>Consent coverage</h2>")
    img = _coverage_chart(coverage)
    if img:
        parts.append(f'<img alt="consent coverage" src="data:image/png;base64,{img}">')
    parts.append(limitations(coverage, engagement, outcomes, release))
    style = ("body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;line-height:1.45}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
             "img{display:block;margin:1rem 0;max-width:100%}")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>mhpipe release "
            f"{e(release['release_id'])}</title><style>{style}</style></head><body>"
            + "\n".join(parts) + "</body></html>")


def limitations(coverage: pl.DataFrame, engagement: pl.DataFrame, outcomes: pl.DataFrame,
                release: dict) -> str:
    e = html.escape
    items = []
    overall = coverage.filter(pl.col("dimension") == "overall")
    share = overall["research_share"][0] if overall.height else None
    if share is not None:
        items.append(f"Only {share:.0%} of users allowed their data to be used for research; the "
                     "tables describe them, not everyone who used the service.")
    low = (coverage.filter(pl.col("research_share").is_not_null() & (pl.col("dimension") != "overall"))
           .sort("research_share").head(3))
    if low.height:
        groups = ", ".join(f"{d} {g} ({s:.0%})" for d, g, s in
                           zip(low["dimension"], low["grp"], low["research_share"]))
        items.append(f"Least represented groups: {e(groups)}.")
    hidden = coverage.filter(pl.col("users").is_null()).height
    items.append(f"{release['suppressed_cells']} count cells are suppressed in this release "
                 f"({hidden} consent-coverage groups entirely); small groups cannot be compared.")
    if release.get("deid_recall_synthetic") is not None:
        items.append(
            "De-identification recall measured for this engine: "
            f"{release['deid_recall_synthetic']:.3f} on synthetic ground truth, "
            f"{release['deid_recall_wnut_person']:.3f} (people) and "
            f"{release['deid_recall_wnut_location']:.3f} (places) on WNUT-17; identifiers it "
            "misses can remain in the individual-level datasets (never in these tables).")
    else:
        items.append("De-identification figures were not measured for this release "
                     "(run `mhpipe deid-eval`).")
    items.append("Outcomes need a baseline and a final assessment 14+ days apart: people who "
                 "left early are not in the outcome tables (see engagement_by_group for drop-out).")
    if str(release.get("mechanism") or "").startswith("zCDP"):
        items.append(f"Every figure carries random noise (differential privacy, rho "
                     f"{release.get('rho_spent')} for this release); intervals include it. "
                     "Medians and percentiles are not published in this mode.")
    elif release.get("gate_cells_held"):
        items.append(f"{release['gate_cells_held']} cells keep their value from an earlier "
                     "release, because fewer than the minimum group of people changed them.")
    items.append("Rates come from rounded counts; intervals reflect sampling (and noise, where "
                 "added) only, not selection by consent or engagement. Nothing here shows causation.")
    return "<h2>Limitations</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def headline_markdown(release: Path) -> str:
    """Headline figures of a release, as markdown (aggregates only)."""
    con = sandbox.connect(release)
    try:
        rel = con.execute("SELECT release_id, policy_version FROM releases").fetchall()[0]
        rows = con.execute(
            "SELECT period, users, recovery_rate, reliable_improvement_rate, reliable_deterioration_rate "
            "FROM outcomes_by_group WHERE dimension = 'overall' ORDER BY period").fetchall()
        safety = con.execute(
            "SELECT period, sessions_high_flag, median_minutes_to_connection FROM safety_escalation "
            "WHERE dimension = 'overall' ORDER BY period").fetchall()
    finally:
        con.close()
    show = lambda v: "suppressed" if v is None else str(v)  # noqa: E731
    lines = [f"# Research release {rel[0]} (policy {rel[1]})", "",
             "| period | people | recovery | reliable improvement | reliable deterioration |",
             "|---|---|---|---|---|"]
    lines += [f"| {p} | {show(u)} | {show(r)} | {show(i)} | {show(d)} |" for p, u, r, i, d in rows]
    lines += ["", "| month | sessions with a high/imminent flag | median minutes to a human |",
              "|---|---|---|"]
    lines += [f"| {p} | {show(n)} | {show(m)} |" for p, n, m in safety]
    return "\n".join(lines)
