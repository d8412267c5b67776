"""Autograder: `gpuviz grade SUBMISSION.ipynb ... --out grades.csv`.

Each submission is matched to its instructor source (same file name in --source, else the exercise IDs
in its cell metadata) and rebuilt: the learner's cells run in their order, and after each solution
cell the source's check cell for that exercise runs, hidden tests included, whatever the learner did
to the check cells (edited, deleted or moved: restored and noted). The notebook then runs in a fresh
kernel (nbclient) in an empty temporary directory, with GPUVIZ_STRICT=1 so a failed check raises,
under one time limit for the whole notebook. One CSV row per student and exercise:
student, exercise, points, max, passed, message; a summary table goes to stdout.

The student is the submission's folder name when the file has the source's name
(`alice/00_why_gpus.ipynb`), else the file's stem (`alice.ipynb`). This is no sandbox: see the
instructor guide for what the isolation does and does not do.
"""
from __future__ import annotations

import argparse
import copy
import csv
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gpuviz.check import STRICT_ENV
from gpuviz.student import strip_source

FIELDS = ["student", "exercise", "points", "max", "passed", "message"]
DEFAULT_SOURCE = Path("course/solutions")


@dataclass
class Row:
    student: str
    exercise: str
    points: float
    max: float
    passed: bool
    message: str


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def check_cells(nb) -> dict:
    """grade_id -> the check cell (nbgrader grade: true), in notebook order."""
    return {_meta(c)["grade_id"]: c for c in nb.cells if _meta(c).get("grade") and _meta(c).get("grade_id")}


def find_source(sub_path: Path, sub_nb, sources: dict) -> str | None:
    """The name of the source notebook a submission answers."""
    if sub_path.name in sources:
        return sub_path.name
    ids = {_meta(c).get("grade_id", "").removesuffix("-solution") for c in (sub_nb.cells if sub_nb else [])}
    best = max(sources, key=lambda n: len(ids & set(check_cells(sources[n]))), default=None)
    return best if best and ids & set(check_cells(sources[best])) else None


def assemble(source, sub) -> tuple:
    """(the notebook to run, notes per exercise ID): the learner's cells, with the source's check cells
    put back after the matching solution cells."""
    checks = check_cells(source)
    notes = {ex: [] for ex in checks}
    run = copy.deepcopy(sub)
    cells, placed = [], set()
    for cell in sub.cells:
        gid = _meta(cell).get("grade_id", "")
        if gid in checks:                  # the learner's copy of a check cell: replaced by the source's
            if cell.source.strip() != strip_source(checks[gid].source).strip():
                notes[gid].append("the check cell had been edited; the original was restored")
            if gid not in placed and f"{gid}-solution" not in {_meta(c).get("grade_id") for c in sub.cells}:
                cells.append(copy.deepcopy(checks[gid]))     # no solution cell: check where it was
                placed.add(gid)
            continue
        cells.append(cell)
        ex = gid.removesuffix("-solution")
        if gid.endswith("-solution") and ex in checks and ex not in placed:
            cells.append(copy.deepcopy(checks[ex]))
            placed.add(ex)
    for ex, cell in checks.items():
        if ex not in placed:
            notes[ex].append("its cells were deleted; the check ran at the end of the notebook")
            cells.append(copy.deepcopy(cell))
    for c in cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
    run.cells = cells
    return run, notes


