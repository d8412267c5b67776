"""How much faster `gpuviz grade --jobs N` grades a class than one submission at a time.

    python scripts/bench_grade.py [--notebook 03_parallel_patterns.ipynb] [--copies 6] [--jobs 1 2]

Each copy of the instructor source is graded as one student's submission (a full, passing notebook).
One copy is graded first, untimed, so that both timed runs find the compile-proof cache warm; then
each --jobs value grades all copies and the wall-clock times and speed-ups are printed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def grade(paths, out: Path, jobs: int, env) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gpuviz", "grade", *map(str, paths), "--out", str(out),
                    "--source", str(ROOT / "course" / "solutions"), "--jobs", str(jobs)],
                   check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--notebook", default="03_parallel_patterns.ipynb")
    p.add_argument("--copies", type=int, default=6)
    p.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    a = p.parse_args()
    env = {**os.environ, "GPUVIZ_OFFLINE": "1"}
    with tempfile.TemporaryDirectory(prefix="bench-grade-") as tmp:
        tmp = Path(tmp)
        paths = []
        for i in range(a.copies):
            (tmp / f"s{i}").mkdir()
            paths.append(shutil.copy(ROOT / "course" / "solutions" / a.notebook, tmp / f"s{i}" / a.notebook))
        grade(paths[:1], tmp / "warm.csv", 1, env)
        times = {j: grade(paths, tmp / f"jobs{j}.csv", j, env) for j in a.jobs}
    base = times[a.jobs[0]]
    print(f"{a.copies} submissions of {a.notebook}, {os.cpu_count()} CPUs")
    for j, t in times.items():
        print(f"--jobs {j}: {t:6.1f} s  ({t / a.copies:5.1f} s per notebook, speed-up {base / t:4.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
