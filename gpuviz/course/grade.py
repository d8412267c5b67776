"""Autograder: `gpuviz grade SUBMISSION.ipynb ... --out grades.csv [--jobs N] [--resume] [--shard K/N]`.

Each submission is matched to its instructor source (same file name in --source, else the exercise IDs
in its cell metadata) and rebuilt: the learner's cells run in their order, and after each solution
cell the source's check cell for that exercise runs, hidden tests included, whatever the learner did
to the check cells (edited, deleted or moved: restored and noted). The notebook then runs in a fresh
kernel (nbclient) in an empty temporary directory, under one time limit for the whole notebook.

Verdicts do not come from what the notebook prints or raises: `gpuviz.course.verdict` opens a signed channel
before the first learner cell, every check cell reports through it, answers that are data or source
code are re-checked in a fresh process, and a static scan flags tampering in the message column.
One CSV row per student and exercise: student, exercise, points, max, passed, message; it is rewritten
atomically after every notebook, so `--resume` carries on after an interruption. One Markdown
feedback file per student goes next to it, and a summary table to stdout.

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
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from gpuviz.course import verdict
from gpuviz.exercises.check import STRICT_ENV
from gpuviz.course.student import strip_source, student_notebook

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
    notebook: str = ""        # the source notebook's file name (feedback files group by it)


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
    """Run `nb` in place in a fresh kernel; None, or why it stopped early. The kernel's own stdout and
    stderr (a crashed kernel's ZMQ traceback) go to a file in `cwd`, not to the grader's terminal."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    env = {**os.environ, STRICT_ENV: "1"}
    client = NotebookClient(nb, kernel_name="python3", allow_errors=True, timeout=math.ceil(timeout),
                            resources={"metadata": {"path": cwd}},
                            extra_arguments=["--HistoryManager.enabled=False"])
    client.reset_execution_trackers()
    log = open(os.path.join(cwd, ".kernel.log"), "wb")
    try:
        with log, client.setup_kernel(env=env, cwd=cwd, stdout=log, stderr=log):
            deadline = time.monotonic() + timeout      # from a started kernel: a busy machine starts slowly
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


def prepare(run) -> None:
    """Route every check cell through the grader's channel and put the hidden cell that opens it first
    (its paths are filled in by `grade_notebook`)."""
    for ex, cell in check_cells(run).items():
        cell.source = verdict.check_cell_source(ex, cell.source)
    run.cells.insert(0, nbformat_v4().new_code_cell("", metadata={"gpuviz": {"grader": True}}))


def nbformat_v4():
    from nbformat import v4

    return v4


def _ran(cell) -> bool:
    return cell.execution_count is not None or bool(cell.outputs)


def decide(run, records: dict, stopped: str | None) -> dict:
    """exercise -> (passed in the kernel, message, re-check jobs) from the authentic records."""
    out = {}
    for ex, cell in check_cells(run).items():
        rec = records.get(ex)
        if rec is None:
            if stopped and stopped.startswith("the grader could not start"):
                why = f"not graded: {stopped}"
            elif not _ran(cell):
                why = f"not run: {stopped}" if stopped else "not run"
            else:
                why = ("no verdict: the check cell ran but never reached the grader's check (was the grader's "
                       "check replaced or bypassed?)")
            out[ex] = (False, why, [])
            continue
        calls = [c for c in rec["calls"] if c["exercise"] == ex]
        failed = next((c for c in calls if not c["passed"]), None)
        if failed:
            out[ex] = (False, failed["message"], [])
        elif rec["error"]:
            out[ex] = (False, rec["error"], [])
        elif not calls:
            out[ex] = (False, f"the check cell did not check {ex}", [])
        else:
            out[ex] = (True, "",
                       [{"exercise": ex, "answer": c["answer"], "kw": c["kw"]} for c in calls])
    return out


RECHECK_FAILED = ("it passed in the notebook's kernel but failed when re-checked in a fresh process, so "
                  "something in the notebook changed how the check behaves")


def grade_notebook(run, timeout: float, flags: list[str]) -> tuple[dict, str | None]:
    """Execute an assembled notebook through the verdict channel, re-check what passed outside it.
    Returns ({exercise: (passed, message)}, why the run stopped early or None)."""
    prepare(run)
    key = secrets.token_bytes(32)
    with tempfile.TemporaryDirectory(prefix="gpuviz-grade-") as cwd, \
            tempfile.TemporaryDirectory(prefix="gpuviz-verdicts-") as private:
        records_path, key_path = os.path.join(private, "records"), os.path.join(private, "key")
        open(records_path, "wb").close()
        with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(key)
        run.cells[0].source = verdict.hidden_cell(records_path, key_path)
        stopped = execute(run, timeout, cwd)
        if run.cells[0].outputs and any(o.get("output_type") == "error" for o in run.cells[0].outputs):
            err = next(o for o in run.cells[0].outputs if o.get("output_type") == "error")
            stopped = stopped or f"the grader could not start: {err.get('ename')}: {err.get('evalue')}"
        records, forged = verdict.read_records(records_path, key)
    if forged:
        flags.append(f"{forged} unsigned line(s) in the grader's verdict file were ignored (forged by this "
                     "notebook, or by another one graded at the same time)")
    decided = decide(run, records, stopped)
    jobs = [(ex, j) for ex, (ok, _, js) in decided.items() if ok for j in js]
    rechecked = verdict.recheck([j for _, j in jobs], timeout=max(60.0, timeout))
    verdicts = {ex: [ok, why] for ex, (ok, why, _) in decided.items()}
    for (ex, _), r in zip(jobs, rechecked):
        if r["passed"] is False and verdicts[ex][0]:
            verdicts[ex] = [False, f"{r['message']} ({RECHECK_FAILED})"]
        elif r["passed"] is None and flags and verdicts[ex][0]:
            verdicts[ex][1] = f"checked in the notebook's kernel only: {r['message']}"
    return {ex: tuple(v) for ex, v in verdicts.items()}, stopped


def learner_sources(sub) -> list[str]:
    """The submission's cells as the scan sees them: check cells and markdown blanked, so that cell
    numbers are the notebook's."""
    return ["" if c.cell_type != "code" or _meta(c).get("grade") else c.source for c in sub.cells]


def grade_one(path: Path, sources: dict, timeout: float) -> list[Row]:
    import nbformat

    try:
        sub = nbformat.read(path, as_version=4)
    except Exception as e:  # noqa: BLE001 any unreadable file
        sub, unreadable = None, f"not a readable notebook ({type(e).__name__})"
    else:
        unreadable = None
    name = find_source(path, sub, sources)
    student = student_name(path, sources)
    if name is None:
        return [Row(student, "", 0, 0, False, unreadable or f"{path.name}: no source notebook has its exercises",
                    path.name)]
    checks = check_cells(sources[name])
    maxima = {ex: float(_meta(c).get("points", 0)) for ex, c in checks.items()}
    if sub is None:
        return [Row(student, ex, 0, m, False, unreadable, name) for ex, m in maxima.items()]
    run, notes = assemble(sources[name], sub)
    given = {ln.strip() for c in student_notebook(sources[name]).cells for ln in c.source.splitlines()}
    flags = [f"flagged: {f}" for f in verdict.scan(learner_sources(sub), given)]
    verdicts, _ = grade_notebook(run, timeout, flags)
    rows = []
    for ex in checks:
        ok, why = verdicts[ex]
        msg = "; ".join([why] * bool(why) + notes[ex] + flags)
        rows.append(Row(student, ex, maxima[ex] if ok else 0, maxima[ex], ok, msg, name))
    return rows


def student_name(path: Path, sources: dict) -> str:
    return path.parent.name if path.name in sources and path.parent.name else path.stem


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


def read_csv(out: Path) -> list[Row]:
    """The rows of an earlier run's CSV (for --resume)."""
    with open(out, newline="", encoding="utf-8") as f:
        return [Row(r["student"], r["exercise"], float(r["points"]), float(r["max"]), r["passed"] == "True",
                    r["message"]) for r in csv.DictReader(f)]


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


def shard(paths: list[Path], spec: str | None) -> list[Path]:
    """The K-th of N interleaved slices of the sorted submissions (`--shard K/N`, K from 1)."""
    if not spec:
        return paths
    k, n = (int(x) for x in spec.split("/"))
    if not 1 <= k <= n:
        raise ValueError(f"--shard {spec}: K must be between 1 and N")
    return [p for i, p in enumerate(sorted(paths)) if i % n == k - 1]


def already_graded(path: Path, sources: dict, done: set) -> bool:
    """Does the CSV being resumed hold a row for every exercise of this submission?"""
    import nbformat

    student = student_name(path, sources)
    try:
        sub = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001
        sub = None
    name = find_source(path, sub, sources)
    exercises = list(check_cells(sources[name])) if name else [""]
    return all((student, ex) in done for ex in exercises)


def feedback(student: str, rows: list[Row]) -> str:
    """A student's feedback, in Markdown: per notebook, each exercise's verdict, explanation and notes."""
    lines = [f"# Feedback for {student}", ""]
    for nb in dict.fromkeys(r.notebook for r in rows):
        mine = [r for r in rows if r.notebook == nb]
        lines += [f"## {nb or 'submission'}: {sum(r.points for r in mine):g} of {sum(r.max for r in mine):g} points",
                  ""]
        for r in mine:
            mark = "✅ passed" if r.passed else "❌ not passed"
            lines += [f"### {r.exercise or 'submission'}: {mark} ({r.points:g} of {r.max:g})", ""]
            for part in filter(None, r.message.split("; ")):
                lines += ["```", part, "```"] if "\n" in part else [f"- {part}"]
            lines.append("")
    return "\n".join(lines)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    import nbformat
    from concurrent.futures import ProcessPoolExecutor, as_completed

    from tqdm.auto import tqdm

    p = argparse.ArgumentParser(prog="gpuviz grade", description=__doc__.split("\n\n")[0])
    p.add_argument("submissions", nargs="+", type=Path, help="submitted notebooks")
    p.add_argument("--out", type=Path, required=True, help="the CSV to write")
    p.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                   help=f"folder of instructor notebooks (default {DEFAULT_SOURCE})")
    p.add_argument("--timeout", type=float, default=600, help="seconds per notebook (default 600)")
    p.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1; about one per core)")
    p.add_argument("--resume", action="store_true", help="keep the rows of an earlier, interrupted run of "
                   "--out and grade only the submissions it lacks")
    p.add_argument("--shard", metavar="K/N", help="grade only the K-th of N slices of the submissions "
                   "(one machine or CI job per slice, each with its own --out)")
    p.add_argument("--feedback", type=Path, help="folder for one Markdown feedback file per student "
                   "(default: next to --out, OUT-feedback/)")
    args = p.parse_args(argv)
    sources = {f.name: nbformat.read(f, as_version=4) for f in sorted(args.source.glob("*.ipynb"))}
    if not sources:
        print(f"gpuviz grade: no notebooks in {args.source}", file=sys.stderr)
        return 2
    try:
        paths = shard(list(args.submissions), args.shard)
    except ValueError as e:
        p.error(str(e))
    feedback_dir = args.feedback or args.out.with_name(f"{args.out.stem}-feedback")
    old = read_csv(args.out) if args.resume and args.out.exists() else []
    done = {(r.student, r.exercise) for r in old}
    todo = [path for path in paths if not (old and already_graded(path, sources, done))]
    if old:
        print(f"resuming {args.out}: {len(paths) - len(todo)} submission(s) already graded, {len(todo)} to go",
              file=sys.stderr)
    graded: dict[Path, list[Row]] = {}

    def finished(path, rows):
        graded[path] = rows
        fresh = [r for path in todo if path in graded for r in graded[path]]
        keys = {(r.student, r.exercise) for r in fresh}
        write_csv([r for r in old if (r.student, r.exercise) not in keys] + fresh, args.out)
        student = rows[0].student
        mine = [r for rs in graded.values() for r in rs if r.student == student]
        mine += [Row(**{**r.__dict__, "notebook": "graded in an earlier run"}) for r in old
                 if r.student == student and (r.student, r.exercise) not in keys]
        write_text_atomic(feedback_dir / f"{student}.md", feedback(student, mine))

    bar = tqdm(total=len(todo), desc="grading", unit="notebook", file=sys.stderr, disable=not todo)
    if args.jobs <= 1:
        for path in todo:
            bar.set_postfix_str(str(path), refresh=True)
            finished(path, grade_one(path, sources, args.timeout))
            bar.update()
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {pool.submit(grade_one, path, sources, args.timeout): path for path in todo}
            for fut in as_completed(futures):
                finished(futures[fut], fut.result())
                bar.update()
    bar.close()
    if not todo:
        write_csv(old, args.out)
    rows = [r for r in old if (r.student, r.exercise) not in {(x.student, x.exercise) for rs in graded.values()
                                                              for x in rs}]
    rows += [r for path in todo for r in graded[path]]
    print(summary(rows))
    print(f"\n{len(rows)} rows written to {args.out}; feedback for each student in {feedback_dir}/")
    return 0
