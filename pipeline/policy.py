"""Data-steward policies: `policies/*.yaml` parsed once into frozen, validated objects.

Every YAML file in the folder contributes top-level sections (`metadata`, `purposes`,
`intake`, `datasets`, `publication`); a section may be declared in one file only. Unknown
keys, unknown purpose names and impossible values are errors that name the file, the line,
the key and what is allowed. A policy that does not validate stops the run before any data
is touched (fail closed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .deid import KNOWN_ENTITIES, LANGUAGE, OPERATORS
from .disclosure_floors import (ALL_OR_NONE_MIN_DENOMINATOR, MINIMUM_GROUP_SIZE, ROUNDING_BASE,
                               SUPPRESSION_THRESHOLD)

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Metadata(_Frozen):
    version: str = Field(min_length=1)
    owner: str = Field(min_length=1)
    effective_date: date
    approved_by: str = Field(min_length=1)


class Purpose(_Frozen):
    description: str = Field(min_length=1)
    lawful_basis: Literal["consent", "vital_interests", "legal_obligation", "public_task"]
    accepted_consent_versions: tuple[str, ...] = ()
    minimum_age: int = Field(default=16, ge=0, le=120)

    @model_validator(mode="after")
    def _consent_needs_versions(self) -> "Purpose":
        if self.lawful_basis == "consent" and not self.accepted_consent_versions:
            raise ValueError("a consent-based purpose must list accepted_consent_versions")
        return self


Entity = Literal[KNOWN_ENTITIES]  # type: ignore[valid-type]
OperatorName = Literal[OPERATORS]  # type: ignore[valid-type]


class Deidentification(_Frozen):
    """How free text is de-identified (pipeline/deid/)."""

    # locales whose language has a configured model: only those are accepted (another code
    # would silently go through the English model)
    languages: tuple[Literal[LANGUAGE], ...] = (LANGUAGE,)  # type: ignore[valid-type]
    entities: tuple[Entity, ...] = Field(default=KNOWN_ENTITIES, min_length=1)  # [] = no redaction
    default_operator: OperatorName = "placeholder"
    operators: dict[Entity, OperatorName] = {}
    # public crisis and support lines ("116 123", "988"): never masked as a personal number
    public_numbers: tuple[Annotated[str, Field(pattern=r"^\+?[0-9][0-9 ()\-]{1,18}[0-9]$")], ...] = ()


class Intake(_Frozen):
    """The pipeline's own encrypted working store of validated, de-identified events."""

    retention_days: int = Field(ge=1, le=3650)


class Dataset(_Frozen):
    purpose: Name
    description: str = Field(min_length=1)
    level: Literal["aggregate", "individual"]
    keeps: tuple[Literal["transcripts", "assessments", "sessions", "profiles"], ...]
    encrypted: bool
    retention_days: int = Field(ge=1, le=3650)
    only_sessions_with_risk: tuple[Literal["low", "moderate", "high", "imminent"], ...] = ()
    # operators for this dataset's transcripts, over `deidentification` (per entity type)
    operators: dict[Entity, OperatorName] = {}
    # timestamps: shifted per subject by a stable offset, cut to a day/week/month, or exact
    timestamps: Literal["shift", "day", "week", "month", "exact"] = "shift"

    @model_validator(mode="after")
    def _individual_is_encrypted(self) -> "Dataset":
        if self.level == "individual" and not self.encrypted:
            raise ValueError("an individual-level dataset must set encrypted: true")
        return self


class Cadence(_Frozen):
    """When the research warehouse publishes (pipeline/warehouse/cadence.py)."""

    every: Literal["month", "quarter"] = "month"
    day: int = Field(default=1, ge=1, le=28)  # day of the month a release is published


class DifferentialPrivacy(_Frozen):
    """`mode: dp` (pipeline/warehouse/dp.py): zCDP accounting in rho."""

    rho_per_release: float = Field(gt=0, le=10)
    rho_cap_per_year: float = Field(gt=0, le=50)  # per person, over any 365 days
    max_sessions_per_person: int = Field(default=20, ge=1, le=1000)  # contribution bound
    suppress_and_round: bool = True  # small-count suppression and rounding on the noisy counts

    @model_validator(mode="after")
    def _release_fits_the_cap(self) -> "DifferentialPrivacy":
        if self.rho_per_release > self.rho_cap_per_year:
            raise ValueError("rho_per_release cannot exceed rho_cap_per_year")
        return self


