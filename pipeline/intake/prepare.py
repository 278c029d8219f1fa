"""Intake: turn a parsed file into encrypted, de-identified records in the vault.

Per event: the user id becomes a keyed pseudonym (the intake purpose's key), the session id
too, the event id becomes the record id (so a repeated event id is a duplicate, across files
and runs), message text is de-identified, and the rest is kept as typed by the contract.
Nothing of the raw line survives except through those transformations. Unknown extra
fields were already dropped by the contract models.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence
from datetime import datetime, timedelta, timezone

import polars as pl

from pipeline import failpoints
from pipeline.intake.contract import EVENT_MODELS, EVENT_TYPES, Event, Message, SessionStarted
from pipeline.deid import Operator, Span
from pipeline.intake.ingest import ParsedFile
from pipeline.vault.keystore import KeyStore
from pipeline.policy import LoadedPolicy
from pipeline.vault.expiry import clear_expiry
from pipeline.intake.pseudonym import pseudonymise, secret_name
from pipeline.vault.store import FileOutcome, NewRecord, Vault

INTAKE_DATASET = "intake"
INTAKE_PURPOSE = "intake"
Analyzer = Callable[[Sequence[str]], list[list[Span]]]


@dataclass
class IntakeResult:
    outcome: FileOutcome
    messages: int = 0
    withheld: int = 0  # messages whose text was not kept: no model for their locale
    entities: Counter[str] = field(default_factory=Counter)


def _payload(event: Event, key: bytes) -> dict:
    data = event.model_dump(mode="json", exclude={"event_id", "user_id", "schema_version"})
    data["occurred_at"] = event.occurred_at.astimezone(timezone.utc).isoformat()
    if event.session_id is not None:
        data["session_id"] = pseudonymise(key, "session", event.session_id)
    return data


def _renderers(policy: LoadedPolicy, keys: KeyStore, intake_key: bytes) -> dict[str, Callable[[], Operator]]:
    """Operator factories: the intake's own, and one per individual dataset that keeps
    transcripts (its operators over the global ones, hashing under its purpose's key)."""
    deid = policy.policy.deidentification
    entities = frozenset(deid.entities)
    out: dict[str, Callable[[], Operator]] = {
        INTAKE_DATASET: lambda: Operator(deid.default_operator, intake_key, dict(deid.operators), entities,
                                        deid.public_numbers)
    }
    for name, ds in policy.policy.datasets.items():
        if ds.keeps_transcripts:
            per = {**deid.operators, **ds.operators}
            ds_key = keys.secret(secret_name(ds.purpose))
            out[name] = (lambda per=per, ds_key=ds_key:
                         Operator(deid.default_operator, ds_key, per, entities,
                                  deid.public_numbers))
    return out


def _language(locale: str) -> str:
    return locale.split("-")[0].lower()


@dataclass
class Prepared:
    """One file turned into records, not yet written anywhere."""

    result: IntakeResult
    records: list[NewRecord]
    commit: bool  # False when the file vanished while being read: it is not recorded


def prepare_file(
    parsed: ParsedFile,
    vault: Vault,
    keys: KeyStore,
    analyze: Analyzer,
    policy: LoadedPolicy,
    now: datetime,
) -> Prepared:
    """Validate, pseudonymise and de-identify one parsed file (the vault is only read).

    Message text is analysed once; each dataset that keeps transcripts gets its own rendering
    (its operators), stored inside the encrypted intake record, since the raw text is never
    kept. Texts of sessions whose locale has no configured model are not kept at all."""
    key = keys.secret(secret_name(INTAKE_PURPOSE))
    retention = timedelta(days=policy.policy.intake.retention_days)
    languages = set(policy.policy.deidentification.languages)

    erased = vault.erased_subjects()
    keep: list[Event] = []
    expired = 0
    for ev in parsed.events:
        if ev.occurred_at + retention <= now:
            expired += 1  # already past retention when it arrived
        elif erased and pseudonymise(key, "user", ev.user_id) in erased:
            expired += 1  # the person asked for erasure: their events are never kept again
        else:
            keep.append(ev)

    ids = {ev.event_id: "i" + pseudonymise(key, "event", ev.event_id) for ev in keep}
    already = vault.existing_ids(list(ids.values()))
    new = [ev for ev in keep if ids[ev.event_id] not in already]

    locales = {ev.session_id: ev.locale for ev in parsed.events if isinstance(ev, SessionStarted)}
    messages, withheld = [], set()
    for ev in new:
        if isinstance(ev, Message):
            locale = locales.get(ev.session_id)
            if locale is not None and _language(locale) not in languages:
                withheld.add(ev.event_id)  # fail closed: no model for this language
            else:
                messages.append(ev)
    spans = analyze([m.text for m in messages])
    failpoints.hit("deid-done")
    renderers = _renderers(policy, keys, key)
    operators: dict[tuple[str, str], Operator] = {}
    rendered: dict[str, dict[str, str]] = {}
    entities: Counter[str] = Counter()  # every type found is replaced (fail closed), listed or not
    # Conversation order, so placeholder numbers follow the dialogue.
    order = sorted(range(len(messages)), key=lambda i: (messages[i].session_id, messages[i].turn))
    for i in order:
        msg, found = messages[i], spans[i]
        rendered[msg.event_id] = {
            name: operators.setdefault((name, msg.session_id), make()).apply(msg.text, found)
            for name, make in renderers.items()
        }
        entities.update(s.entity_type for s in found)

    records = []
    for ev in new:
        payload = _payload(ev, key)
        if isinstance(ev, Message):
            texts = rendered.get(ev.event_id)
            payload["text"] = texts.pop(INTAKE_DATASET) if texts else None
            payload["renderings"] = json.dumps(texts, sort_keys=True) if texts else None
            if ev.event_id in withheld:
                payload["withheld"] = "no de-identification model for the session's locale"
        records.append(NewRecord(
            record_id=ids[ev.event_id],
            dataset=INTAKE_DATASET,
            subject=pseudonymise(key, "user", ev.user_id),
            payload=payload,
            expires_at=clear_expiry(ev.occurred_at + retention, INTAKE_DATASET,
                                    policy.policy.intake.retention_days, key),
            kind="message" if isinstance(ev, Message) else "event",
        ))

    outcome = FileOutcome(
        sha256=parsed.raw.sha256,
        name=parsed.raw.name,
        lines_read=parsed.lines_read,
        loaded=len(new),
        duplicates=parsed.in_file_duplicates + (len(keep) - len(new)),
        quarantined=len(parsed.quarantined),
        excluded=expired,
        file_error=parsed.file_error,
    )
    # A vanished file is not recorded: it will be picked up again if it comes back.
    commit = parsed.file_error is None or parsed.raw.path.exists()
    return Prepared(IntakeResult(outcome, len(messages), len(withheld), entities), records, commit)


_MESSAGE_MARK = b'"event_type":"message"'


def read_intake(vault: Vault, messages: bool = True) -> dict[str, pl.DataFrame]:
    """Decrypt the intake store into one frame per event type (with `record_id`, `subject`).

    `messages=False` leaves the message frame empty: the aggregates never need message
    rows, and they are most of the store, so memory stays proportional to the other events.

    `occurred_at` is parsed to UTC datetimes. Only the caller's process ever sees these
    frames; they are never written anywhere in clear.
    """
    schemas = {t: _schema(t) for t in EVENT_TYPES}
    rows: dict[str, list[tuple]] = {t: [] for t in EVENT_TYPES}
    chunks: dict[str, list[pl.DataFrame]] = {t: [] for t in EVENT_TYPES}

    def flush(event_type: str) -> None:
        # Columnar chunks as we go: a list of dicts for the whole store would need several
        # times the memory of the frame.
        if rows[event_type]:
            chunks[event_type].append(pl.DataFrame(
                rows[event_type], schema=schemas[event_type], orient="row"))
            rows[event_type] = []

    keep = None if messages else (lambda plain: _MESSAGE_MARK not in plain)
    skip = None if messages else "message"  # not fetched at all (rows of unknown kind are)
    for record_id, subject, payload in vault.read(INTAKE_DATASET, keep=keep, skip_kind=skip):
        payload["record_id"] = record_id
        payload["subject"] = subject
        event_type = payload["event_type"]
        rows[event_type].append(tuple(payload.get(c) for c in schemas[event_type]))
        if len(rows[event_type]) >= _CHUNK_ROWS:
            flush(event_type)
    frames = {}
    for event_type in EVENT_TYPES:
        flush(event_type)
        frame = (pl.concat(chunks[event_type]) if chunks[event_type]
                 else pl.DataFrame(schema=schemas[event_type]))
        chunks[event_type] = []
        frames[event_type] = frame.sort("record_id").with_columns(
            pl.col("occurred_at").str.to_datetime(
                "%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", time_unit="us"
            )
        )
    return frames


_CHUNK_ROWS = 20_000


def _schema(event_type: str) -> dict[str, pl.DataType]:
    model = EVENT_MODELS[event_type]
    columns = ["record_id", "subject"] + [
        c for c in model.model_fields if c not in ("event_id", "user_id", "schema_version")
    ] + (["renderings", "withheld"] if event_type == "message" else [])
    return {c: _POLARS_TYPES.get(c, pl.String) for c in columns}


_POLARS_TYPES = {
    "turn": pl.Int64, "birth_year": pl.Int64, "deprivation_decile": pl.Int64,
    "total": pl.Int64, "items": pl.List(pl.Int64),
}
