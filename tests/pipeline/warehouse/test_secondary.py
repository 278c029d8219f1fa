"""Rule 5, secondary suppression, on hand-made families of cells."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.warehouse.secondary import secondary_breaches, settle


def test_secondary_hides_the_smallest_other_cell_or_the_whole_count():
    rows = [{"period": "p", "dimension": "overall", "grp": "all", "x": 80},
            {"period": "p", "dimension": "d", "grp": "a", "x": None},
            {"period": "p", "dimension": "d", "grp": "b", "x": 30},
            {"period": "p", "dimension": "d", "grp": "c", "x": 12}]
    settle(rows, ["x"], lambda i, c: rows[i][c])
    assert [r["x"] for r in rows] == [80, None, 30, None]
    single = [{"period": "p", "dimension": "overall", "grp": "all", "x": 80},
              {"period": "p", "dimension": "d", "grp": "a", "x": None},
              {"period": "p", "dimension": "e", "grp": "a", "x": 80}]  # e's only group = total
    settle(single, ["x"], lambda i, c: single[i][c])
    assert [r["x"] for r in single] == [None, None, None]  # nothing else hides it: the count goes


def test_a_hidden_total_is_still_known_from_a_fully_shown_dimension():
    """The overall cell is hidden, but gender's groups add up to it: the total, and through
    it the lone hidden model version, could be recovered, so a gender group is hidden too."""
    rows = [{"period": "p", "dimension": "overall", "grp": "all", "x": None},
            {"period": "p", "dimension": "gender", "grp": "f", "x": 40},
            {"period": "p", "dimension": "gender", "grp": "m", "x": 35},
            {"period": "p", "dimension": "model", "grp": "m1", "x": 70},
            {"period": "p", "dimension": "model", "grp": "m2", "x": None}]
    assert settle(rows, ["x"], lambda i, c: rows[i][c]) == 1
    assert [r["x"] for r in rows] == [None, 40, None, 70, None]  # the smaller gender cell
    assert secondary_breaches(rows, ["x"]) == []


def test_chained_sums_across_a_two_way_breakdown():
    """A two-way slice adds up to its one-way cell: a lone hidden cross cell next to a
    published marginal is recoverable, and so is a hidden marginal whose slice is all
    shown. Both get a second hidden cell; nothing stays derivable."""
    rows = [{"period": "p", "dimension": "overall", "grp": "all", "x": 100},
            {"period": "p", "dimension": "a", "grp": "a1", "x": 60},
            {"period": "p", "dimension": "a", "grp": "a2", "x": 40},
            {"period": "p", "dimension": "b", "grp": "b1", "x": 50},
            {"period": "p", "dimension": "b", "grp": "b2", "x": 50},
            {"period": "p", "dimension": "a x b", "grp": "a1 / b1", "x": None},
            {"period": "p", "dimension": "a x b", "grp": "a1 / b2", "x": 30},
            {"period": "p", "dimension": "a x b", "grp": "a2 / b1", "x": 20},
            {"period": "p", "dimension": "a x b", "grp": "a2 / b2", "x": 20}]
    assert secondary_breaches(rows, ["x"])  # a1/b1 = a1 - a1/b2
    hid = settle(rows, ["x"], lambda i, c: rows[i][c])
    assert hid >= 3 and secondary_breaches(rows, ["x"]) == []
    hidden = {r["grp"] for r in rows if r["x"] is None}
    assert {"a1 / b1", "a1 / b2", "a2 / b1"} <= hidden  # the slices of a1 and of b1


def test_a_hidden_total_beside_shown_zeros_does_not_say_its_member_is_not_zero():
    """overall connected is 1..7 (suppressed); males 0; the only other group is left out:
    the suppressed total would say that group is not 0. A zero is hidden too."""
    rows = [{"period": "p", "dimension": "overall", "grp": "all", "x": None},
            {"period": "p", "dimension": "gender", "grp": "male", "x": 0},
            {"period": "p", "dimension": "gender", "grp": "female", "x": None}]
    assert secondary_breaches(rows, ["x"])
    settle(rows, ["x"], lambda i, c: rows[i][c])
    assert [r["x"] for r in rows] == [None, None, None]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.sampled_from([None, 0, 10, 20, 35]), min_size=3, max_size=3),
                min_size=2, max_size=3))
def test_after_settling_no_hidden_cell_is_derivable_from_one_sum(grid):
    """A two-way table with its margins and total: after `settle`, no sum has exactly one
    hidden cell (with every hidden cell a real row)."""
    a = [f"a{i}" for i in range(len(grid))]
    b = [f"b{j}" for j in range(3)]
    cells = {(x, y): grid[i][j] for i, x in enumerate(a) for j, y in enumerate(b)}
    rows = [{"period": "p", "dimension": "overall", "grp": "all",
             "x": sum(v or 0 for v in cells.values())}]
    rows += [{"period": "p", "dimension": "a", "grp": x,
              "x": sum(cells[(x, y)] or 0 for y in b)} for x in a]
    rows += [{"period": "p", "dimension": "b", "grp": y,
              "x": sum(cells[(x, y)] or 0 for x in a)} for y in b]
    rows += [{"period": "p", "dimension": "a x b", "grp": f"{x} / {y}", "x": v}
             for (x, y), v in cells.items()]
    settle(rows, ["x"], lambda i, c: rows[i][c] or 0)
    assert secondary_breaches(rows, ["x"]) == []
    by = {(r["dimension"], r["grp"]): r["x"] for r in rows}
    sums = [[("overall", "all"), *[("a", x) for x in a]], [("overall", "all"), *[("b", y) for y in b]]]
    sums += [[("a", x), *[("a x b", f"{x} / {y}") for y in b]] for x in a]
    sums += [[("b", y), *[("a x b", f"{x} / {y}") for x in a]] for y in b]
    for s in sums:
        assert sum(by[k] is None for k in s) != 1, s
