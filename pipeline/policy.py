"""Data-steward policies: `policies/*.yaml` parsed once into frozen, validated objects.

Every YAML file in the folder contributes top-level sections (`metadata`, `purposes`,
`intake`, `datasets`, `publication`); a section may be declared in one file only. Unknown
keys, unknown purpose names and impossible values are errors that name the file, the line,
the key and what is allowed. A policy that does not validate stops the run before any data
is touched (fail closed).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema,
                      model_validator)

from pipeline.entities import KNOWN_ENTITIES, LANGUAGE, OPERATORS
from pipeline.risk import RiskLevel
from pipeline.disclosure_floors import (ALL_OR_NONE_MIN_DENOMINATOR, MINIMUM_GROUP_SIZE, ROUNDING_BASE,
                               SUPPRESSION_THRESHOLD)

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _d(text: str, **kw: Any) -> Any:  # a field and its description (editors show it)
    return Field(description=text, **kw)


# `effective_date: 2026-11-01` is a string to editors (YAML 1.2) but a date to PyYAML (1.1):
# the schema accepts both, so `jsonschema` validates the file however it was loaded
_DATE = WithJsonSchema({"anyOf": [
    {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    {"not": {"type": ["string", "number", "boolean", "null", "array", "object"]},
     "description": "a YAML date (2026-11-01) as a YAML 1.1 loader such as PyYAML reads it"}]})


class Metadata(_Frozen):
    """Who owns and approved this policy, and from when it governs runs."""

    version: str = _d("Policy version: bump it on every approved change.", min_length=1)
    owner: str = _d("Who owns the policy (e.g. the Data Protection Office).", min_length=1)
    effective_date: Annotated[date, _DATE] = _d("YYYY-MM-DD; runs dated before it are refused.")
    approved_by: str = _d("Who approved this version (audited, in every release).", min_length=1)


class Purpose(_Frozen):
    """A purpose of processing and who may be in its population."""

    description: str = _d("What the purpose is, in words.", min_length=1)
    lawful_basis: Literal["consent", "vital_interests", "legal_obligation", "public_task"] = _d(
        "Lawful basis; consent is opt-in (no consent event, no consent).")
    accepted_consent_versions: tuple[str, ...] = _d("Consent form versions accepted (needed "
                                                    "for consent).", default=())
    minimum_age: int = _d("Younger people are left out (age from the latest birth_year).",
                          default=16, ge=0, le=120)

    @model_validator(mode="after")
    def _consent_needs_versions(self) -> "Purpose":
        if self.lawful_basis == "consent" and not self.accepted_consent_versions:
            raise ValueError("a consent-based purpose must list accepted_consent_versions")
        return self


Entity = Literal[KNOWN_ENTITIES]  # type: ignore[valid-type]
OperatorName = Literal[OPERATORS]  # type: ignore[valid-type]
Phone = Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ()\-]{1,18}[0-9]$")]


class Deidentification(_Frozen):
    """How free text is de-identified (pipeline/deid/)."""

    languages: tuple[Literal[LANGUAGE], ...] = _d(  # type: ignore[valid-type]
        "Locales with a model (en only); text in other languages is not kept.", default=(LANGUAGE,))
    entities: tuple[Entity, ...] = _d(
        "Entity types given the policy's operators (not empty). A type the engine reports that "
        "is not listed is still replaced, with a type placeholder (fail closed).",
        default=KNOWN_ENTITIES, min_length=1)
    default_operator: OperatorName = _d(
        "placeholder (<PERSON_1>, numbered per conversation), redact, mask (*) or hash (keyed).",
        default="placeholder")
    operators: dict[Entity, OperatorName] = _d("Per entity type, over default_operator.", default={})
    public_numbers: tuple[Phone, ...] = _d("Public crisis and support lines, kept as written "
                                           "(never masked as a person's number).", default=())


class Intake(_Frozen):
    """The pipeline's own encrypted working store of validated, de-identified events."""

    retention_days: int = _d("Days events are kept in the intake store.", ge=1, le=3650)


