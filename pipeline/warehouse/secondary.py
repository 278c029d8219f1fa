"""Rule 5 of disclosure control (`disclosure_control.py`): secondary suppression.

A published table obeys sums: a dimension's groups add up to the overall cell, and each
slice of a two-way breakdown ("ethnicity x age_band", one ethnicity across age bands) adds
up to that group's one-way cell. A hidden cell must not be derivable from the shown ones
through those sums, however they are chained, and a hidden total next to shown zeros must
not tell that its one hidden member is not zero. `settle` hides cells until that holds;
`secondary_breaches` says where it does not (for the release verifier).
"""

from __future__ import annotations


CROSS = " x "  # a two-way dimension is named "<a> x <b>" ...
SEP = " / "    # ... and its groups "<group of a> / <group of b>"


def cross(a: str, b: str) -> str:
    return f"{a}{CROSS}{b}"


def _constraints(rows: list[dict], idx: list[int]) -> list[tuple[tuple, list[tuple]]]:
    """The sums one period's cells obey, as (total cell, member cells); a cell is
    (dimension, grp). Every one-way dimension adds up to the overall cell; every slice of a
    two-way dimension ("ethnicity x age_band", one ethnicity) adds up to that group's
    one-way cell."""
    families: dict[tuple, list[tuple]] = {}  # (total, family) -> members
    for i in idx:
        d, g = rows[i].get("dimension", "overall"), rows[i].get("grp")
        if d == "overall":
            continue
        if CROSS in d:
            (da, db), (ga, gb) = d.split(CROSS, 1), str(g).split(SEP, 1)
            families.setdefault(((da, ga), d), []).append((d, g))
            families.setdefault(((db, gb), d), []).append((d, g))
        else:
            families.setdefault((("overall", "all"), d), []).append((d, g))
    return [(total, members) for (total, _), members in families.items()]


def settle(rows: list[dict], counts: list[str], rank) -> int:
    """Rule 5 (secondary suppression), in place, until it holds: no hidden cell may be
    derivable from the shown ones through the sums the cells obey (`_constraints`: groups
    add up to the overall cell, slices of a two-way breakdown to their one-way cell), however
    many sums are chained. Whenever one is, the smallest other shown cell (by
    `rank(i, count)`) of the sum that gives it away is hidden too, members before totals;
    when that sum has no shown cell left, the whole count for that period. Cells are None
    when hidden; rows of every group (published or not) must be present; a total with no
    row is unknown. Returns the cells it hid."""
    periods: dict = {}
    for i, r in enumerate(rows):
        periods.setdefault(r.get("period"), []).append(i)
    hid = 0
    for idx in periods.values():
        where = {(rows[i].get("dimension", "overall"), rows[i].get("grp")): i for i in idx}
        sums = [(total, members, [total, *members]) for total, members in _constraints(rows, idx)]
        for c in counts:
            for _ in range(len(idx) + 1):
                leak = _derivable(rows, where, sums, c)
                if leak is None:
                    break
                total, members = leak
                shown = [(rank(where[k], c) if rank(where[k], c) is not None else 0, where[k])
                         for k in members if k in where and rows[where[k]][c] is not None]
                if not shown and total in where and rows[where[total]][c] is not None:
                    shown = [(0, where[total])]
                if shown:
                    rows[min(shown)[1]][c] = None
                    hid += 1
                else:
                    for i in idx:
                        hid += rows[i][c] is not None
                        rows[i][c] = None
    return hid


def _derivable(rows, where, sums, c):
    """A sum through which a hidden cell of count `c` can be derived from the shown ones
    (shown, or derived earlier in the chain, or by combining sums), as (total, members); None
    if there is none. A cell with no row is unknown and, having no value to protect, never a
    leak."""
    shown = {k for k, i in where.items() if rows[i][c] is not None}
    known = set(shown)
    changed = True
    while changed:
        changed = False
        for total, members, cells in sums:
            unknown = [k for k in cells if k not in known]
            if len(unknown) == 1:
                if unknown[0] in where:
                    return total, members
                known.add(unknown[0])  # a missing total, now known: it may unlock others
                changed = True
    for total, members, cells in sums:
        # a hidden total whose shown members are all 0 equals its one hidden member: a
        # suppressed total (1..t) would say that member, maybe a left-out group of one, is
        # not 0 either
        unknown = [k for k in cells if k not in known]
        zeros = [rows[where[k]][c] == 0 for k in members if k in shown]
        if (len(unknown) == 2 and total in unknown and unknown[1 - unknown.index(total)] in where
                and zeros and all(zeros)):
            return total, members
    return _solvable(rows, where, sums, c, known)


def _solvable(rows, where, sums, c, known):
    """The sums taken all together, not one at a time: a hidden cell is derivable when its
    unit vector lies in the row space of the system (adding and subtracting sums can
    isolate it though no single sum has it alone). Returns a sum that holds such a cell,
    preferably one with a shown cell to hide, or None."""
    import numpy as np

    unknown = sorted({k for _, _, cells in sums for k in cells if k not in known},
                     key=lambda k: (str(k[0]), str(k[1])))
    if not unknown:
        return None
    col = {k: j for j, k in enumerate(unknown)}
    eqs = []
    for total, members, _ in sums:
        row = np.zeros(len(unknown))
        for k in members:
            if k in col:
                row[col[k]] += 1
        if total in col:
            row[col[total]] -= 1
        if row.any():
            eqs.append(row)
    if not eqs:
        return None
    a = np.array(eqs)
    _, sv, vt = np.linalg.svd(a)
    rank = int((sv > 1e-9 * max(1.0, sv[0])).sum())
    null = vt[rank:]  # basis of the null space: a cell is determined if no basis vector moves it
    for k, j in col.items():
        if k in where and (null.size == 0 or np.abs(null[:, j]).max() < 1e-9):
            holding = [(t, m) for t, m, cells in sums if k in cells]
            with_shown = [(t, m) for t, m in holding
                          if any(x in where and rows[where[x]][c] is not None for x in [t, *m])]
            return (with_shown or holding)[0]
    return None


def secondary_breaches(rows: list[dict], counts: list[str]) -> list[str]:
    """Where rule 5 does not hold (for `check`)."""
    probe = [dict(r) for r in rows]
    before = [[r[c] for c in counts] for r in probe]
    settle(probe, counts, lambda i, c: 0)
    return [f"{c} at {r.get('period')}/{r.get('dimension')}/{r.get('grp')}: a hidden cell "
            "can be recovered by subtraction"
            for r, b in zip(probe, before) for c, v in zip(counts, b) if v is not None and r[c] is None]
