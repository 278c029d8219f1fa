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

from pipeline.warehouse import sandbox
from pipeline.warehouse.labels import VOCABULARY

CHART_DIMENSIONS = ("gender", "ethnicity", "deprivation_quintile", "age_band", "channel")


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _latest(frame: pl.DataFrame) -> pl.DataFrame:
    """The rows of the latest period (a chart shows one period, never a mix)."""
    if "period" not in frame.columns or frame.is_empty():
        return frame
    return frame.filter(pl.col("period") == frame["period"].max())


def _rate_chart(frame: pl.DataFrame, dimension: str, rate: str, size: str, k: int,
                title: str) -> str | None:
    """A rate per group with its interval, the group's size in its label, the overall rate
    as a reference line, and every group of the vocabulary listed: a suppressed one reads
    "suppressed (fewer than k)" instead of being dropped."""
    plt = _plt()
    latest = _latest(frame)
    shown = {r["grp"]: r for r in latest.filter(pl.col("dimension") == dimension).iter_rows(named=True)}
    groups = sorted(VOCABULARY.get(dimension, shown.keys()) | set(shown))
    if not shown:
        return None
    overall = latest.filter(pl.col("dimension") == "overall")
    ref = overall[rate][0] if overall.height else None
    fig, ax = plt.subplots(figsize=(6.5, 0.42 * len(groups) + 1.4))
    labels = []
    for y, g in enumerate(groups):
        r = shown.get(g)
        if r is None or r[rate] is None:
            labels.append(f"{g}: suppressed (fewer than {k})")
            continue
        n = "suppressed" if r[size] is None else r[size]
        labels.append(f"{g} (n={n})")
        lo, hi = r[f"{rate}_lo"], r[f"{rate}_hi"]
        err = [[r[rate] - lo], [hi - r[rate]]] if lo is not None and hi is not None else None
        ax.errorbar([r[rate]], [y], xerr=err, fmt="o", capsize=3, color="#1f5f8b")
    if ref is not None:
        ax.axvline(ref, color="#888", linestyle="--", label=f"overall {ref:.2f}")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_yticks(range(len(groups)), labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"{rate.replace('_', ' ')} (95% Wilson interval)")
    period = latest["period"][0] if "period" in latest.columns and latest.height else ""
    ax.set_title(f"{title} by {dimension.replace('_', ' ')} {period}".strip())
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _img(alt: str, b64: str | None) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">' if b64 else ""


def _cell(v, k: int) -> str:
    if v is None:
        return f"suppressed (fewer than {k})"
    return f"{v:.0%}" if isinstance(v, float) else html.escape(str(v))


def _safety_section(safety: pl.DataFrame, recon: pl.DataFrame, k: int) -> list[str]:
    """Never-connected and within-target shares first, then the AI's missed crises."""
    e = html.escape
    within = sorted((c for c in safety.columns
                     if c.startswith("connected_within_") and c.endswith("_min_rate")),
                    key=lambda c: int(c.split("_")[2]))
    head = "".join(f"<th>reached a human within {c.split('_')[2]} min</th>" for c in within)
    parts = ["<h2>Safety: does every person in crisis reach a human in time?</h2>",
             "<p>Sessions with a high or imminent risk flag, per month. A share is of those "
             "sessions; never connected means no human took over after the flag.</p>",
             "<table><tr><th>month</th><th>group</th><th>flagged sessions</th>"
             f"<th>never connected</th>{head}</tr>"]
    rows = safety.filter(pl.col("dimension").is_in(["overall", "model_version"])).sort(
        "period", pl.col("dimension") != "overall", "grp")
    for r in rows.iter_rows(named=True):
        label = "all" if r["dimension"] == "overall" else f"model {r['grp']}"
        parts.append(f"<tr><td>{e(r['period'])}</td><td>{e(label)}</td>"
                     f"<td>{_cell(r['sessions_high_flag'], k)}</td>"
                     f"<td>{_cell(r['never_connected_rate'], k)}</td>"
                     + "".join(f"<td>{_cell(r[c], k)}</td>" for c in within) + "</tr>")
    parts.append("</table>")
    for dim in ("model_version", "ethnicity", "deprivation_quintile"):
        parts.append(_img(f"never connected by {dim}",
                          _rate_chart(safety, dim, "never_connected_rate", "sessions_high_flag", k,
                                      "Flagged sessions never connected to a human")))
    parts.append("<h3>Crises the AI may have missed</h3><table><tr><th>month</th><th>group</th>"
                 "<th>PHQ-9 item 9 answered 1+</th><th>with no high/imminent flag within 24 h</th>"
                 "<th>flagged, no escalation offered</th></tr>")
    for r in recon.sort("period", pl.col("dimension") != "overall", "grp").iter_rows(named=True):
        label = "all" if r["dimension"] == "overall" else f"model {r['grp']}"
        parts.append(f"<tr><td>{e(r['period'])}</td><td>{e(label)}</td>"
                     f"<td>{_cell(r['assessments_item9_positive'], k)}</td>"
                     f"<td>{_cell(r['item9_missed_rate'], k)}</td>"
                     f"<td>{_cell(r['no_escalation_offered_rate'], k)}</td></tr>")
    parts.append("</table>")
    parts.append(_safety_chart(safety))
    return parts


