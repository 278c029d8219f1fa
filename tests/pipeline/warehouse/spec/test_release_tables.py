"""The release-level tables `publish.publish` adds to the research tables, read back from the
published file: `releases` (one row: this release), `codebook` (every label a group can
take), the `outcomes_by_intersection` view (the two-way rows of outcomes_by_group, their
dimension and group split in two: the same protected cells) and the `data_dictionary` view
(every table, view and column with its description).
"""

from __future__ import annotations

import duckdb
import pytest

from pipeline.warehouse.publish import publish
from tests.pipeline.warehouse.spec.tables import EXACT, POLICY, build, compare, profile
from tests.pipeline.warehouse.spec.test_outcomes_by_group import FOURTEEN, treated

title = "Releases, codebook, data dictionary and the two-way outcomes view"

PEOPLE = [
    *treated("a", 15, 10, 6, 5), profile("a", ethnicity="White British", birth_year=1990, gender="female"),
    *treated("b", 12, 9, 9, 8), profile("b", ethnicity="white", birth_year=1990, gender="male"),
    *treated("c", 15, 10, 9, 8), profile("c", ethnicity="Indian", birth_year=2000, gender="female"),
    *treated("d", 15, 10, 21, 10),  # no profile: not stated
]
META = {"policy_version": POLICY.metadata.version, "input_people": 4, "research_people": 4,
        "minimum_group_size": 1}


def release(folder, rows, policy, meta=META):
    tables = list(build(rows, policy).values())
    return publish(folder, tables, meta, policy.publication)


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    path = release(tmp_path_factory.mktemp("warehouse"), PEOPLE, EXACT)[0]
    con = duckdb.connect(str(path), read_only=True)
    yield con
    con.close()


def test_a_release_holds_the_research_tables_and_its_own(con):
    """Six research tables, `releases` and `codebook`; two views."""
    tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    assert tables == {"outcomes_by_group", "engagement_by_group", "safety_escalation",
                      "safety_reconciliation", "consent_coverage", "safety_alerts", "releases", "codebook"}
    assert views == {"outcomes_by_intersection", "data_dictionary"}


def test_releases_is_one_row_describing_this_release(con):
    """The first release is 0001; the rest of the row is what the run passed in."""
    got, want = compare(con.sql("SELECT * FROM releases").pl(), """
        release_id | policy_version | input_people | research_people | minimum_group_size
        0001       | 2026.11.2      | 4            | 4               | 1
    """)
    assert got == want
    [(created_at,)] = con.execute("SELECT typeof(created_at) FROM releases").fetchall()
    assert created_at == "TIMESTAMP WITH TIME ZONE"


def test_a_release_is_made_only_when_a_table_changed(tmp_path):
    """The same tables again: no new release (still 0001); one more person: 0002, and both
    numbered files are kept."""
    assert release(tmp_path, PEOPLE, EXACT)[2:] == ("0001", True)
    assert release(tmp_path, PEOPLE, EXACT)[2:] == ("0001", False)
    more = PEOPLE + treated("e", 15, 10, 6, 5)
    meta = {**META, "input_people": 5, "research_people": 5}
    assert release(tmp_path, more, EXACT, meta)[2:] == ("0002", True)
    assert sorted(p.name for p in tmp_path.glob("research-*.duckdb")) == ["research-0001.duckdb",
                                                                           "research-0002.duckdb"]


def test_the_intersection_view_splits_the_two_way_rows(con):
    """a: White, 35-44, woman, recovers (reliably); b: White, 35-44, man, at caseness only;
    c: Indian (Asian or Asian British), 25-34, woman, improves reliably; d: no profile,
    deteriorates reliably. All four are at caseness."""
    frame = con.sql("SELECT * FROM outcomes_by_intersection "
                    "ORDER BY dimension_a, dimension_b, group_a, group_b").pl()
    assert set(frame["period"]) == {"2026-Q3"}
    got, want = compare(frame, """
        dimension_a          | group_a                | dimension_b | group_b    | finished_treatment | caseness | recovery | reliable_improvement | reliable_deterioration
        deprivation_quintile | not stated             | gender      | female     | 2 | 2 | 1 | 2 | 0
        deprivation_quintile | not stated             | gender      | male       | 1 | 1 | 0 | 0 | 0
        deprivation_quintile | not stated             | gender      | not stated | 1 | 1 | 0 | 0 | 1
        ethnicity            | Asian or Asian British | age_band    | 25-34      | 1 | 1 | 0 | 1 | 0
        ethnicity            | White                  | age_band    | 35-44      | 2 | 2 | 1 | 1 | 0
        ethnicity            | not stated             | age_band    | not stated | 1 | 1 | 0 | 0 | 1
        ethnicity            | Asian or Asian British | gender      | female     | 1 | 1 | 0 | 1 | 0
        ethnicity            | White                  | gender      | female     | 1 | 1 | 1 | 1 | 0
        ethnicity            | White                  | gender      | male       | 1 | 1 | 0 | 0 | 0
        ethnicity            | not stated             | gender      | not stated | 1 | 1 | 0 | 0 | 1
    """)
    assert got == want