class Dataset(_Frozen):
    """A dataset kept for one purpose."""

    purpose: Name = _d("The declared purpose this dataset serves.")
    description: str = _d("What the dataset is for, in words.", min_length=1)
    level: Literal["aggregate", "individual"] = _d(
        "aggregate: the research warehouse; individual: per-person records (encrypted).")
    keeps: tuple[Literal["transcripts", "assessments", "sessions", "profiles"], ...] = _d(
        "What it keeps (individual datasets are materialised when they keep transcripts).")
    encrypted: bool = _d("Encrypted per subject; must be true for an individual dataset.")
    retention_days: int = _d("Days records are kept (aggregate: how long a release may be kept).",
                             ge=1, le=3650)
    only_sessions_with_risk: tuple[RiskLevel, ...] = _d(
        "Keep only sessions with a risk flag of these levels (empty: every session).", default=())
    operators: dict[Entity, OperatorName] = _d(
        "Operator per entity type for this dataset's transcripts, over deidentification.",
        default={})
    timestamps: Literal["shift", "day", "week", "month", "exact"] = _d(
        "shift: stable per-person offset of up to +-14 days; day, week, month: cut to that; "
        "exact: as recorded.", default="shift")

    @property
    def keeps_transcripts(self) -> bool:
        """Materialised in the vault with de-identified transcripts (the one rule for it)."""
        return self.level == "individual" and "transcripts" in self.keeps

    @model_validator(mode="after")
    def _individual_is_encrypted(self) -> "Dataset":
        if self.level == "individual" and not self.encrypted:
            raise ValueError("an individual-level dataset must set encrypted: true")
        return self


class Cadence(_Frozen):
    """When the research warehouse publishes (pipeline/warehouse/cadence.py)."""

    every: Literal["month", "quarter"] = _d("Publish every month or quarter.", default="month")
    day: int = _d("Day of the month a release is published.", default=1, ge=1, le=28)


class DifferentialPrivacy(_Frozen):
    """`mode: dp` (pipeline/warehouse/dp.py): zCDP accounting in rho."""

    rho_per_release: float = _d("Privacy loss (zCDP rho) one release spends.", gt=0, le=10)
    rho_cap_per_year: float = _d("Most rho any 365 days may spend; no release past it.",
                                 gt=0, le=50)
    max_sessions_per_person: int = _d("Contribution bound: sessions counted per person.",
                                      default=20, ge=1, le=1000)
    suppress_and_round: bool = _d("Also suppress and round the noisy counts.", default=True)

    @model_validator(mode="after")
    def _release_fits_the_cap(self) -> "DifferentialPrivacy":
        if self.rho_per_release > self.rho_cap_per_year:
            raise ValueError("rho_per_release cannot exceed rho_cap_per_year")
        return self


class Publication(_Frozen):
    """May tighten, never loosen, the floors in `pipeline.disclosure_floors` (why each floor:
    that module's docstring and README.md, "Disclosure control")."""

    suppression_threshold: int = _d("Counts of 1..N (values or people) are suppressed.",
                                    ge=SUPPRESSION_THRESHOLD, le=100)
    rounding_base: int = _d("Other counts are rounded to the nearest N.", ge=ROUNDING_BASE, le=100)
    minimum_group_size: int = _d("Groups, means, percentiles and rates need N+ people (above "
                                 "suppression_threshold).", ge=MINIMUM_GROUP_SIZE, le=1000)
    all_or_none_min_denominator: int = _d(
        "0% or 100% only on denominators of N+ people.", default=ALL_OR_NONE_MIN_DENOMINATOR,
        ge=ALL_OR_NONE_MIN_DENOMINATOR, le=10000)
    cadence: Cadence = _d("When releases are published (closed periods only).", default=Cadence())
    purpose: Name = _d("Purpose whose people the research tables describe.", default="research")
    mode: Literal["suppression", "dp"] = _d(
        "suppression (with a cross-release gate) or dp (differential privacy: needs dp).",
        default="suppression")
    dp: DifferentialPrivacy | None = _d("Privacy budget; only with mode: dp.", default=None)

    @model_validator(mode="after")
    def _group_above_threshold(self) -> "Publication":
        if self.minimum_group_size <= self.suppression_threshold:
            raise ValueError("minimum_group_size must be above suppression_threshold (a group's "
                             "size must itself be a publishable count)")
        if self.mode == "dp" and self.dp is None:
            raise ValueError("mode: dp needs a dp section (rho_per_release, rho_cap_per_year)")
        if self.mode != "dp" and self.dp is not None:
            raise ValueError("a dp section only takes effect with mode: dp; remove it or set "
                             "mode: dp")
        return self