def _consent_section(coverage: pl.DataFrame, k: int) -> list[str]:
    from pipeline.governance.consent import REASONS

    e = html.escape
    parts = ["<h2>Consent gap: who is missing from the evidence, and why</h2>",
             "<table><tr><th>reason</th><th>people</th><th>share of everyone (95% interval)</th></tr>"]
    overall = coverage.filter(pl.col("dimension") == "overall")
    if overall.height:
        r = overall.row(0, named=True)
        for col in ("research_users", *REASONS):
            share = f"{col.removesuffix('_users')}_share"
            lo, hi = r.get(f"{share}_lo"), r.get(f"{share}_hi")
            interval = f" ({lo:.0%} to {hi:.0%})" if lo is not None and hi is not None else ""
            parts.append(f"<tr><td>{e(col.replace('_', ' '))}</td><td>{_cell(r[col], k)}</td>"
                         f"<td>{_cell(r[share], k)}{interval}</td></tr>")
    parts.append("</table>")
    for dim in ("age_band", "ethnicity", "deprivation_quintile"):
        parts.append(_img(f"consent coverage by {dim}",
                          _rate_chart(coverage, dim, "research_share", "users", k,
                                      "Share in the research population")))
    return parts


def _safety_chart(safety: pl.DataFrame) -> str:
    plt = _plt()
    rows = safety.filter(pl.col("median_minutes_to_connection").is_not_null()
                         & pl.col("dimension").is_in(["overall", "model_version"]))
    if rows.is_empty():
        return "<p>Too few connected sessions to show times.</p>"
    labels = [f"{p} {m}" for p, m in zip(rows["period"], rows["grp"])]
    fig, ax = plt.subplots(figsize=(6, 0.4 * rows.height + 1.2))
    y = range(rows.height)
    p90 = [float("nan") if v is None else v for v in rows["p90_minutes_to_connection"].to_list()]
    ax.barh(y, p90, color="#e4b9b9", label="90th percentile (where publishable)")
    ax.barh(y, rows["median_minutes_to_connection"].to_list(), color="#a33b3b", label="median")
    ax.set_yticks(y, labels)
    ax.set_xlabel("minutes from first high/imminent risk flag to a human (connected sessions only)")
    ax.set_title("Time to a human connection")
    ax.legend()
    return _img("escalation times", _png(fig))


