"""Progressive hints (gpuviz/exercises/hints.py, `gv.hint("ID")`): every exercise worth 2 points or more has
2 to 4 of them, shown one per call, then a message that there are no more and where the idea is explained;
no hint gives away a line of the exercise's solution; every such exercise's statement tells the learner
about `gv.hint`."""
from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from gpuviz.course import student as S
from gpuviz.exercises import hints as H
from gpuviz.exercises import registry
from test_student_no_answers import code_lines, contains

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "course" / "manifest.json").read_text())
POINTS = {e["id"]: (nb["file"], e["points"]) for nb in MANIFEST["notebooks"] for e in nb["exercises"]}
HINTED = sorted(i for i, (_, p) in POINTS.items() if p >= 2)
# a call with no arguments (`cuda.syncthreads()`, `loss.backward()`) names an API the statement names; it
# gives nothing away, and a hint may name it
BARE_CALL = re.compile(r"^[\w.]+\(\)$")


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("`", "")).strip()


def solution_lines(ex_id: str) -> list[str]:
    """The non-trivial lines of the solution region(s) of exercise `ex_id` in its instructor notebook: the
    cell whose nbgrader grade_id is ID-solution, between `### BEGIN SOLUTION` and `### END SOLUTION`."""
    nb = nbformat.read(ROOT / "course" / "solutions" / POINTS[ex_id][0], as_version=4)
    cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == f"{ex_id}-solution"]
    assert cells, f"no cell with grade_id {ex_id}-solution"
    region, out = None, []
    for line in cells[0].source.split("\n"):
        mark = line.strip()
        if mark == S.BEGIN_SOLUTION:
            region = []
        elif mark == S.END_SOLUTION:
            out += code_lines("\n".join(region))
            region = None
        elif region is not None:
            region.append(line)
    assert out, f"{ex_id}: an empty solution region"
    return out


def statement(ex_id: str) -> str:
    """The exercise's markdown statement: the last markdown cell before its solution cell."""
    nb = nbformat.read(ROOT / "course" / "solutions" / POINTS[ex_id][0], as_version=4)
    last = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            last = cell.source
        elif cell.metadata.get("nbgrader", {}).get("grade_id") == f"{ex_id}-solution":
            return last or ""
    raise AssertionError(f"no cell with grade_id {ex_id}-solution")


def leaked_lines(hint: str, solution: list[str]) -> list[str]:
    """The solution lines that `hint` gives away: a line as written (whitespace normalised, a block's `:`
    optional), or a one-line answer's expression up to renaming (`min(p, i * b)`)."""
    text = _norm(hint)
    found = [line for line in solution
             if not BARE_CALL.match(line) and (line in text or line.rstrip(":").rstrip() in text)]
    if len(solution) == 1 and contains([text], solution):
        found.append(solution[0])
    return found


@pytest.fixture(autouse=True)
def fresh_hints():
    H.reset()
    yield
    H.reset()


def test_every_exercise_worth_two_points_has_hints():
    assert HINTED, "no exercise worth 2 points in course/manifest.json?"
    few = {i: len(H.HINTS.get(i, [])) for i in HINTED if not 2 <= len(H.HINTS.get(i, [])) <= 4}
    assert not few, f"exercises worth >= 2 points need 2 to 4 hints in gpuviz/exercises/hints.py: {few}"
    no_see = [i for i in HINTED if not H.SEE.get(i, "").startswith("notebook ")]
    assert not no_see, f"no SEE entry (where the idea is explained) for {no_see}"
    stale = sorted(set(H.HINTS) - set(registry())) + sorted(set(H.SEE) - set(H.HINTS))
    assert not stale, f"hints for exercises that do not exist: {stale}"
    empty = [i for i, hs in H.HINTS.items() for h in hs if len(h.strip()) < 20]
    assert not empty, f"hints too short to help: {empty}"


def test_hints_are_revealed_in_order_then_say_there_are_no_more(capsys):
    ex = "01-saxpy"
    total = len(H.HINTS[ex])
    for k in range(1, total + 1):
        assert H.hint(ex) is None
        out = capsys.readouterr().out
        assert f"hint {k} of {total}" in out and _norm(H.HINTS[ex][k - 1]) in _norm(out), out
        for other in range(total):
            if other != k - 1:
                assert _norm(H.HINTS[ex][other]) not in _norm(out), f"hint {other + 1} shown with hint {k}"
        assert ("again for the next one" in out) == (k < total), out
    for _ in range(2):                                  # and again: still no more, and where to read
        H.hint(ex)
        out = capsys.readouterr().out
        assert "No more hints" in out and H.SEE[ex] in out and "hint 1 of" not in out, out
    H.hint(ex, 2)                                       # one hint again, on request
    out = capsys.readouterr().out
    assert "hint 2 of" in out and _norm(H.HINTS[ex][1]) in _norm(out), out
    H.hint("02-copy2d")                                 # each exercise counts on its own
    assert "hint 1 of" in capsys.readouterr().out


def test_gv_hint_is_the_learners_name(capsys):
    import gpuviz as gv

    gv.hint("00-flops")
    assert "00-flops, hint 1 of" in capsys.readouterr().out
    with pytest.raises(KeyError, match="01-saxpy"):
        gv.hint("01-saxp")                              # a typo: the nearest IDs
    gv.hint("01-blocks")                                # a 1-point exercise: no hints, and says so
    assert "no hints" in capsys.readouterr().out
    with pytest.raises(ValueError):
        gv.hint("01-saxpy", 99)


@pytest.mark.parametrize("ex_id", HINTED)
def test_no_hint_holds_a_line_of_the_solution(ex_id):
    solution = solution_lines(ex_id)
    for k, hint in enumerate(H.HINTS.get(ex_id, []), 1):
        found = leaked_lines(hint, solution)
        assert not found, f"hint {k} of {ex_id} gives away the solution's code {found}: {hint!r}"


def test_the_leak_detector_catches_solution_lines():
    solution = ["i = cuda.grid(1)", "if i < out.size:", "out[i] = a * x[i] + y[i]", "cuda.syncthreads()"]
    assert leaked_lines("Write `out[i] = a * x[i] + y[i]`.", solution)
    assert leaked_lines("Guard: `if i   < out.size`", solution)                # spaces, no colon
    assert not leaked_lines("Only threads with `i < out.size` write; call `cuda.syncthreads()`.", solution)
    one = ["return min(peak_gflops, intensity * bandwidth_gbs)"]
    assert leaked_lines("It is `min(p, i * w)`.", one)                           # renamed, still the answer
    assert not leaked_lines("Take the lower of the two roofs.", one)
    assert solution_lines("01-saxpy")[-1].startswith("out[i] =")


@pytest.mark.parametrize("ex_id", HINTED)
def test_every_statement_mentions_gv_hint(ex_id):
    text = statement(ex_id)
    assert "Exercise" in text, f"{ex_id}: the markdown cell before its solution is not its statement"
    line = f'Stuck? `gv.hint("{ex_id}")` shows a hint; run it again for the next one.'
    assert f'gv.hint("{ex_id}")' in text, f"the statement of {ex_id} ({POINTS[ex_id][0]}) should say {line!r}"
