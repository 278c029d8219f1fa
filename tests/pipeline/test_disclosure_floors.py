"""The floors of disclosure control (pipeline/disclosure_floors.py): values, the relations
between them that the docstring promises, and the docstring itself in step with the code."""

from __future__ import annotations

import re

from pipeline import disclosure_floors as floors

NAMES = ("SUPPRESSION_THRESHOLD", "ROUNDING_BASE", "MINIMUM_GROUP_SIZE",
         "ALL_OR_NONE_MIN_DENOMINATOR")


def test_values():
    """Lowering any of these is a policy decision for the data steward, not a refactor."""
    assert [getattr(floors, n) for n in NAMES] == [7, 5, 10, 20]


def test_a_group_size_is_itself_a_publishable_count():
    assert floors.MINIMUM_GROUP_SIZE > floors.SUPPRESSION_THRESHOLD


def test_all_or_none_needs_at_least_a_group():
    assert floors.ALL_OR_NONE_MIN_DENOMINATOR >= floors.MINIMUM_GROUP_SIZE


def test_rounding_hides_less_than_the_threshold():
    """Rounding to the nearest base moves a count by at most base // 2, below the threshold."""
    assert floors.ROUNDING_BASE // 2 < floors.SUPPRESSION_THRESHOLD


def test_the_docstring_states_the_same_numbers():
    documented = dict(re.findall(r"- ([A-Z_]+) = (\d+):", floors.__doc__))
    assert documented == {n: str(getattr(floors, n)) for n in NAMES}
