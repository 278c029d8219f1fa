"""Synthetic raw session logs: contract-valid, deterministic per seed, with ground truth.

Users get profiles, consent events (grants, some withdrawals) for `research` and
`quality_improvement`, several sessions of user/assistant turns, PHQ-9 and GAD-7 at baseline
and follow-up (trajectories differ by deprivation and channel, so equity tables have
something to show), risk flags and escalations. User messages carry fake identifiers from
Faker; every inserted span is listed in a ground-truth CSV (event_id, start, end,
entity_type) for de-identification evaluation. `fault_rate` mixes in contract violations of
every kind the contract lists, plus repeated events (duplicates).

All data is fake. The generator never reads real data.
"""

from __future__ import annotations

import csv
import gzip
import json
import random
import string
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from faker import Faker

BASE_DATE = datetime(2026, 9, 1, tzinfo=timezone.utc)
FAULT_KINDS = (
    "bad_json", "bad_utf8", "missing_field", "mistyped_field", "unknown_event_type",
    "no_offset", "item_count", "total_mismatch", "text_too_long", "not_an_object",
)
GENDERS = ["female", "Female", "woman", "male", "Male", "man", "non-binary", "nonbinary",
           "prefer not to say", "trans woman", "agender"]
ETHNICITIES = ["White British", "white", "Asian British - Indian", "Pakistani", "Black African",
               "Black Caribbean", "Mixed", "Chinese", "Other", "prefer not to say"]
LANGUAGES = ["English", "english", "Polish", "Urdu", "Welsh", "Punjabi"]
CHANNELS = ["app", "app", "web", "sms", "voice"]
MODELS = ["mh-assist-1.2", "mh-assist-1.3"]  # 1.3 rolls out over the period
UNSAFE_MODEL = "mh-assist-1.4"  # with `unsafe_model`: never connects a flagged session

