"""course/manifest.json agrees with the notebooks, the exercise registry, the README and the syllabus."""
import re

import nbformat
import pytest
from fixtures.notebook_cells import ROOT

from gpuviz.course import manifest as M
from gpuviz.exercises import registry

NOTEBOOKS = M.notebooks()
WRITTEN = [nb for nb in NOTEBOOKS if nb["colab"]]


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def test_fourteen_notebooks_in_order():
    assert [nb["number"] for nb in NOTEBOOKS] == [f"{i:02d}" for i in range(14)]
    for nb in NOTEBOOKS:
        assert re.fullmatch(rf"{nb['number']}_[a-z0-9_]+\.ipynb", nb["file"]) and nb["minutes"] > 0


def test_written_notebooks_are_exactly_the_sources():
    assert sorted(nb["file"] for nb in WRITTEN) == sorted(p.name for p in (ROOT / "course" / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("entry", WRITTEN, ids=lambda e: e["file"])
def test_manifest_matches_the_notebook(entry):
    nb = nbformat.read(ROOT / "course" / "solutions" / entry["file"], as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert f"# {entry['number']} · {entry['title']}\n" in text + "\n"
    assert f"Time: about {entry['minutes']} minutes." in text
    checks = [{"id": _meta(c)["grade_id"], "points": _meta(c)["points"]} for c in nb.cells if _meta(c).get("grade")]
    assert checks == entry["exercises"]
    solutions = [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("solution")]
    assert solutions == [f"{e['id']}-solution" for e in entry["exercises"]]
    for c in nb.cells:
        if _meta(c).get("grade"):
            assert re.match(rf'(\w+ = )?gv\.check\("{_meta(c)["grade_id"]}", ', c.source) and _meta(c)["locked"]


def test_registry_agrees_with_manifest():
    assert {ex: points for ex, (points, _) in registry().items()} == M.exercises()


def test_the_manifest_is_what_sync_writes():
    """Update with: python -m gpuviz.course.manifest --sync"""
    assert M.synced(M.load(), ROOT / "course" / "solutions") == M.load(), "python -m gpuviz.course.manifest --sync"


def test_sync_adds_new_lessons_and_keeps_planned_ones(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# 13 · Kernels in Triton\n\nTime: about 50 minutes."),
        nbformat.v4.new_code_cell('gv.check("13-x", f)', metadata={"nbgrader": {
            "grade": True, "solution": False, "locked": True, "points": 3, "grade_id": "13-x"}})])
    nbformat.write(nb, tmp_path / "13_triton.ipynb")
    planned = {"course": "c", "notebooks": [{"number": "12", "file": "12_a.ipynb", "title": "A", "minutes": 5,
                                             "colab": True, "exercises": [{"id": "12-a", "points": 1}]}]}
    out = M.synced(planned, tmp_path)
    assert out["notebooks"] == [
        {"number": "12", "file": "12_a.ipynb", "title": "A", "minutes": 5, "colab": False, "exercises": []},
        {"number": "13", "file": "13_triton.ipynb", "title": "Kernels in Triton", "minutes": 50, "colab": True,
         "exercises": [{"id": "13-x", "points": 3}]}]


def test_readme_table_rendering():
    table = M.readme_table("https://github.com/someone/course-fork")
    rows = table.splitlines()
    assert len(rows) == 2 + 14
    assert ("| 00 | [Why GPUs?](notebooks/00_why_gpus.ipynb) | 35 min | 4 (7) | [![Open In Colab]"
            "(https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/"
            "someone/course-fork/blob/main/notebooks/00_why_gpus.ipynb) |") == rows[2]
    assert rows[-1].startswith("| 13 | [Triton: blocks instead of threads](notebooks/13_triton.ipynb) |")
    doc = M.with_table("a\n<!-- notebooks:start -->\nold\n<!-- notebooks:end -->\nb", "T")
    assert doc == "a\n<!-- notebooks:start -->\nT\n<!-- notebooks:end -->\nb"


def test_readme_holds_the_rendered_table():
    """Update with: python -m gpuviz.course.manifest --write README.md"""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert M.with_table(readme, M.readme_table()) == readme, "python -m gpuviz.course.manifest --write README.md"


def test_syllabus_and_guide_follow_the_manifest():
    syllabus = (ROOT / "course" / "syllabus.md").read_text(encoding="utf-8")
    for nb in NOTEBOOKS:
        assert f"### {nb['number']} · {nb['title']} ({nb['minutes']} min)" in syllabus
    guide = (ROOT / "course" / "instructor-guide.md").read_text(encoding="utf-8")
    for command in ("gpuviz student course/solutions --out notebooks", "gpuviz grade", "nbgrader generate_assignment",
                    "GPUVIZ_STRICT=1"):
        assert command in guide
