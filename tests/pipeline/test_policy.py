from __future__ import annotations

import re

import shutil

import pytest

from pipeline.policy import PolicyError, load_policy
from tests.conftest import POLICIES


def _copy(tmp_path, edit=None):
    d = tmp_path / "pol"
    shutil.copytree(POLICIES, d)
    if edit:
        p = d / "policy.yaml"
        p.write_text(edit(p.read_text()))
    return d


def test_shipped_policy_is_valid_and_hashed():
    lp = load_policy(POLICIES)
    assert lp.version and len(lp.digest) == 64
    assert set(lp.policy.purposes) >= {"research", "quality_improvement", "safety_review"}
    assert lp.policy.purposes["safety_review"].lawful_basis == "vital_interests"


def test_unknown_key_names_file_line_and_key(tmp_path):
    d = _copy(tmp_path, lambda t: t.replace("    retention_days: 90", "    retention_dayz: 90"))
    with pytest.raises(PolicyError) as exc:
        load_policy(d)
    text = str(exc.value)
    line = next(i for i, l in enumerate((d / "policy.yaml").read_text().splitlines(), 1)
                if "retention_dayz" in l)
    assert f"policy.yaml:{line}: datasets.qi_transcripts.retention_dayz: unknown key" in text


def test_unknown_purpose_is_rejected_with_the_declared_ones(tmp_path):
    d = _copy(tmp_path, lambda t: t.replace("purpose: quality_improvement", "purpose: qa"))
    with pytest.raises(PolicyError, match="unknown purpose; declared purposes: quality_improvement"):
        load_policy(d)


@pytest.mark.parametrize("old,new,message", [
    ("    encrypted: true\n    retention_days: 90", "    encrypted: false\n    retention_days: 90",
     "must set encrypted: true"),
    ("suppression_threshold: 7", "suppression_threshold: 3", "greater than or equal to 7"),
    ("minimum_group_size: 10", "minimum_group_size: 1", "greater than or equal to 10"),
    ("all_or_none_min_denominator: 20", "all_or_none_min_denominator: 5",
     "greater than or equal to 20"),
    ("suppression_threshold: 7", "suppression_threshold: 12", "above suppression_threshold"),
    ("  languages: [en]", "  languages: [fr]", "Input should be 'en'"),
    ("  mode: suppression", "  mode: suppression\n  purpose: evaluation", "unknown purpose"),
    ("accepted_consent_versions: [\"2\"]", "accepted_consent_versions: []", "accepted_consent_versions"),
    ("lawful_basis: vital_interests", "lawful_basis: because", "Input should be"),
    ("effective_date: 2026-09-01", "effective_date: soon", "effective_date"),
])
def test_invalid_values_fail_closed(tmp_path, old, new, message):
    d = _copy(tmp_path, lambda t: t.replace(old, new, 1))
    assert old in (POLICIES / "policy.yaml").read_text()
    with pytest.raises(PolicyError, match=message):
        load_policy(d)


def test_broken_yaml_and_empty_folder(tmp_path):
    d = _copy(tmp_path, lambda t: t + "\n  bad: [unclosed\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(d)
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolicyError, match="no \\*.yaml"):
        load_policy(tmp_path / "empty")


def test_a_section_may_be_declared_once(tmp_path):
    d = _copy(tmp_path)
    (d / "extra.yaml").write_text("publication:\n  suppression_threshold: 10\n")
    with pytest.raises(PolicyError, match="already declared in"):
        load_policy(d)


def test_an_empty_entity_list_is_refused_not_a_policy_that_redacts_nothing(tmp_path):
    d = _copy(tmp_path, lambda t: re.sub(r"  entities: \[[^\]]*\]", "  entities: []", t, count=1))
    assert "entities: []" in (d / "policy.yaml").read_text()
    with pytest.raises(PolicyError, match="at least 1"):
        load_policy(d)


