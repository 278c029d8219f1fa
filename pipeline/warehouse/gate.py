"""The cross-release gate: no published cell may change because of fewer than k people.

Two releases can be subtracted. Before a release is swapped in, every gated statistic (each
count, mean and percentile) is compared with the same cell of every retained release: if
its value differs from a retained release's while the number of people behind it differs
by fewer than `minimum_group_size`, the change could be pinned on those few people, so the
cell is *held* at its value in the latest release (with that release's contributor count).
A row present in the latest release but gone now (its group emptied) is carried over as it
was. Rates and intervals are then recomputed from the gated counts. The decisions are
counted in the release metadata.

The history the gate needs (the values and contributor counts of every release ever
published, including those since deleted from the publish folder, since a researcher may
keep copies) is kept privately in the data folder (`vault/releases/<id>/<table>.parquet`,
0600), never published. A held or carried cell whose value today would not be shown counts
as hidden for secondary suppression (rule 5), which is applied again to the gated table.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import polars as pl

from pipeline.warehouse import disclosure_control as dc
from pipeline.warehouse.tables import Table

N = "@n"  # suffix of a statistic's contributor count in the history


@dataclass(frozen=True)
class Decisions:
    cells_held: int = 0
    rows_carried: int = 0
    releases_compared: int = 0
    cells_resuppressed: int = 0


def _stats(spec: dc.Spec) -> list[str]:
    return [*spec.counts, *spec.means, *spec.percentiles]


def _keys(frame: pl.DataFrame) -> list[str]:
    return [c for c in dc.KEYS if c in frame.columns]


def history_frame(t: Table) -> pl.DataFrame:
    """Keys, the row's people, and per gated statistic its released value and one
    contributor count (a percentile's: the smaller of its two sides)."""
    keys = _keys(t.frame)
    n = t.contributors.select(*keys, dc.ROW, *[
        (pl.min_horizontal(c + dc.BELOW, c + dc.ABOVE) if c in t.spec.percentiles else pl.col(c))
        .alias(c + N) for c in _stats(t.spec)])
    return t.frame.select(*keys, *_stats(t.spec)).join(n, on=keys, how="left", nulls_equal=True)


def gate(t: Table, history: list[pl.DataFrame], pub) -> tuple[Table, Decisions]:
    """Gate one table against the history of retained releases (latest first)."""
    if t.spec is None or not history:
        return t, Decisions(releases_compared=len(history))
    keys, stats, k = _keys(t.frame), _stats(t.spec), pub.minimum_group_size
    now = history_frame(t)
    current = {tuple(r[c] for c in keys): r for r in now.iter_rows(named=True)}
    past = [{tuple(r[c] for c in keys): r for r in h.iter_rows(named=True)} for h in history]
    latest = past[0]
    held = carried = 0
    # (row key, count) shown at an old value while today's value may not be shown at all
    # (suppressed, or its row left out): today's value must not be recoverable by subtraction
    stale: set[tuple] = set()
    rows = []
    for key in sorted(set(current) | set(latest), key=lambda x: tuple(str(v) for v in x)):
        if key not in current:  # the group emptied: carry its last published row
            rows.append(dict(latest[key]))
            carried += 1
            stale.update((key, c) for c in t.spec.counts)
            continue
        row = dict(current[key])
        for c in stats:
            v, n = row[c], row[c + N] or 0
            moved = any(key in p and p[key][c] != v and abs(n - (p[key][c + N] or 0)) < k
                        for p in past)
            if moved:
                prev = latest.get(key)
                row[c] = prev[c] if prev else None
                row[c + N] = prev[c + N] if prev else 0
                if prev is not None:
                    row[dc.ROW] = max(row[dc.ROW] or 0, prev[dc.ROW] or 0)
                held += 1
                if v is None and c in t.spec.counts:
                    stale.add((key, c))
        rows.append(row)
    gated = pl.DataFrame(rows, schema=now.schema, orient="row")
    # Held and fresh cells side by side can reopen a lone hidden cell to subtraction (a held
    # sibling next to a fresh total): rule 5 again, on every group's row, published or not.
    # A held or carried cell whose value today may not be shown would be total minus its
    # siblings: for rule 5 it counts as hidden, so a lone one gets a sibling hidden too.
    counts = list(t.spec.counts)

    def at(r: dict) -> tuple:
        return tuple(r[k] for k in keys)

    full = [{**r, **{c: None for c in counts if (at(r), c) in stale}}
            for r in dc.full_rows(gated.select(*keys, *counts), t.contributors)]
    before = {(at(r), c) for r in full for c in counts if r[c] is None}
    resuppressed = dc.settle(full, counts, lambda i, c: full[i][c])
    hide = {(at(r), c) for r in full for c in counts if r[c] is None} - before
    # ... and rule 5 on what is published, as `check` will verify it
    shown = [{**r, **{c: None for c in counts if (at(r), c) in hide}}
             for r in dc.full_rows(gated.select(*keys, *counts), t.contributors)]
    seen = {(at(r), c) for r in shown for c in counts if r[c] is None}
    resuppressed += dc.settle(shown, counts, lambda i, c: shown[i][c])
    hide |= {(at(r), c) for r in shown for c in counts if r[c] is None} - seen
    if hide:
        gated = pl.DataFrame([{**r, **{c: None for c in counts if (at(r), c) in hide}}
                              for r in gated.iter_rows(named=True)], schema=gated.schema)
    effective = gated.select(*keys, dc.ROW, *[
        pl.col(c + N).alias(c) for c in stats if c not in t.spec.percentiles], *[
        e for c in t.spec.percentiles
        for e in (pl.col(c + N).alias(c + dc.BELOW), pl.col(c + N).alias(c + dc.ABOVE))])
    # every group's contributor counts (left-out rows too: rule 5 needs them), with the
    # published rows' counts as the gate left them
    contributors = t.contributors.update(
        effective.cast({c: t.contributors.schema[c] for c in effective.columns
                        if c in t.contributors.columns}),
        on=keys, how="full", include_nulls=True)
    released = dc.add_rates(gated.select(*keys, *stats), contributors, t.spec, pub)
    frame = released.select(t.frame.columns).sort(keys, nulls_last=True)
    return (replace(t, frame=frame, contributors=contributors),
            Decisions(held, carried, len(history), resuppressed))


def gate_all(tables: list[Table], store: Path, retained: list[str], pub
             ) -> tuple[list[Table], Decisions]:
    """Gate every table against the retained releases' history (`retained`: release ids,
    oldest first). Returns the gated tables and the summed decisions."""
    out, total = [], Decisions()
    for t in tables:
        history = []
        for rid in reversed(retained):
            f = store / rid / f"{t.name}.parquet"
            if f.exists():
                history.append(pl.read_parquet(f))
        g, d = gate(t, history, pub)
        out.append(g)
        total = Decisions(total.cells_held + d.cells_held, total.rows_carried + d.rows_carried,
                          max(total.releases_compared, d.releases_compared),
                          total.cells_resuppressed + d.cells_resuppressed)
    return out, total


def save(store: Path, release_id: str, tables: list[Table]) -> None:
    """Keep a release's values and contributor counts for the gate (private, 0600)."""
    folder = store / release_id
    tmp = store / f".{release_id}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True, mode=0o700)
    for t in tables:
        if t.spec is not None and t.contributors is not None:
            path = tmp / f"{t.name}.parquet"
            history_frame(t).write_parquet(path)
            os.chmod(path, 0o600)
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
