"""Tiny tables for the specs: literal intake rows in, the research tables out, and text
tables to compare them with.

A spec writes its people as rows, e.g.::

    session("u1", "2026-09-07 10:00", "s1"), phq9("u1", "2026-09-07 10:05", 15),
    flag("u1", "s1", "2026-09-07 10:10", "high"), consent("u1")

`frames(rows)` turns them into the intake frames (the schemas of
`pipeline.intake.prepare._schema`, `occurred_at` parsed to UTC as `read_intake` does),
`build(rows)` runs `research.research_tables` on them (population from the real consent
ledger) and `compare(table, text)` reads an expected text table with the table's own column
types ("NULL" is a suppressed or empty cell).
"""

from __future__ import annotations

from datetime import datetime, timezone

import polars as pl

from pipeline.governance.consent import ledger
from pipeline.intake.contract import EVENT_TYPES
from pipeline.intake.prepare import _schema
from pipeline.policy import Policy, load_policy
from pipeline.warehouse.research import research_tables
from pipeline.warehouse.tables import Table
from tests.conftest import POLICIES

UTC = timezone.utc
NOW = datetime(2026, 11, 27, tzinfo=UTC)  # the consent ledger's "now" (tests.conftest.NOW)
POLICY = load_policy(POLICIES).policy  # t = 7, rounding base 5, k = 10, 0%/100% on 20+
Row = tuple[str, dict]


def with_publication(policy: Policy = POLICY, **changes) -> Policy:
    return policy.model_copy(update={"publication": policy.publication.model_copy(update=changes)})


def with_safety(policy: Policy = POLICY, **changes) -> Policy:
    return policy.model_copy(update={"safety": policy.safety.model_copy(update=changes)})


# No suppression and no rounding (t = 0, base 1, k = 1, 0%/100% on 1+), so a spec's numbers
# can be worked by hand. Below the floors that policy validation enforces: `model_copy`
# does not validate, which only a test may rely on. Specs of the disclosure rules use POLICY.
EXACT = with_publication(suppression_threshold=0, rounding_base=1, minimum_group_size=1,
                         all_or_none_min_denominator=1)


def when(at: str) -> datetime:
    return datetime.fromisoformat(at).replace(tzinfo=UTC)


def session(user: str, at: str, id: str | None = None, model: str | None = "m-1",
            channel: str = "app") -> Row:
    return "session_started", {"subject": user, "occurred_at": at, "session_id": id or f"{user} {at}",
                               "channel": channel, "locale": "en-GB", "model_version": model}


def _items(score: int, n: int, last: int | None) -> list[int]:
    """`n` items adding up to `score`; the last item is `last` when given."""
    free = n if last is None else n - 1
    rest = score - (last or 0)
    if not 0 <= rest <= 3 * free:
        raise ValueError(f"score {score} does not fit {n} items of 0-3")
    items = [3] * (rest // 3) + ([rest % 3] if rest % 3 else [])
    items += [0] * (free - len(items))
    return items + ([] if last is None else [last])


def phq9(user: str, at: str, score: int, session: str | None = None, item9: int = 0) -> Row:
    """A PHQ-9 whose items add up to `score`; item 9 (thoughts of self-harm) is `item9`."""
    return "assessment", {"subject": user, "occurred_at": at, "session_id": session,
                          "instrument": "PHQ-9", "items": _items(score, 9, item9), "total": score}


def gad7(user: str, at: str, score: int, session: str | None = None) -> Row:
    return "assessment", {"subject": user, "occurred_at": at, "session_id": session,
                          "instrument": "GAD-7", "items": _items(score, 7, None), "total": score}


def flag(user: str, session: str, at: str, level: str) -> Row:
    return "risk_flag", {"subject": user, "occurred_at": at, "session_id": session,
                         "level": level, "source": "model"}


def escalation(user: str, session: str, at: str, action: str) -> Row:
    return "escalation", {"subject": user, "occurred_at": at, "session_id": session,
                          "action": action, "target": "crisis_line"}


def consent(user: str, action: str = "granted", version: str = "2", at: str = "2026-08-01 00:00",
            purpose: str = "research") -> Row:
    return "consent", {"subject": user, "occurred_at": at, "purpose": purpose, "action": action,
                       "consent_version": version}


def profile(user: str, at: str = "2026-08-01 00:00", **fields) -> Row:
    """fields: birth_year, gender, ethnicity, postcode, language, deprivation_decile."""
    return "profile", {"subject": user, "occurred_at": at, **fields}


def frames(rows: list[Row]) -> dict[str, pl.DataFrame]:
    """Every intake frame (empty when no row has its type), intake schemas."""
    out = {}
    for t in EVENT_TYPES:
        schema = {**_schema(t), "occurred_at": pl.Datetime("us", "UTC")}
        mine = [r for kind, r in rows if kind == t]
        for r in mine:
            unknown = set(r) - set(schema)
            if unknown:
                raise ValueError(f"{t} has no column {sorted(unknown)}")
        data = [tuple({"record_id": f"{t}-{i}", "event_type": t, **r,
                       "occurred_at": when(r["occurred_at"])}.get(c) for c in schema)
                for i, r in enumerate(mine)]
        out[t] = pl.DataFrame(data, schema=schema, orient="row")
    return out


def population(f: dict[str, pl.DataFrame], policy: Policy = POLICY, now: datetime = NOW
               ) -> tuple[set[str], pl.DataFrame]:
    """(research population, reason per person), from the consent ledger as a run does."""
    subjects = {s for frame in f.values() for s in frame["subject"].to_list()}
    consent = ledger(f, subjects, policy, now)
    purpose = policy.publication.purpose
    return consent.allowed[purpose], consent.reasons(purpose)


def build(rows: list[Row], policy: Policy = EXACT, cutoff: str | None = None) -> dict[str, Table]:
    """Every research table (by name) of `rows`, as a release with `cutoff` would have it."""
    f = frames(rows)
    research, reasons = population(f, policy)
    tables = research_tables(f, research, policy, reasons, when(cutoff) if cutoff else None)
    return {t.name: t for t in tables}


def _cell(text: str, dtype: pl.DataType):
    text = text.strip()
    if text == "NULL":
        return None
    if dtype.is_integer():
        return int(text)
    if dtype.is_float():
        return float(text)
    if dtype == pl.Boolean:
        return {"T": True, "F": False}[text]
    return text


def compare(table: Table | pl.DataFrame, text: str, transposed: bool = False
            ) -> tuple[list[dict], list[dict]]:
    """(actual, expected): `text` is a table, a header of column names then one row per
    line, cells split by "|" (`transposed`: one column per line, its name then its values),
    read with the table's column types. Actual: the table's rows (in its order) of the
    periods and dimensions the expected rows name, those columns only, so a missing or an
    extra group shows."""
    frame = table.frame if isinstance(table, Table) else table
    grid = [[c.strip() for c in ln.split("|")] for ln in text.strip().splitlines() if ln.strip()]
    widths = {len(r) for r in grid}
    assert len(widths) == 1, f"rows of {sorted(widths)} cells: {grid}"
    if transposed:
        grid = [list(r) for r in zip(*grid)]
    header = grid[0]
    missing = [c for c in header if c not in frame.columns]
    assert not missing, f"no column {missing} in {frame.columns}"
    expected = [{c: _cell(v, frame.schema[c]) for c, v in zip(header, r)} for r in grid[1:]]
    for key in ("period", "dimension"):
        if key in header:
            frame = frame.filter(pl.col(key).is_in([r[key] for r in expected]))
    return frame.select(header).to_dicts(), expected
