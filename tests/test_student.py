"""Student versions: solution regions replaced, hidden tests removed, outputs cleared, nothing else
changed; notebooks/ in sync with course/solutions; a student notebook runs end to end."""
import re

import nbformat
import pytest
from fixtures import tiny_course
from fixtures.notebook_cells import ROOT, SOURCES
from nbclient import NotebookClient

from gpuviz.course import student as S

MARKERS = (S.BEGIN_SOLUTION, S.END_SOLUTION, S.BEGIN_HIDDEN, S.END_HIDDEN)
INSERTED = {"# YOUR CODE HERE", "raise NotImplementedError()", "pass", "YOUR ANSWER HERE"}


def test_regions_in_functions_raise_at_their_indentation():
    src = "@cuda.jit\ndef k(x):\n    i = 1\n    ### BEGIN SOLUTION\n    x[i] = 2\n    ### END SOLUTION"
    assert S.strip_source(src) == "@cuda.jit\ndef k(x):\n    i = 1\n    # YOUR CODE HERE\n    raise NotImplementedError()"
    nested = "def f():\n    for i in r:\n        ### BEGIN SOLUTION\n        y += i\n        ### END SOLUTION\n    return y"
    assert S.strip_source(nested).splitlines()[2:4] == ["        # YOUR CODE HERE", "        raise NotImplementedError()"]


def test_a_skeleton_raises_once_and_keeps_its_steps():
    """Several regions in one function, one per commented step: the comments stay, only the first region
    raises (the untouched stub is "not done"), the later ones get `pass` only where a block would be empty,
    and the stub compiles."""
    src = ("@cuda.jit\ndef k(x, out):\n    # 1. place\n    ### BEGIN SOLUTION\n    i = cuda.grid(1)\n    ### END SOLUTION\n"
           "    acc = 0\n    for t in range(3):\n        # 2. load\n        ### BEGIN SOLUTION\n        s = x[i]\n"
           "        ### END SOLUTION\n        # 3. wait\n        ### BEGIN SOLUTION\n        cuda.syncthreads()\n"
           "        ### END SOLUTION\n    # 4. write\n    ### BEGIN SOLUTION\n    out[i] = acc\n    ### END SOLUTION\n\n\n"
           "def other(y):\n    ### BEGIN SOLUTION\n    return y\n    ### END SOLUTION")
    out = S.strip_source(src)
    assert out.split("\n") == [
        "@cuda.jit", "def k(x, out):", "    # 1. place", "    # YOUR CODE HERE", "    raise NotImplementedError()",
        "    acc = 0", "    for t in range(3):", "        # 2. load", "        # YOUR CODE HERE", "        pass",
        "        # 3. wait", "        # YOUR CODE HERE", "    # 4. write", "    # YOUR CODE HERE", "", "",
        "def other(y):", "    # YOUR CODE HERE", "    raise NotImplementedError()"]
    compile(out, "stub", "exec")


def test_top_level_regions_do_not_raise():
    assert S.strip_source("x = None\n### BEGIN SOLUTION\nx = 3\n### END SOLUTION\nprint(x)") == \
        "x = None\n# YOUR CODE HERE\nprint(x)"
    assert S.strip_source("if a:\n    ### BEGIN SOLUTION\n    b = 1\n    ### END SOLUTION") == \
        "if a:\n    # YOUR CODE HERE\n    pass"


def test_hidden_tests_and_markdown_answers():
    assert S.strip_source("gv.check('x', f)\n### BEGIN HIDDEN TESTS\nassert f(1) == 2\n### END HIDDEN TESTS") == \
        "gv.check('x', f)"
    assert S.strip_source("A: ### BEGIN SOLUTION\n### BEGIN SOLUTION\n42\n### END SOLUTION", markdown=True) == \
        "A: ### BEGIN SOLUTION\nYOUR ANSWER HERE"


@pytest.mark.parametrize("src", ["### BEGIN SOLUTION\nx = 1", "### END SOLUTION",
                                 "### BEGIN SOLUTION\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS\n### END SOLUTION",
                                 "### BEGIN HIDDEN TESTS\n### END SOLUTION"])
def test_unbalanced_markers_are_errors(src):
    with pytest.raises(S.MarkerError):
        S.strip_source(src)


def _outside(lines, drop):
    out, inside = [], False
    for line in lines:
        mark = line.strip()
        if mark in (S.BEGIN_SOLUTION, S.BEGIN_HIDDEN):
            inside = True
        elif mark in (S.END_SOLUTION, S.END_HIDDEN):
            inside = False
        elif not inside and mark not in drop:
            out.append(line)
    return out


def _regions(lines):
    return [ln.strip() for ln in lines if ln.strip()
            and ln not in _outside(lines, ()) and ln.strip() not in MARKERS]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_student_version_matches_source_outside_regions(path):
    src = nbformat.read(path, as_version=4)
    stu = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
    assert stu.metadata == src.metadata and len(stu.cells) == len(src.cells)
    for a, b in zip(src.cells, stu.cells):
        assert (a.get("id"), a.cell_type, a.metadata) == (b.get("id"), b.cell_type, b.metadata)
        la, lb = a.source.split("\n"), b.source.split("\n")
        assert _outside(la, INSERTED) == _outside(lb, INSERTED)
        assert not any(m in b.source for m in MARKERS)
        for secret in _regions(la):            # nothing of a solution or a hidden test survives in the cell
            assert secret not in lb
        if b.cell_type == "code":
            assert b.outputs == [] and b.execution_count is None


def test_notebooks_are_in_sync_with_the_sources(tmp_path):
    """Regenerate with: gpuviz student course/solutions --out notebooks"""
    assert S.main([str(ROOT / "course" / "solutions"), "--out", str(tmp_path)]) == 0
    made = sorted(p.name for p in tmp_path.glob("*.ipynb"))
    assert made == sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb")), \
        "notebooks/ and course/solutions/ hold different files: gpuviz student course/solutions --out notebooks"
    for name in made:
        assert (tmp_path / name).read_text() == (ROOT / "notebooks" / name).read_text(), \
            f"notebooks/{name} is stale: gpuviz student course/solutions --out notebooks"


def test_a_student_notebook_runs_end_to_end_and_shows_every_failure(tmp_path, monkeypatch):
    monkeypatch.delenv("GPUVIZ_STRICT", raising=False)
    src = tiny_course.write(tiny_course.source(), tmp_path / "src" / tiny_course.NAME)
    assert S.main([str(src.parent), "--out", str(tmp_path / "out")]) == 0
    nb = nbformat.read(tmp_path / "out" / tiny_course.NAME, as_version=4)
    assert "raise NotImplementedError()" in nb.cells[2].source and "HIDDEN" not in nb.cells[3].source
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()       # raises if any cell errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert re.findall(r"❌ (00-\w+) failed: not done yet", text) == ["00-flops", "00-bytes"]
