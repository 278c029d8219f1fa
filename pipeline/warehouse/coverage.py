"""`consent_coverage`: who is in the evidence, and why the others are not.

Everyone with a session, per group, split into the research population and the four
reasons of the consent ledger (`consent.exclusion_reasons`): under the purpose's minimum
age, withdrew, consented on a form version the policy does not accept, never consented.
The counts are disclosure-controlled like every other count. The shares, with 95% Wilson
intervals, are computed from the released counts, like every rate. Shares from the exact
counts (what issue 16 first asked for) were tried and attacked: read with the rounded
counts they pinned the exact counts, and a suppressed reason, down. So 1,998 of 2,000 reads
1.0, as the rounding means it to; the column documentation says so.
"""

from __future__ import annotations

import polars as pl

from pipeline.governance.consent import REASONS
from pipeline.policy import Publication
from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse.tables import Table, long_table, people
from pipeline.warehouse.labels import DIMENSIONS

SHARES = {"research_share": "research_users", **{f"{r}_share": r for r in REASONS}}


def consent_coverage(users: pl.DataFrame, reasons: pl.DataFrame, pub: Publication) -> Table:
    data = users.join(reasons, on="subject", how="left").with_columns(
        period=pl.lit("all"), research_users=pl.col("reason").is_null(),
        **{r: (pl.col("reason") == r).fill_null(False) for r in REASONS})
    everyone = pl.col("subject").n_unique()
    stats: dict = {"users": (pl.len(), everyone)}
    for col in ("research_users", *REASONS):
        stats[col] = (pl.col(col).sum(), people(col))
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: pl.Int64 for c in stats}}
    values, contributors = long_table(data, stats, [], schema)
    spec = dc.Spec(counts={"users": None, "research_users": "users",
                           **dict.fromkeys(REASONS, "users")},
                   size="users", group_sizes=("users", "research_users"),
                   rates={s: (c, "users") for s, c in SHARES.items()}, ratios=False)
    released, n = dc.protect(values, contributors, spec, pub)
    frame = released.drop("period").sort("dimension", "grp")
    k = pub.minimum_group_size
    cols = {"dimension": "Grouping dimension: " + ", ".join(DIMENSIONS),
            "grp": "Group within the dimension",
            "users": "People with at least one session",
            "research_users": f"Of those, people whose data may be used for research (NULL under {k})",
            "under_minimum_age": "Not in the research population: under the purpose's minimum age (whatever their consent)",
            "withdrawn": "Not in the research population: their latest consent event withdrew it",
            "version_not_accepted": "Not in the research population: consented on a form version the policy does not accept",
            "not_consented": "Not in the research population: never consented to research (opt-in)"}
    for share, col in SHARES.items():
        cols[share] = (f"{col} / users, from the released (rounded) counts: 1.0 can mean all but "
                       f"a few, whom the rounding hides")
        cols[f"{share}_lo"] = f"Lower bound of the 95% Wilson interval of {share}"
        cols[f"{share}_hi"] = f"Upper bound of the 95% Wilson interval of {share}"
    return Table("consent_coverage", frame,
                 "Who is in the evidence and why not: everyone with a session, the research "
                 f"population and the reasons for the rest, per group. {dc.describe(pub)} "
                 f"Research users are a group size of the other tables, so they too need {k}+ "
                 "people.", cols, n, spec, contributors)
