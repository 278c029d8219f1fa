"""`retention-sweep` (flows/retention_sweep.py), as declared to Prefect: what the orchestrator
may store about it. Running it needs a Prefect server; the end-to-end run (records deleted,
audited) is `tests/flows/test_nightly.py::test_retention_sweep_flow_deletes_and_audits`."""

from __future__ import annotations

from flows.retention_sweep import retention_sweep


def test_flow_name_matches_its_deployment():
    assert retention_sweep.name == "retention-sweep"


def test_the_flow_persists_nothing_and_captures_no_prints():
    """Prefect's database and result storage must never see data: no persisted result, and
    print() output (which could carry a value) is not captured as logs."""
    assert retention_sweep.persist_result is False
    assert retention_sweep.log_prints is False


def test_parameters_are_two_paths_and_an_optional_clock():
    """Parameters are stored by Prefect with every run: paths and a timestamp only."""
    schema = retention_sweep.parameters.model_dump()
    assert schema["required"] == ["data", "policies"]
    props = schema["properties"]
    assert list(props) == ["data", "policies", "now"]
    assert props["data"]["type"] == props["policies"]["type"] == "string"
    assert props["now"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert props["now"]["default"] is None