def render(warehouse: Path) -> str:
    con = sandbox.connect(warehouse)
    try:
        outcomes = con.sql("SELECT * FROM outcomes_by_group").pl()
        coverage = con.sql("SELECT * FROM consent_coverage").pl()
        safety = con.sql("SELECT * FROM safety_escalation").pl()
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        recon = (con.sql("SELECT * FROM safety_reconciliation").pl()
                 if "safety_reconciliation" in tables else None)
        alerts = con.sql("SELECT * FROM safety_alerts").pl() if "safety_alerts" in tables else None
        engagement = con.sql("SELECT * FROM engagement_by_group").pl()
        release = con.sql("SELECT * FROM releases").pl().row(0, named=True)
    finally:
        con.close()
    e = html.escape
    k = release.get("minimum_group_size") or 10
    overall = outcomes.filter(pl.col("dimension") == "overall")
    parts = [f"<h1>mhpipe research release {e(release['release_id'])}</h1>",
             f"<p>Published {e(str(release['created_at']))} under policy {e(release['policy_version'])} "
             f"(code {e(release['code_version'])}). All figures are disclosure-controlled; a "
             f"figure resting on fewer than {k} people reads \"suppressed (fewer than {k})\".</p>"]
    if alerts is not None and alerts.height:
        parts.append("<h2>Safety alerts</h2><ul>" + "".join(
            f"<li>Model version {e(a['model_version'])} is worse than "
            f"{e(a['previous_model_version'])} on {e(a['measure'])} (first seen "
            f"{e(a['first_seen'])}): review its sessions in {e(a['review_dataset'])}.</li>"
            for a in alerts.iter_rows(named=True)) + "</ul>")
    parts.append("<h2>Headline figures (people who finished treatment)</h2><table><tr><th>period</th>"
                 "<th>finished treatment</th><th>recovery rate</th><th>reliable improvement rate</th>"
                 "<th>reliable deterioration rate</th></tr>")
    for r in overall.iter_rows(named=True):
        parts.append(f"<tr><td>{e(r['period'])}</td><td>{_cell(r['finished_treatment'], k)}</td>"
                     f"<td>{_cell(r['recovery_rate'], k)}</td>"
                     f"<td>{_cell(r['reliable_improvement_rate'], k)}</td>"
                     f"<td>{_cell(r['reliable_deterioration_rate'], k)}</td></tr>")
    parts.append("</table>")
    if recon is not None:
        parts += _safety_section(safety, recon, k)
    parts.append("<h2>Benefit and equity</h2>")
    for dim in CHART_DIMENSIONS:
        parts.append(_img(f"recovery by {dim}", _rate_chart(
            outcomes, dim, "recovery_rate", "caseness", k, "Recovery")))
    parts += _consent_section(coverage, k)
    parts.append(limitations(coverage, engagement, outcomes, release))
    style = ("body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;line-height:1.45}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
             "img{display:block;margin:1rem 0;max-width:100%}")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>mhpipe release "
            f"{e(release['release_id'])}</title><style>{style}</style></head><body>"
            + "\n".join(p for p in parts if p) + "</body></html>")


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
    items.append("Outcomes count people who finished treatment (two or more sessions, PHQ-9 and "
                 "GAD-7 at two or more of them), as NHS Talking Therapies does; people who left "
                 "early are not in them (see engagement_by_group for drop-out).")
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
            "SELECT period, finished_treatment, recovery_rate, reliable_improvement_rate, "
            "reliable_deterioration_rate FROM outcomes_by_group WHERE dimension = 'overall' "
            "ORDER BY period").fetchall()
        safety = con.execute(
            "SELECT period, sessions_high_flag, never_connected_rate, median_minutes_to_connection "
            "FROM safety_escalation WHERE dimension = 'overall' ORDER BY period").fetchall()
    finally:
        con.close()
    show = lambda v: "suppressed" if v is None else str(v)  # noqa: E731
    lines = [f"# Research release {rel[0]} (policy {rel[1]})", "",
             "| period | finished treatment | recovery | reliable improvement | reliable deterioration |",
             "|---|---|---|---|---|"]
    lines += [f"| {p} | {show(u)} | {show(r)} | {show(i)} | {show(d)} |" for p, u, r, i, d in rows]
    lines += ["", "| month | sessions with a high/imminent flag | never connected to a human | "
              "median minutes to a human (connected only) |", "|---|---|---|---|"]
    lines += [f"| {p} | {show(n)} | {show(c)} | {show(m)} |" for p, n, c, m in safety]
    return "\n".join(lines)