def test_a_policy_is_refused_before_its_effective_date(tmp_path):
    from datetime import date

    lp = load_policy(POLICIES)
    lp.check_in_effect(lp.policy.metadata.effective_date)  # on the day: in force
    with pytest.raises(PolicyError, match="takes effect on") as err:
        lp.check_in_effect(date(2026, 8, 31))
    assert err.value.issues[0].file == "policy.yaml" and err.value.issues[0].line


def _properties(schema):
    """(where, property schema) for every property of every object in the schema."""
    objects = [("policy", schema)] + [(name, d) for name, d in schema.get("$defs", {}).items()]
    for where, obj in objects:
        for key, prop in obj.get("properties", {}).items():
            yield f"{where}.{key}", prop
            yield from _properties({"properties": prop.get("properties", {})})


def test_every_property_of_the_schema_has_a_description():
    import json

    from pipeline.policy import json_schema

    for schema in (json_schema(), json.loads((POLICIES / "policy.schema.json").read_text())):
        props = list(_properties(schema))
        assert len(props) >= 45  # every model's fields, not just the top level
        missing = [where for where, p in props if not str(p.get("description", "")).strip()]
        assert not missing, missing


def test_the_schema_accepts_a_yaml_date_under_plain_jsonschema():
    """`effective_date: 2026-11-01` is a datetime.date to PyYAML, a string to editors."""
    import datetime
    import json

    import yaml

    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((POLICIES / "policy.schema.json").read_text())
    doc = yaml.safe_load((POLICIES / "policy.yaml").read_text())
    doc["metadata"]["effective_date"] = yaml.safe_load("d: 2026-11-01")["d"]
    assert isinstance(doc["metadata"]["effective_date"], datetime.date)
    jsonschema.validate(doc, schema)
    doc["metadata"]["effective_date"] = "2026-11-01"  # as editors (YAML 1.2) read it
    jsonschema.validate(doc, schema)
    for bad in ("soon", 20261101, None):
        doc["metadata"]["effective_date"] = bad
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(doc, schema)


@pytest.mark.parametrize("text,line,column,reason", [
    ("metadata:\n  version: 2026: 1\n", 2, 16, "mapping values are not allowed here"),
    ("metadata:\n\tversion: x\n", 2, 1, "found character '\\t' that cannot start any token"),
    ("purposes: [research, qi\nintake: 3\n", 2, 7,
     "expected ',' or ']', but got ':' (while parsing a flow sequence from line 1)"),
    ("metadata:\n  owner: \"Data Protection Office\n", 3, 1, "found unexpected end of stream"),
    ("metadata:\n  owner: a\x07b\n", 2, 11, "special characters are not allowed"),
])
def test_broken_yaml_names_folder_file_line_column_and_reason(tmp_path, text, line, column, reason):
    d = _copy(tmp_path)
    (d / "extra.yaml").write_text(text)
    with pytest.raises(PolicyError) as exc:
        load_policy(d)
    [issue] = exc.value.issues
    assert (issue.file, issue.line, issue.column) == (str(d / "extra.yaml"), line, column)
    assert str(issue).startswith(f"{d}/extra.yaml:{line}:{column}: not valid YAML: ")
    assert reason in str(issue)


def test_broken_yaml_never_echoes_the_file(tmp_path):
    d = _copy(tmp_path)
    secret = "Jane-Example-07700900123"
    for text in (f"metadata:\n  owner: {secret}: x\n", f"metadata: *{secret}\n",
                 f"metadata: !!python/object:{secret} x\n", f"a: [{secret}\n",
                 f"metadata:\n  owner: {secret}\n\t\n"):
        (d / "extra.yaml").write_text(text)
        with pytest.raises(PolicyError) as exc:
            load_policy(d)
        assert secret not in str(exc.value) and "not valid YAML: " in str(exc.value), text
    (d / "extra.yaml").write_bytes(b"metadata:\n  owner: \xff\xfe\n")
    with pytest.raises(PolicyError, match=r"extra\.yaml:2:10: not valid YAML: not UTF-8 text"):
        load_policy(d)


def test_the_version_line_is_known():
    lp = load_policy(POLICIES)
    lines = (POLICIES / "policy.yaml").read_text().splitlines()
    assert lines[lp.version_line - 1].strip().startswith("version:")