class Publication(_Frozen):
    """May tighten, never loosen, the floors in `pipeline.disclosure_floors` (why each floor:
    that module's docstring and README.md, "Disclosure control")."""

    suppression_threshold: int = Field(ge=SUPPRESSION_THRESHOLD, le=100)
    rounding_base: int = Field(ge=ROUNDING_BASE, le=100)
    minimum_group_size: int = Field(ge=MINIMUM_GROUP_SIZE, le=1000)
    all_or_none_min_denominator: int = Field(default=ALL_OR_NONE_MIN_DENOMINATOR,
                                             ge=ALL_OR_NONE_MIN_DENOMINATOR, le=10000)
    cadence: Cadence = Cadence()
    purpose: Name = "research"  # the purpose whose people the research tables describe
    mode: Literal["suppression", "dp"] = "suppression"
    dp: DifferentialPrivacy | None = None

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

    # safety_escalation reports sessions connected to a human within each of these targets
    connection_targets_minutes: tuple[int, ...] = Field(default=(15, 60), min_length=1,
                                                        max_length=6)
    # a model version is flagged when a share is worse than its predecessor's by more than
    # this margin, and the 95% interval of the difference excludes zero
    gate_margin: float = Field(default=0.05, gt=0, le=0.5)
    # ... and both versions have at least this many people in the share's denominator
    gate_min_people: int = Field(default=20, ge=MINIMUM_GROUP_SIZE, le=100000)

    @model_validator(mode="after")
    def _targets(self) -> "Safety":
        t = self.connection_targets_minutes
        if any(not 1 <= m <= 1440 for m in t) or list(t) != sorted(set(t)):
            raise ValueError("connection_targets_minutes must be distinct minutes from 1 to "
                             "1440, in increasing order")
        return self


class Policy(_Frozen):
    metadata: Metadata
    purposes: dict[Name, Purpose]
    deidentification: Deidentification = Deidentification()
    intake: Intake
    datasets: dict[Name, Dataset]
    publication: Publication
    safety: Safety = Safety()

    @model_validator(mode="after")
    def _names_resolve(self) -> "Policy":
        if self.publication.purpose not in self.purposes:
            raise _KeyError(("publication", "purpose"),
                            f"unknown purpose; declared purposes: {', '.join(sorted(self.purposes))}")
        for name, ds in self.datasets.items():
            if ds.purpose not in self.purposes:
                raise _KeyError(
                    ("datasets", name, "purpose"),
                    f"unknown purpose; declared purposes: {', '.join(sorted(self.purposes))}",
                )
            if ds.level == "aggregate" and ds.purpose != self.publication.purpose:
                raise _KeyError(
                    ("datasets", name, "purpose"),
                    "an aggregate dataset is the research warehouse: its purpose must be "
                    f"publication.purpose ({self.publication.purpose}); anything else would "
                    "do nothing")
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
        self.loc = loc
        self.msg = msg


@dataclass(frozen=True)
class PolicyIssue:
    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key}: {self.message}"


class PolicyError(Exception):
    def __init__(self, issues: list[PolicyIssue]):
        self.issues = issues
        super().__init__("policy is invalid:\n" + "\n".join(f"  {i}" for i in issues))


@dataclass(frozen=True)
class LoadedPolicy:
    policy: Policy
    files: dict[str, str]  # file name -> SHA-256 of its bytes
    metadata_file: str = "-"
    metadata_line: int | None = None

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
        h = hashlib.sha256()
        for name, sha in sorted(self.files.items()):
            h.update(f"{name}={sha}\n".encode())
        return h.hexdigest()


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


_ALLOWED = {
    "extra_forbidden": "unknown key (not part of the policy model)",
    "missing": "required key is missing",
}


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
            mark = getattr(exc, "problem_mark", None)
            issues.append(PolicyIssue(f.name, mark.line + 1 if mark else None, "-", "not valid YAML"))
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
                issues.append(PolicyIssue(
                    f.name, _line_of(node, (section,)), str(section),
                    f"section already declared in {owner[section][0]}",
                ))
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
                        _line_of(meta_node, ("metadata", "effective_date")))


def json_schema() -> dict[str, Any]:
    """JSON Schema of one policy file, generated from the model, for editors (VS Code's YAML
    extension reads the `# yaml-language-server: $schema=...` line at the top of each file).
    Sections are optional per file, since a policy may be split over several files."""
    schema = Policy.model_json_schema()
    schema["required"] = []
    schema["properties"]["$schema"] = {"type": "string"}
    schema["title"] = "mhpipe policy file"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
