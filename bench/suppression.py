"""How much of a release is suppressed, per table: count cells and other statistics
(means, medians, percentiles, rates) published vs NULL. Used to report the cost of
disclosure control before and after a change (issue 12's closing note).

    python bench/suppression.py PATH/research.duckdb [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.warehouse import sandbox

KEYS = {"period", "dimension", "grp", "model_version"}


def measure(path: str) -> dict[str, dict[str, int]]:
    con = sandbox.connect(path)
    out = {}
    try:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name != 'releases' ORDER BY 1").fetchall()]
        for t in tables:
            cols = con.execute("SELECT column_name, data_type FROM duckdb_columns() "
                               "WHERE table_name = ?", [t]).fetchall()
            counts = [c for c, d in cols if d in ("BIGINT", "INTEGER") and c not in KEYS]
            stats = [c for c, d in cols if d == "DOUBLE"]
            row = {"rows": con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0]}
            for kind, group in (("count", counts), ("other", stats)):
                total = row["rows"] * len(group)
                nulls = sum(con.execute(f'SELECT count(*) FROM "{t}" WHERE "{c}" IS NULL').fetchall()[0][0]
                            for c in group)
                row[f"{kind}_cells"], row[f"{kind}_suppressed"] = total, nulls
            out[t] = row
    finally:
        con.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("release")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    figures = measure(args.release)
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        return
    print(f"{'table':24} {'rows':>5} {'counts':>7} {'suppr.':>7} {'share':>6} {'other':>6} {'suppr.':>7} {'share':>6}")
    for t, r in figures.items():
        cs = r["count_suppressed"] / r["count_cells"] if r["count_cells"] else 0
        os_ = r["other_suppressed"] / r["other_cells"] if r["other_cells"] else 0
        print(f"{t:24} {r['rows']:>5} {r['count_cells']:>7} {r['count_suppressed']:>7} {cs:>6.1%} "
              f"{r['other_cells']:>6} {r['other_suppressed']:>7} {os_:>6.1%}")


if __name__ == "__main__":
    main()