# Identifier templates: (template, entity types of its slots, in order)
ID_TEMPLATES = [
    ("my name is {first}", ["PERSON"]),
    ("my name is {first} {last}", ["PERSON"]),
    ("i'm {first_lower} btw", ["PERSON"]),
    ("call me {first_lower}", ["PERSON"]),
    ("my sister {first} doesn't get it", ["PERSON"]),
    ("you can text me on {phone}", ["PHONE_NUMBER"]),
    ("my number is {phone}", ["PHONE_NUMBER"]),
    ("email me at {email} if that's easier", ["EMAIL_ADDRESS"]),
    ("i live at {street}, {postcode}", ["STREET_ADDRESS", "UK_POSTCODE"]),
    ("my postcode is {postcode}", ["UK_POSTCODE"]),
    ("born on {dob}", ["DATE_OF_BIRTH"]),
    ("my nhs number is {nhs}", ["UK_NHS"]),
    ("find me on insta @{handle}", ["HANDLE"]),
    ("i wrote about it here {url}", ["URL"]),
    ("thanks dr {last_lower}", ["PERSON"]),
    # real forms seen in chat and elsewhere (issue 14): the generator shows we thought of
    # them; only the external sets show whether the engine generalises
    ("i'm {first_lower}, {age} and idk what to do", ["PERSON", "AGE"]),
    ("my email is {email_spelled}", ["EMAIL_ADDRESS"]),
    ("ring me on {phone_words}", ["PHONE_NUMBER"]),
    ("i posted as {reddit} on there", ["HANDLE"]),
    ("i went to {saint} for school", ["LOCATION"]),
    ("my case number is {case_no}", ["ID_NUMBER"]),
    ("it all started on {day_month} {year}", ["DATE"]),
]
_DIGIT_WORDS = ("oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
_SAINTS = ("st mary's", "st bede's", "St John's", "st anne's", "Saint Patrick's", "st joseph's")
FEELINGS = [
    "i've been feeling really low for about three years now",
    "i can't sleep and everything feels pointless",
    "work has been overwhelming for the last few months",
    "i keep having panic attacks on the bus",
    "i feel anxious all the time, especially in the mornings",
    "things are a bit better this week",
    "i argued with my partner again last night",
    "i don't really want to talk to anyone",
    "the breathing exercise helped a bit",
    "i'm worried i'm a burden to everyone",
]
ASSISTANT = [
    "Thank you for telling me. How long have you been feeling this way?",
    "That sounds really hard. What usually helps you when it gets like this?",
    "Would you like to try a short grounding exercise together?",
    "I'm here to listen. Can you tell me more about what happened?",
    "It makes sense that you feel that way. You're not alone in this.",
]
RISK_TEXT = "sometimes i think everyone would be better off without me"


@dataclass
class _Truth:
    event_id: str
    start: int
    end: int
    entity_type: str


def _spelled_email(gen, person) -> str:
    local = f"{person['first'].lower()} dot {person['last'].lower()}"
    return f"{local} at {gen.rng.choice(['gmail', 'outlook', 'yahoo'])} dot com"


def _phone_words(gen, person) -> str:
    digits = "07" + "".join(str(gen.rng.randint(0, 9)) for _ in range(9))
    return " ".join(_DIGIT_WORDS[int(d)] for d in digits)


_LAZY = {
    "age": lambda gen, p: str(gen.rng.randint(16, 79)),
    "email_spelled": _spelled_email,
    "phone_words": _phone_words,
    "reddit": lambda gen, p: f"u/{p['first'].lower()}_{gen.rng.randint(10, 99)}",
    "saint": lambda gen, p: gen.rng.choice(_SAINTS),
    "case_no": lambda gen, p: f"{gen.rng.randint(1000, 99999)}/{gen.rng.randint(10, 24)}",
    "day_month": lambda gen, p: f"{gen.rng.randint(1, 28)} {gen.rng.choice(['March', 'June', 'October'])}",
    "year": lambda gen, p: str(gen.rng.randint(1995, 2025)),
}


def nhs_number(rng: random.Random) -> str:
    """A valid (mod 11) NHS number, formatted 3-3-4."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(9)]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1))) % 11
        check = 0 if check == 11 else check
        if check != 10:
            s = "".join(map(str, digits + [check]))
            return f"{s[:3]} {s[3:6]} {s[6:]}"


class _Gen:
    def __init__(self, users: int, days: int, seed: int, fault_rate: float, canaries: bool = False,
                 unsafe_model: bool = False):
        self.canaries = canaries
        self.unsafe_model = unsafe_model
        self.n_users = users
        self.days = max(1, days)
        self.rng = random.Random(seed)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed)
        self.fault_rate = fault_rate
        self.events: list[dict] = []
        self.truth: list[_Truth] = []
        self._eid = 0

    def eid(self) -> str:
        self._eid += 1
        return f"evt-{self._eid:08d}-{self.rng.getrandbits(32):08x}"

    def at(self, day: float, minutes: float = 0) -> datetime:
        return BASE_DATE + timedelta(days=day, minutes=minutes)

    def emit(self, when: datetime, user: str, event_type: str, session: str | None = None, **f):
        ev = {"event_id": self.eid(), "event_type": event_type,
              "occurred_at": when.isoformat(timespec="seconds"),
              "user_id": user, "schema_version": 1}
        if session is not None:
            ev["session_id"] = session
        ev.update(f)
        self.events.append(ev)
        return ev

    def identifier_text(self, person: dict) -> tuple[str, list[tuple[int, int, str]]]:
        template, types = self.rng.choice(ID_TEMPLATES)
        values = {
            "first": person["first"], "last": person["last"],
            "first_lower": person["first"].lower(), "last_lower": person["last"].lower(),
            "phone": self.fake.phone_number(), "email": self.fake.email(),
            "street": self.fake.street_address().replace("\n", ", "),
            "postcode": self.fake.postcode(),
            "dob": self.rng.choice([
                person["dob"].strftime("%d/%m/%Y"), person["dob"].strftime("%-d %B %Y"),
                person["dob"].strftime("%Y-%m-%d")]),
            "nhs": nhs_number(self.rng),
            "handle": self.fake.user_name(),
            "url": self.fake.url() + self.fake.uri_path(),
        }
        if "{" in template and any(k in template for k in _LAZY):
            values.update({k: f(self, person) for k, f in _LAZY.items() if "{" + k + "}" in template})
        out, spans, pos, i = [], [], 0, 0
        for literal, fieldname, _, _ in string.Formatter().parse(template):
            out.append(literal)
            pos += len(literal)
            if fieldname is None:
                continue
            value = values[fieldname]
            spans.append((pos, pos + len(value), types[min(i, len(types) - 1)]))
            out.append(value)
            pos += len(value)
            i += 1
        text = "".join(out)
        # "{first} {last}" is one PERSON span
        merged: list[tuple[int, int, str]] = []
        for s in spans:
            if merged and merged[-1][2] == s[2] and s[2] in ("PERSON", "DATE") and merged[-1][1] + 1 == s[0]:
                merged[-1] = (merged[-1][0], s[1], s[2])
            else:
                merged.append(s)
        return text, merged

    def user(self, u: int) -> None:
        rng, fake = self.rng, self.fake
        uid = f"user-{fake.uuid4()}"
        # a few are under 16 (excluded from every purpose with a minimum age)
        birth_year = rng.randint(1945, 2008) if rng.random() > 0.02 else rng.randint(2010, 2012)
        person = {"first": fake.first_name(), "last": fake.last_name(),
                  "dob": datetime(birth_year, rng.randint(1, 12), rng.randint(1, 28))}
        decile = rng.randint(1, 10)
        channel = rng.choice(CHANNELS)
        start = rng.uniform(0, max(0.0, self.days - 1) * 0.3)

        # profile (sometimes split over two events: later values override field by field)
        profile = {"birth_year": birth_year, "gender": rng.choice(GENDERS),
                   "ethnicity": rng.choice(ETHNICITIES), "postcode": fake.postcode(),
                   "language": rng.choice(LANGUAGES), "deprivation_decile": decile}
        if rng.random() < 0.3:
            keys = list(profile)
            self.emit(self.at(start, 1), uid, "profile", **{k: profile[k] for k in keys[:3]})
            self.emit(self.at(start, 2), uid, "profile", **{k: profile[k] for k in keys[3:]})
        else:
            self.emit(self.at(start, 1), uid, "profile", **profile)

        # consent: opt-in, some withdraw later; version "0" (a retired form) is accepted by
        # no purpose of the shipped policy
        for purpose, p_grant, versions in (("research", 0.8, ["0", "1", "2", "2", "2"]),
                                           ("quality_improvement", 0.5, ["1", "2"])):
            if rng.random() < p_grant:
                self.emit(self.at(start, 0.5), uid, "consent", purpose=purpose,
                          action="granted", consent_version=rng.choice(versions))
                if rng.random() < 0.15:
                    self.emit(self.at(start + rng.uniform(1, self.days * 0.8), 3), uid, "consent",
                              purpose=purpose, action="withdrawn",
                              consent_version=rng.choice(versions))

        # outcome trajectory: less benefit for the most deprived deciles and on sms
        phq0, gad0 = rng.randint(6, 24), rng.randint(4, 19)
        benefit = rng.gauss(0.45, 0.25) - (0.25 if decile <= 3 else 0) - (0.15 if channel == "sms" else 0)
        n_sessions = rng.randint(2, 6)
        span = max(1.0, self.days - 1 - start)
        days_of = sorted([start] + [start + rng.uniform(1, span) for _ in range(n_sessions - 1)])
        if span >= 14 and rng.random() < 0.8:
            days_of[-1] = start + rng.uniform(14, span)  # a follow-up 14+ days later
            days_of.sort()
        last = len(days_of) - 1
        for k, day in enumerate(days_of):
            frac = (day - start) / span if span else 0
            self.session(uid, person, day, channel, k, last,
                         phq=max(0, min(27, round(phq0 * (1 - benefit * frac) + rng.gauss(0, 1.5)))),
                         gad=max(0, min(21, round(gad0 * (1 - benefit * frac) + rng.gauss(0, 1.2)))))

    def session(self, uid, person, day, channel, k, last, phq, gad) -> None:
        rng = self.rng
        sid = f"sess-{self.fake.uuid4()}"
        t = 10.0 + rng.uniform(0, 600)
        rollout = day / self.days  # share of sessions on the newer model grows over time
        model = MODELS[1] if rng.random() < rollout else MODELS[0]
        if self.unsafe_model and rng.random() < rollout:
            model = UNSAFE_MODEL
        self.emit(self.at(day, t), uid, "session_started", sid, channel=channel, locale="en-GB",
                  model_version=model, app_version="4.2.0")
        item9 = 0
        if k == 0 or k == last or rng.random() < 0.3:
            for instrument, total in (("PHQ-9", phq), ("GAD-7", gad)):
                n = 9 if instrument == "PHQ-9" else 7
                items = _items(rng, total, n)
                if instrument == "PHQ-9":  # item 9 (thoughts of self-harm) is rarer than the rest
                    keep = 0 if rng.random() < 0.85 else items[8]
                    items[8], items[0] = keep, min(3, items[0] + items[8] - keep)
                    item9 = items[8]
                # most questionnaires are answered in the session, some just after it
                self.emit(self.at(day, t + 1), uid, "assessment",
                          sid if rng.random() < 0.9 else None, instrument=instrument,
                          items=items, total=sum(items))
        turns = rng.randint(2, 5)
        risky = rng.random() < (0.5 if item9 else 0.06)
        for turn in range(turns):
            parts = [rng.choice(FEELINGS)]
            if risky and turn == turns - 1:
                parts = [RISK_TEXT]
            spans: list[tuple[int, int, str]] = []
            if rng.random() < 0.6:
                id_text, id_spans = self.identifier_text(person)
                offset = len(parts[0]) + 2
                parts.append(id_text)
                spans = [(a + offset, b + offset, et) for a, b, et in id_spans]
            if self.canaries:  # a unique string per message, for leak scans
                parts.append(f"ref cnry{self.rng.getrandbits(48):012x}")
            text = ". ".join(parts)
            ev = self.emit(self.at(day, t + 2 + turn * 2), uid, "message", sid,
                           turn=turn * 2, role="user", text=text)
            self.truth += [_Truth(ev["event_id"], a, b, et) for a, b, et in spans]
            self.emit(self.at(day, t + 3 + turn * 2), uid, "message", sid,
                      turn=turn * 2 + 1, role="assistant", text=rng.choice(ASSISTANT))
        end = t + 3 + turns * 2
        reason = "completed"
        if risky:
            level = rng.choice(["high", "imminent", "moderate"])
            self.emit(self.at(day, end), uid, "risk_flag", sid, level=level,
                      source=rng.choice(["model", "counsellor", "user"]))
            offered = rng.random() < 0.95  # sometimes no one offers help: the audit must show it
            if offered:
                self.emit(self.at(day, end + 1), uid, "escalation", sid, action="offered",
                          target="crisis_line")
            if offered and rng.random() < 0.7:
                self.emit(self.at(day, end + 2), uid, "escalation", sid, action="accepted",
                          target="crisis_line")
                if rng.random() < 0.8 and model != UNSAFE_MODEL:
                    self.emit(self.at(day, end + 2 + rng.expovariate(1 / 25)), uid,
                              "escalation", sid, action="connected", target="crisis_line")
                    reason = "escalated"
            elif offered:
                self.emit(self.at(day, end + 2), uid, "escalation", sid, action="declined",
                          target="crisis_line")
        elif rng.random() < 0.15:
            reason = rng.choice(["abandoned", "timeout"])
        self.emit(self.at(day, end + 45), uid, "session_ended", sid, reason=reason)


def _items(rng: random.Random, total: int, n: int) -> list[int]:
    items = [0] * n
    for _ in range(min(total, 3 * n)):
        i = rng.choice([j for j in range(n) if items[j] < 3])
        items[i] += 1
    return items


def _fault(rng: random.Random, ev: dict, kind: str) -> bytes:
    bad = dict(ev)
    if kind == "bad_json":
        return json.dumps(bad).encode()[:-7]
    if kind == "bad_utf8":
        return json.dumps(bad).encode().replace(b'"event_type"', b'"event_\xff\xfetype"', 1)
    if kind == "not_an_object":
        return json.dumps([bad["event_id"]]).encode()
    if kind == "missing_field":
        bad.pop(rng.choice(["event_id", "occurred_at", "user_id", "schema_version"]))
    elif kind == "mistyped_field":
        field = rng.choice(["schema_version", "user_id"])
        bad[field] = "1" if field == "schema_version" else 12345
    elif kind == "unknown_event_type":
        bad["event_type"] = "sentiment_score"
    elif kind == "no_offset":
        bad["occurred_at"] = bad["occurred_at"][:19]
    elif kind == "item_count":
        bad.update(event_type="assessment", instrument="PHQ-9", items=[1] * 8, total=8)
    elif kind == "total_mismatch":
        bad.update(event_type="assessment", instrument="GAD-7", items=[1] * 7, total=9)
    elif kind == "text_too_long":
        bad.update(event_type="message", session_id=bad.get("session_id", "s"), turn=0,
                   role="user", text="x" * 20_001)
    return json.dumps(bad).encode()


def generate(out: Path, users: int, days: int, seed: int, fault_rate: float = 0.0,
             truth_path: Path | None = None, files_per_day: int = 1,
             canaries: bool = False, unsafe_model: bool = False) -> dict[str, int]:
    """Write `out/<date>/part-NNNN.jsonl.gz` files and the ground-truth CSV; return counts.
    `unsafe_model`: a third model version (UNSAFE_MODEL) rolls out too, and never connects
    a flagged session to a human (what the model-version safety gate must catch)."""
    if not 0.0 <= fault_rate < 1.0:
        raise ValueError("fault_rate must be in [0, 1)")
    gen = _Gen(users, days, seed, fault_rate, canaries, unsafe_model)
    for u in range(users):
        gen.user(u)
    rng = gen.rng
    by_file: dict[str, list[bytes]] = defaultdict(list)
    faulted: set[str] = set()
    counts = {"events": len(gen.events), "faults": 0, "duplicates": 0}
    kinds = list(FAULT_KINDS)
    for ev in gen.events:
        day = ev["occurred_at"][:10]
        name = f"{day}/part-{rng.randint(1, files_per_day):04d}.jsonl.gz"
        if fault_rate and rng.random() < fault_rate:
            kind = kinds[counts["faults"] % len(kinds)]
            by_file[name].append(_fault(rng, ev, kind))
            faulted.add(ev["event_id"])
            counts["faults"] += 1
            continue
        line = json.dumps(ev, ensure_ascii=False).encode()
        by_file[name].append(line)
        if fault_rate and rng.random() < fault_rate / 2:
            other = rng.choice(list(by_file))
            by_file[other].append(line)  # the same event again: a duplicate
            counts["duplicates"] += 1
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, lines in sorted(by_file.items()):
        rng.shuffle(lines)  # events in a file are not ordered
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(b"\n".join(lines) + b"\n")
    truth_path = truth_path or out / "ground_truth.csv"
    with open(truth_path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["event_id", "start", "end", "entity_type"])
        for t in gen.truth:
            if t.event_id not in faulted:
                w.writerow([t.event_id, t.start, t.end, t.entity_type])
    counts["files"] = len(by_file)
    counts["lines"] = counts["events"] + counts["duplicates"]
    counts["truth_spans"] = sum(1 for t in gen.truth if t.event_id not in faulted)
    return counts
