"""`consent_coverage`: who is in the evidence, and why the others are not.

Everyone with a session, per group, split into the research population and the four
reasons of the consent ledger (`consent.exclusion_reasons`): under the purpose's minimum
age, withdrew, consented on a form version the policy does not accept, never consented.
The counts are disclosure-controlled like every other count. The shares are computed from
the exact counts (so 1,996 of 2,000 reads 0.99 or 1.0 only when it is, not 1.0 because both
round to 2,000), with 95% Wilson intervals, and released rounded (`dc.round_share`).
"""

from __future__ import annotations

import polars as pl

from ..consent import REASONS
from ..policy import Publication
from . import disclosure_control as dc
from .analytics import Table, _long, _people
from .labels import DIMENSIONS

SHARES = {"research_share": "research_users", **{f"{r}_share": r for r in REASONS}}


def consent_coverage(users: pl.DataFrame, reasons: pl.DataFrame, pub: Publication) -> Table:
    data = users.join(reasons, on="subject", how="left").with_columns(
        period=pl.lit("all"), research_users=pl.col("reason").is_null(),
        **{r: (pl.col("reason") == r).fill_null(False) for r in REASONS})
    everyone = pl.col("subject").n_unique()
    stats: dict = {"users": (pl.len(), everyone)}
    for col in ("research_users", *REASONS):
        stats[col] = (pl.col(col).sum(), _people(col))
    for share, col in SHARES.items():  # exact: from the unrounded counts of the group
        k, n = pl.col(col).sum(), pl.len()
        stats[share] = ((k / n), everyone)
        stats[f"{share}_lo"] = (dc.wilson(k, n, lower=True), everyone)
        stats[f"{share}_hi"] = (dc.wilson(k, n, lower=False), everyone)
    schema = {"period": pl.String, "dimension": pl.String, "grp": pl.String,
              **{c: (pl.Float64 if c.endswith(("_share", "_lo", "_hi")) else pl.Int64)
                 for c in stats}}
    values, contributors = _long(data, stats, [], schema)
    spec = dc.Spec(counts={"users": None, "research_users": "users",
                           **dict.fromkeys(REASONS, "users")},
                   size="users", group_sizes=("users", "research_users"),
                   shares={s: (c, "users") for s, c in SHARES.items()}, ratios=False)
    released, n = dc.protect(values, contributors, spec, pub)
    people = dict(zip(contributors.select(pl.concat_str("dimension", "grp", separator="\x00"))
                      .to_series().to_list(), contributors[dc.ROW].to_list()))
    rows = []
    for r in released.iter_rows(named=True):
        size = people.get(f"{r['dimension']}\x00{r['grp']}", 0)
        for share in SHARES:
            r[share] = dc.round_share(r[share], size, pub)
            for side in ("lo", "hi"):
                r[f"{share}_{side}"] = dc.round_share(r[f"{share}_{side}"], size, pub, bound=side)
        rows.append(r)
    frame = dc.drop_orphan_shares(pl.DataFrame(rows, schema=released.schema), spec)
    frame = frame.drop("period").sort("dimension", "grp")
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
        cols[share] = (f"{col} / users, from the exact counts, rounded to a step of at least "
                       f"{pub.rounding_base} people (0 or 1 only when exact, on "
                       f"{pub.all_or_none_min_denominator}+ people)")
        cols[f"{share}_lo"] = f"Lower bound of the 95% Wilson interval of {share} (exact counts, rounded down)"
        cols[f"{share}_hi"] = f"Upper bound of the 95% Wilson interval of {share} (exact counts, rounded up)"
    return Table("consent_coverage", frame,
                 "Who is in the evidence and why not: everyone with a session, the research "
                 f"population and the reasons for the rest, per group. {dc.describe(pub)} "
                 f"Research users are a group size of the other tables, so they too need {k}+ "
                 "people.", cols, n, spec, contributors)
