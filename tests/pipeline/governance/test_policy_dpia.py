"""The DPIA export: every purpose, dataset and retention figure of the policy, in Markdown."""

from __future__ import annotations

import shutil

from pipeline.policy import load_policy
from pipeline.governance.policy_dpia import dpia_markdown
from tests.conftest import POLICIES


def _section(md: str, title: str) -> str:
    start = md.index(f"## {title}\n")
    end = md.find("\n## ", start + 1)
    return md[start:end if end > 0 else None]


def test_every_purpose_dataset_and_retention_figure_appears():
    lp = load_policy(POLICIES)
    p = lp.policy
    md = dpia_markdown(lp)
    purposes = _section(md, "Purposes and lawful bases")
    for name, pur in p.purposes.items():
        row = next(line for line in purposes.splitlines() if line.startswith(f"| `{name}` |"))
        assert pur.lawful_basis.replace("_", " ") in row
        assert f"| {pur.minimum_age} |" in row
        for v in pur.accepted_consent_versions:
            assert f"`{v}`" in row
    datasets = _section(md, "Datasets")
    for name, ds in p.datasets.items():
        block = datasets[datasets.index(f"### `{name}`"):].split("\n### ")[0]
        assert f"- purpose: `{ds.purpose}`" in block
        assert f"- retention: {ds.retention_days} days" in block
        assert ds.description in block
        for kept in ds.keeps:
            assert f"`{kept}`" in block
    retention = _section(md, "Retention")
    assert f"| {p.intake.retention_days} days" in retention
    for name, ds in p.datasets.items():
        assert f"| dataset `{name}` | {ds.retention_days} days" in retention


def test_settings_and_metadata_appear():
    lp = load_policy(POLICIES)
    p = lp.policy
    md = dpia_markdown(lp)
    md_meta = p.metadata
    for value in (md_meta.version, md_meta.owner, md_meta.approved_by,
                  md_meta.effective_date.isoformat(), lp.digest, *lp.files.values()):
        assert value in _section(md, "Policy")
    deid = _section(md, "De-identification of message text")
    for entity in p.deidentification.entities:
        assert f"| `{entity}` |" in deid
    assert "| `CREDIT_CARD` | redacted" in deid and "| `PERSON` | placeholder (`<PERSON_1>`" in deid
    for number in p.deidentification.public_numbers:
        assert f"`{number}`" in deid
    pub = _section(md, "Disclosure control of research releases")
    for figure in (f"1..{p.publication.suppression_threshold}", f"nearest {p.publication.rounding_base}",
                   f"{p.publication.minimum_group_size}+ people",
                   f"{p.publication.all_or_none_min_denominator} people",
                   f"every {p.publication.cadence.every}, on day {p.publication.cadence.day}"):
        assert figure in pub
    safety = _section(md, "Safety oversight")
    assert "15 min, 60 min" in safety and "0.05" in safety and "at least 20 people" in safety
    assert "timestamps: shifted per person" in md and "timestamps: kept exactly" in md
    assert "sessions: only those with a risk flag of level `high`, `imminent`" in md
    assert "de-identification overrides: `AGE` redacted" in md


def test_free_text_cannot_break_the_markdown(tmp_path):
    d = tmp_path / "pol"
    shutil.copytree(POLICIES, d)
    text = (d / "policy.yaml").read_text().replace(
        '"Review of de-identified conversations to improve the service."',
        '"Review | <script>x</script> of\\nconversations"', 1)
    (d / "policy.yaml").write_text(text)
    md = dpia_markdown(load_policy(d))
    row = next(line for line in md.splitlines() if line.startswith("| `quality_improvement` |"))
    assert "Review \\| \\<script>x\\</script> of conversations" in row
    assert row.count(" | ") == 5  # still six cells: the escaped pipe splits none


def test_dp_mode_and_a_declared_only_dataset_are_described(tmp_path):
    d = tmp_path / "pol"
    shutil.copytree(POLICIES, d)
    text = (d / "policy.yaml").read_text()
    text = text.replace("  mode: suppression", "  mode: dp\n  dp: {rho_per_release: 0.5, "
                        "rho_cap_per_year: 2.0, max_sessions_per_person: 12}")
    text = text.replace("publication:", "  qi_profiles:\n    purpose: quality_improvement\n"
                        "    description: Profiles.\n    level: individual\n    keeps: [profiles]\n"
                        "    encrypted: true\n    retention_days: 45\n\npublication:", 1)
    (d / "policy.yaml").write_text(text)
    md = dpia_markdown(load_policy(d))
    pub = _section(md, "Disclosure control of research releases")
    assert "differential privacy" in pub and "| 0.5 |" in pub and "| 2.0 |" in pub
    assert "| 12 |" in pub
    block = md[md.index("### `qi_profiles`"):].split("\n## ")[0]
    assert "not materialised" in block and "45 days (about 1 month)" in block