class Safety(_Frozen):
    """Crisis oversight (pipeline/warehouse/safety.py, safety_gate.py)."""

    connection_targets_minutes: tuple[int, ...] = _d(
        "Report flagged sessions connected to a human within each of these minutes.",
        default=(15, 60), min_length=1, max_length=6)
    gate_margin: float = _d("Safety gate: flag a model version worse than its predecessor by "
                            "more than this share.", default=0.05, gt=0, le=0.5)
    gate_min_people: int = _d("Safety gate: people each version needs behind a share.",
                              default=20, ge=MINIMUM_GROUP_SIZE, le=100000)

    @model_validator(mode="after")
    def _targets(self) -> "Safety":
        t = self.connection_targets_minutes
        if any(not 1 <= m <= 1440 for m in t) or list(t) != sorted(set(t)):
            raise ValueError("connection_targets_minutes must be distinct minutes from 1 to "
                             "1440, in increasing order")
        return self


class Policy(_Frozen):
    """An mhpipe data-steward policy (README.md, "Policies")."""

    metadata: Metadata = _d("Version, owner, approver and effective date.")
    purposes: dict[Name, Purpose] = _d("Purposes of processing, by name.")
    deidentification: Deidentification = _d("How message text is de-identified.",
                                            default=Deidentification())
    intake: Intake = _d("The pipeline's encrypted working store of de-identified events.")
    datasets: dict[Name, Dataset] = _d("Datasets kept, by name, each for one purpose.")
    publication: Publication = _d("Disclosure control and cadence of research releases.")
    safety: Safety = _d("Crisis oversight and the model-version safety gate.", default=Safety())

    @model_validator(mode="after")
    def _names_resolve(self) -> "Policy":
        unknown = f"unknown purpose; declared purposes: {', '.join(sorted(self.purposes))}"
        if self.publication.purpose not in self.purposes:
            raise _KeyError(("publication", "purpose"), unknown)
        for name, ds in self.datasets.items():
            if ds.purpose not in self.purposes:
                raise _KeyError(("datasets", name, "purpose"), unknown)
            if ds.level == "aggregate" and ds.purpose != self.publication.purpose:
                raise _KeyError(("datasets", name, "purpose"),
                                "an aggregate dataset is the research warehouse: its purpose must "
                                f"be publication.purpose ({self.publication.purpose}); anything "
                                "else would do nothing")
        return self

    def release_retention_days(self) -> int | None:
        """How long a research release may be kept: the shortest retention among the
        aggregate datasets (the warehouse), or None when none is declared."""
        days = [ds.retention_days for ds in self.datasets.values() if ds.level == "aggregate"]
        return min(days) if days else None

    def consent_purposes(self) -> list[str]:
        return [n for n, p in self.purposes.items() if p.lawful_basis == "consent"]


class _KeyError(ValueError):
    def __init__(self, loc: tuple[str, ...], msg: str):
        super().__init__(msg)
        self.loc, self.msg = loc, msg


@dataclass(frozen=True)
class PolicyIssue:
    file: str
    line: int | None
    key: str
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = ":".join([self.file, *(str(n) for n in (self.line, self.column) if n)])
        return f"{where}: {self.message}" if self.key == "-" else f"{where}: {self.key}: {self.message}"


class PolicyError(Exception):
    def __init__(self, issues: list[PolicyIssue]):
        self.issues = issues
        super().__init__("policy is invalid:\n" + "\n".join(f"  {i}" for i in issues))


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    files: dict[str, str]  # file name -> SHA-256 of its bytes
    metadata_file: str = "-"
    metadata_line: int | None = None  # of metadata.effective_date
    version_line: int | None = None  # of metadata.version

    @property
    def version(self) -> str:
        return self.policy.metadata.version

    def check_in_effect(self, today: date) -> None:
        """Fail closed before a policy's effective date: a policy approved for later must
        not govern data today (raises PolicyError naming the file and line)."""
        md = self.policy.metadata
        if today < md.effective_date:
            raise PolicyError([PolicyIssue(
                self.metadata_file, self.metadata_line, "metadata.effective_date",
                f"the policy takes effect on {md.effective_date.isoformat()}, not yet "
                f"({today.isoformat()}); keep the policy in force until then")])

    @property
    def digest(self) -> str:
        lines = "".join(f"{name}={sha}\n" for name, sha in sorted(self.files.items()))
        return hashlib.sha256(lines.encode()).hexdigest()


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...]) -> int | None:
    """1-based line of the deepest node along `loc` in a composed YAML tree."""
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == str(part):
                line = key_node.start_mark.line + 1
                node = value_node
                break
        else:
            break
    return line