def test_the_intersection_view_shows_the_protected_cells(tmp_path):
    """The 14 people of the outcomes spec, no profile, under the policy (t = 7, base 5,
    k = 10): every two-way group is theirs, so it reads like the overall row: 14 -> 15,
    11 at caseness -> 10, 3 recovered: NULL, 9 improved -> 10, 2 deteriorated: NULL."""
    rows = [r for i, s in enumerate(FOURTEEN) for r in treated(f"p{i:02}", *s)]
    meta = {**META, "input_people": 15, "research_people": 15, "minimum_group_size": 10}
    path = release(tmp_path, rows, POLICY, meta)[0]
    with duckdb.connect(str(path), read_only=True) as c:
        frame = c.sql("SELECT * FROM outcomes_by_intersection ORDER BY dimension_a, dimension_b").pl()
    got, want = compare(frame, """
        dimension_a               | deprivation_quintile | ethnicity  | ethnicity
        group_a                   | not stated           | not stated | not stated
        dimension_b               | gender               | age_band   | gender
        group_b                   | not stated           | not stated | not stated
        finished_treatment        | 15                   | 15         | 15
        caseness                  | 10                   | 10         | 10
        recovery                  | NULL                 | NULL       | NULL
        reliable_improvement      | 10                   | 10         | 10
        reliable_deterioration    | NULL                 | NULL       | NULL
        reliable_improvement_rate | 0.667                | 0.667      | 0.667
    """, transposed=True)
    assert got == want


def test_the_codebook_lists_every_label_a_group_can_take(con):
    """One-way dimensions in order, each with its closed vocabulary (sorted); model
    versions: those in this release and the two catch-alls. No two-way dimension."""
    dims = [r[0] for r in con.execute("SELECT dimension FROM codebook").fetchall()]
    assert list(dict.fromkeys(dims)) == ["overall", "age_band", "gender", "ethnicity",
                                         "deprivation_quintile", "region", "language", "channel",
                                         "model_version"]
    frame = con.sql("SELECT * FROM codebook WHERE dimension IN "
                    "('overall', 'gender', 'deprivation_quintile', 'model_version')").pl()
    got, want = compare(frame, """
        dimension            | grp
        overall              | all
        gender               | female
        gender               | male
        gender               | non-binary
        gender               | not stated
        gender               | other
        deprivation_quintile | 1
        deprivation_quintile | 2
        deprivation_quintile | 3
        deprivation_quintile | 4
        deprivation_quintile | 5
        deprivation_quintile | not stated
        model_version        | m-1
        model_version        | not recorded
        model_version        | other
    """)
    assert got == want


def test_the_data_dictionary_documents_every_table_view_and_column(con):
    """A row per table or view (column NULL, its comment) and per column (type and
    description); nothing else, and no description empty."""
    names = {r[0] for r in con.execute("SELECT DISTINCT table_name FROM data_dictionary").fetchall()}
    assert names == {"outcomes_by_group", "engagement_by_group", "safety_escalation",
                     "safety_reconciliation", "consent_coverage", "safety_alerts", "releases",
                     "codebook", "outcomes_by_intersection"}
    assert con.execute("SELECT count(*) FROM data_dictionary WHERE coalesce(description, '') = ''"
                       ).fetchall()[0][0] == 0
    frame = con.sql("SELECT table_name, column_name, data_type, description FROM data_dictionary "
                    "WHERE table_name = 'codebook' OR (table_name = 'outcomes_by_intersection' "
                    "AND column_name LIKE 'dimension_%')").pl()
    got, want = compare(frame.drop_nulls("column_name"), """
        table_name               | column_name | data_type | description
        codebook                 | dimension   | VARCHAR   | A grouping dimension of the research tables
        codebook                 | grp         | VARCHAR   | A label the dimension's groups can take
        outcomes_by_intersection | dimension_a | VARCHAR   | First dimension of the breakdown
        outcomes_by_intersection | dimension_b | VARCHAR   | Second dimension of the breakdown
    """)
    assert got == want
    assert frame.filter(frame["column_name"].is_null())["description"].to_list()[0].startswith(
        "Every group label of every one-way dimension")