def execute(nb, timeout: float, cwd: str) -> str | None:
    """Run `nb` in place in a fresh kernel; None, or why it stopped early."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    env = {**os.environ, STRICT_ENV: "1"}
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=math.ceil(timeout),
                            resources={"metadata": {"path": cwd}})
    deadline = time.monotonic() + timeout
    client.reset_execution_trackers()
    try:
        with client.setup_kernel(env=env, cwd=cwd):
            for i, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CellTimeoutError("")
                client.timeout = max(1, math.ceil(left))
                client.execute_cell(cell, i)
    except CellTimeoutError:
        return f"the notebook ran past the {timeout:g} s limit"
    except DeadKernelError:
        return "the kernel died (the notebook crashed or exited)"
    except Exception as e:  # noqa: BLE001 a kernel that never started, and the like
        return f"the notebook could not run: {type(e).__name__}: {e}"
    return None


def verdict(cell) -> tuple[bool, str]:
    """Did an executed check cell pass, and if not, why."""
    if cell.execution_count is None and not cell.outputs:
        return False, "not run"
    for out in cell.outputs:
        if out.get("output_type") == "error":
            if out.get("ename") == "CheckFailed":
                return False, out.get("evalue", "").split(" failed: ", 1)[-1]
            return False, f"{out.get('ename')}: {out.get('evalue')}"
    return True, ""


def grade_one(path: Path, sources: dict, timeout: float) -> list[Row]:
    import nbformat

    try:
        sub = nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 any unreadable file
        sub, unreadable = None, f"not a readable notebook ({type(e).__name__})"
    else:
        unreadable = None
    name = find_source(path, sub, sources)
    student = path.parent.name if path.name in sources and path.parent.name else path.stem
    if name is None:
        return [Row(student, "", 0, 0, False, unreadable or f"{path.name}: no source notebook has its exercises")]
    checks = check_cells(sources[name])
    maxima = {ex: float(_meta(c).get("points", 0)) for ex, c in checks.items()}
    if sub is None:
        return [Row(student, ex, 0, m, False, unreadable) for ex, m in maxima.items()]
    run, notes = assemble(sources[name], sub)
    with tempfile.TemporaryDirectory(prefix="gpuviz-grade-") as cwd:
        stopped = execute(run, timeout, cwd)
    rows = []
    for ex, cell in check_cells(run).items():
        ok, why = verdict(cell)
        if why == "not run" and stopped:
            why = f"not run: {stopped}"
        msg = "; ".join([why] * bool(why) + notes[ex])
        rows.append(Row(student, ex, maxima[ex] if ok else 0, maxima[ex], ok, msg))
    return rows


def write_csv(rows: list[Row], out: Path) -> None:
    """Write atomically: a temporary file in the same folder, then a rename."""
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(FIELDS)
            for r in rows:
                w.writerow([r.student, r.exercise, f"{r.points:g}", f"{r.max:g}", r.passed, r.message])
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise


def summary(rows: list[Row]) -> str:
    students: dict = {}
    for r in rows:
        s = students.setdefault(r.student, [0.0, 0.0, 0, 0])
        s[0] += r.points
        s[1] += r.max
        s[2] += r.passed
        s[3] += 1
    width = max([len("student")] + [len(s) for s in students])
    lines = [f"{'student':<{width}}  points     max  passed"]
    lines += [f"{name:<{width}}  {p:6g}  {m:6g}  {k}/{n}" for name, (p, m, k, n) in students.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import nbformat

    p = argparse.ArgumentParser(prog="gpuviz grade", description=__doc__.split("\n\n")[0])
    p.add_argument("submissions", nargs="+", type=Path, help="submitted notebooks")
    p.add_argument("--out", type=Path, required=True, help="the CSV to write")
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                   help=f"folder of instructor notebooks (default {DEFAULT_SOURCE})")
    p.add_argument("--timeout", type=float, default=600, help="seconds per notebook (default 600)")
    args = p.parse_args(argv)
    sources = {f.name: nbformat.read(f, as_version=4) for f in sorted(args.source.glob("*.ipynb"))}
    if not sources:
        print(f"gpuviz grade: no notebooks in {args.source}", file=sys.stderr)
        return 2
    rows = []
    for path in args.submissions:
        print(f"grading {path} ...", file=sys.stderr, flush=True)
        rows += grade_one(path, sources, args.timeout)
    write_csv(rows, args.out)
    print(summary(rows))
    print(f"\n{len(rows)} rows written to {args.out}")
    return 0