_QUOTED = re.compile(r"'(?!<)[^'\s]{3,}'")  # a name or tag quoted from the file: not echoed


def _yaml_issue(f: Path, raw: bytes, exc: Exception) -> PolicyIssue:
    """Where and why a file is not YAML: path, line, column and the parser's reason, never
    the text itself (str() of a PyYAML error quotes the offending line)."""
    line, col, reason = None, None, "not UTF-8 text"
    if isinstance(exc, UnicodeDecodeError):
        line, col = raw.count(b"\n", 0, exc.start) + 1, exc.start - raw.rfind(b"\n", 0, exc.start)
    elif isinstance(exc, yaml.MarkedYAMLError):
        mark, ctx = exc.problem_mark or exc.context_mark, exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        reason = exc.problem or exc.context or "unreadable"
        if exc.problem and exc.context and ctx and mark and ctx.line != mark.line:
            reason += f" ({exc.context} from line {ctx.line + 1})"
    elif isinstance(exc, yaml.reader.ReaderError):  # a control character
        text, pos = raw.decode("utf-8", "replace"), exc.position
        line, col = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        reason = f"{exc.reason} (#x{exc.character:04x})"
    return PolicyIssue(str(f), line, "-", "not valid YAML: " + _QUOTED.sub("'...'", reason), col)


_ALLOWED = {"extra_forbidden": "unknown key (not part of the policy model)",
            "missing": "required key is missing"}


def load_policy(folder: Path) -> LoadedPolicy:
    """Read, merge and validate every `*.yaml` in `folder`; raise PolicyError on any issue."""
    folder = Path(folder)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise PolicyError([PolicyIssue(str(folder), None, "-", "no *.yaml policy files found")])
    merged: dict[str, Any] = {}
    owner: dict[str, tuple[str, yaml.Node]] = {}
    hashes: dict[str, str] = {}
    issues: list[PolicyIssue] = []
    for f in files:
        raw = f.read_bytes()
        hashes[f.name] = hashlib.sha256(raw).hexdigest()
        try:
            text = raw.decode("utf-8")
            node = yaml.compose(text)
            data = yaml.safe_load(text)
        except (UnicodeDecodeError, yaml.YAMLError) as exc:
            issues.append(_yaml_issue(f, raw, exc))
            continue
        if data is None:
            continue
        if not isinstance(data, dict):
            issues.append(PolicyIssue(f.name, 1, "-", "a policy file must be a mapping of sections"))
            continue
        for section in data:
            if section == "$schema":
                continue
            if section in merged:
                issues.append(PolicyIssue(f.name, _line_of(node, (section,)), str(section),
                                          f"section already declared in {owner[section][0]}"))
                continue
            merged[section] = data[section]
            owner[section] = (f.name, node)
    if issues:
        raise PolicyError(issues)
    try:
        policy = Policy.model_validate(merged)
    except ValidationError as exc:
        for err in exc.errors(include_input=False, include_url=False):
            loc = tuple(err["loc"])
            inner = (err.get("ctx") or {}).get("error")
            if isinstance(inner, _KeyError):
                loc, msg = inner.loc, inner.msg
            else:
                msg = _ALLOWED.get(err["type"], err["msg"])
            fname, node = owner.get(str(loc[0]), (folder.name, None)) if loc else (folder.name, None)
            issues.append(PolicyIssue(fname, _line_of(node, loc), ".".join(map(str, loc)), msg))
        raise PolicyError(issues) from None
    meta_file, meta_node = owner.get("metadata", (folder.name, None))
    return LoadedPolicy(policy, hashes, meta_file,
                        _line_of(meta_node, ("metadata", "effective_date")),
                        _line_of(meta_node, ("metadata", "version")))


def json_schema() -> dict[str, Any]:
    """JSON Schema of one policy file, generated from the model, for editors (VS Code's YAML
    extension reads the `# yaml-language-server: $schema=...` line at the top of each file).
    Sections are optional per file, since a policy may be split over several files."""
    schema = Policy.model_json_schema()
    schema["required"] = []
    schema["properties"]["$schema"] = {"type": "string", "description": "This file's schema."}
    schema["title"] = "mhpipe policy file"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
