"""The nightly batch at 10k, 100k and 1M messages: wall time per stage, messages/s, peak
memory; then a run that finds nothing new. Writes `docs/pipeline_scale.{md,json,png}`.

Each size gets fresh synthetic input (`mhpipe synth`, files of about the same size at every
scale: one partition is one file, so memory should follow the file size, not the input) and
a fresh data folder, and is run as the operator would run it: `mhpipe run` in a subprocess,
Prefect's temporary server included. Memory is the peak of the summed RSS of the whole
process tree (CLI, worker pool, Prefect server), sampled every 0.2 s with psutil.

    .venv/bin/python bench/pipeline_scale.py [--sizes 10000,100000,1000000] [--work /tmp/mhpipe-scale]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
MHPIPE = [sys.executable, "-m", "flows.cli"]
MESSAGES_PER_USER = 28.5  # measured: synth writes ~28.5 messages per user, whatever the days
MESSAGES_PER_FILE = 3300  # every size: about this many messages per raw file (partition)
DAYS = 30


def synth(out: Path, messages: int, seed: int) -> dict:
    # Same partition size at every scale: fewer days for small inputs, more files per day
    # for large ones.
    days = max(1, min(DAYS, round(messages / MESSAGES_PER_FILE)))
    files_per_day = max(1, round(messages / days / MESSAGES_PER_FILE))
    users = max(10, round(messages / MESSAGES_PER_USER))
    t = time.perf_counter()
    subprocess.run(MHPIPE + ["synth", "--users", str(users), "--days", str(days), "--seed",
                             str(seed), "--files-per-day", str(files_per_day), "--out", str(out)],
                   check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return {"users": users, "days": days, "files_per_day": files_per_day,
            "synth_s": round(time.perf_counter() - t, 1)}


class TreeRss:
    """Peak of the summed RSS of a process and all its descendants."""

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.peak = 0
        self.peak_main = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                procs = [self.root] + self.root.children(recursive=True)
                total = 0
                for p in procs:
                    try:
                        total += p.memory_info().rss
                    except psutil.Error:
                        pass
                self.peak = max(self.peak, total)
                self.peak_main = max(self.peak_main, self.root.memory_info().rss)
            except psutil.Error:
                pass
            self._stop.wait(0.2)

    def __enter__(self) -> "TreeRss":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(raw: Path, data: Path) -> dict:
    env = {**os.environ, "PREFECT_HOME": str(data.parent / (data.name + "-prefect"))}
    t = time.perf_counter()
    proc = subprocess.Popen(MHPIPE + ["run", "--raw", str(raw), "--data", str(data),
                                      "--policies", str(ROOT / "policies"), "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with TreeRss(proc.pid) as rss:
        out, err = proc.communicate()
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        sys.stderr.write(err.decode()[-3000:])
        raise SystemExit(f"mhpipe run failed ({proc.returncode})")
    summary = json.loads(out)
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(rss.peak / 2**20),
            "peak_rss_main_mib": round(rss.peak_main / 2**20),
            "stages_s": summary["timings_s"], "messages": summary["ingest"]["messages"],
            "lines": summary["ingest"]["lines_read"], "files": summary["ingest"]["files"],
            "balanced": summary["ingest"]["balanced"], "skipped_outputs": summary.get("skipped")}


def deid_figure() -> float | None:
    f = DOCS / "deid_throughput.json"
    if not f.exists():
        return None
    data = json.loads(f.read_text())
    return float(data["variants"]["d_mhpipe"]["msg_per_s"])


def chart(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["messages"] for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    stages = ["stage", "commit", "outputs"]
    bottom = [0.0] * len(rows)
    for s in stages:
        vals = [r["stages_s"].get(s, 0) for r in rows]
        a.bar([str(x) for x in sizes], vals, bottom=bottom, label=s)
        bottom = [x + y for x, y in zip(bottom, vals)]
    other = [r["wall_s"] - bt for r, bt in zip(rows, bottom)]
    a.bar([str(x) for x in sizes], other, bottom=bottom, label="start-up and the rest")
    a.set_xlabel("messages in the batch")
    a.set_ylabel("wall time (s)")
    a.set_title("Time per stage")
    a.legend()
    b.plot(sizes, [r["peak_rss_mib"] for r in rows], marker="o", label="whole process tree")
    b.plot(sizes, [r["peak_rss_main_mib"] for r in rows], marker="o", label="CLI / flow process")
    b.set_xscale("log")
    b.set_xlabel("messages in the batch")
    b.set_ylabel("peak RSS (MiB)")
    b.set_ylim(bottom=0)
    b.set_title("Peak memory")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--work", type=Path, default=Path("/tmp/mhpipe-scale"))
    ap.add_argument("--out", type=Path, default=DOCS / "pipeline_scale")
    ap.add_argument("--render", action="store_true",
                    help="only redraw the markdown and chart from the saved JSON")
    args = ap.parse_args()
    if args.render:
        render(json.loads(args.out.with_suffix(".json").read_text()), args.out)
        return
    rows = []
    for i, n in enumerate(int(x) for x in args.sizes.split(",")):
        base = args.work / f"n{n}"
        shutil.rmtree(base, ignore_errors=True)
        gen = synth(base / "raw", n, seed=100 + i)
        r = run(base / "raw", base / "data")
        r.update(target=n, **gen)
        r["msgs_per_s"] = round(r["messages"] / r["wall_s"])
        r["stage_msgs_per_s"] = round(r["messages"] / r["stages_s"]["stage"])
        print(json.dumps(r), flush=True)
        rows.append(r)
    again = run(base / "raw", base / "data")  # nothing new at the largest size
    print(json.dumps({"no_new_files": again}), flush=True)
    shutil.rmtree(args.work, ignore_errors=True)

    first, last = rows[0], rows[-1]
    mid = rows[-2] if len(rows) > 1 else rows[0]
    deid = deid_figure()
    result = {
        "machine": {"cpus": os.cpu_count(), "memory_gib": round(psutil.virtual_memory().total / 2**30)},
        "runs": rows, "no_new_files": again,
        "checks": {
            "stage_rate_largest_vs_smallest": round(last["stage_msgs_per_s"] / first["stage_msgs_per_s"], 3),
            "e2e_rate_largest_vs_smallest": round(last["msgs_per_s"] / first["msgs_per_s"], 3),
            "peak_rss_largest_vs_middle": round(last["peak_rss_mib"] / mid["peak_rss_mib"], 3),
            "peak_rss_largest_mib": last["peak_rss_mib"],
            "deid_engine_msgs_per_s": deid,
            "e2e_largest_vs_deid_engine": round(last["msgs_per_s"] / deid, 3) if deid else None,
            "no_new_files_wall_s": again["wall_s"],
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    render(result, args.out)


def linear_fit(rows: list[dict]) -> dict:
    """Least squares wall = a + b * messages: a is the fixed cost (start-up), 1/b the
    marginal rate; r2 how well a straight line explains the times."""
    xs = [r["messages"] for r in rows]
    ys = [r["wall_s"] for r in rows]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    a = my - b * mx
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return {"fixed_s": round(a, 1), "marginal_msgs_per_s": round(1 / b),
            "r2": round(1 - ss_res / ss_tot, 5),
            "max_residual_s": round(max(abs(y - (a + b * x)) for x, y in zip(xs, ys)), 1)}


def render(result: dict, out: Path) -> None:
    rows, again, c = result["runs"], result["no_new_files"], result["checks"]
    last = rows[-1]
    fit = linear_fit(rows) if len(rows) > 2 else None
    chart(rows, out.with_suffix(".png"))
    lines = ["# Pipeline scale benchmark", "",
             f"`bench/pipeline_scale.py` on {result['machine']['cpus']} cores, "
             f"{result['machine']['memory_gib']} GiB; default task runner (local process pool); "
             "raw files of about 3,300 messages at every size (one file = one partition). "
             "Wall time is the whole `mhpipe run`, Prefect's temporary server included; "
             "memory is the peak summed RSS of the process tree (CLI and flow, the worker pool, "
             "Prefect's server), sampled every 0.2 s.", "",
             "| messages | lines | files | wall s | stage s | commit s | outputs s | other s "
             "| msg/s end to end | msg/s in stage | peak RSS MiB (tree) | peak RSS MiB (flow) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        st = r["stages_s"]
        other = r["wall_s"] - sum(st.values())
        lines.append(f"| {r['messages']:,} | {r['lines']:,} | {r['files']} | {r['wall_s']} | "
                     f"{st['stage']} | {st['commit']} | {st['outputs']} | {other:.1f} | "
                     f"{r['msgs_per_s']:,} | {r['stage_msgs_per_s']:,} | {r['peak_rss_mib']:,} | "
                     f"{r['peak_rss_main_mib']:,} |")
    lines += ["", f"A second run over the {last['messages']:,}-message data (no new files): "
              f"{again['wall_s']} s wall, outputs skipped: {again['skipped_outputs']}.", ""]
    if fit:
        lines += [f"Straight-line fit of wall time against messages: {fit['fixed_s']} s fixed "
                  f"(Prefect's server, worker start-up) + 1 s per {fit['marginal_msgs_per_s']:,} "
                  f"messages; R² = {fit['r2']}, largest residual {fit['max_residual_s']} s.", ""]
    lines += ["| check | value |", "|---|---|",
              f"| msg/s in stage, largest / smallest | {c['stage_rate_largest_vs_smallest']} |",
              f"| msg/s end to end, largest / smallest | {c['e2e_rate_largest_vs_smallest']} |",
              f"| peak RSS, largest / middle | {c['peak_rss_largest_vs_middle']} |",
              f"| peak RSS at the largest size (MiB) | {c['peak_rss_largest_mib']:,} |",
              f"| de-identification engine benchmark (msg/s, docs/deid_throughput.json) | {c['deid_engine_msgs_per_s']} |",
              f"| end to end at the largest size / engine figure | {c['e2e_largest_vs_deid_engine']} |",
              f"| run that finds nothing new (s) | {c['no_new_files_wall_s']} |",
              "", "![time and memory vs input size](pipeline_scale.png)", ""]
    out.with_suffix(".md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
