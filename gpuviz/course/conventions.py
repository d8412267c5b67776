"""The course's notebook conventions, in one place: written down here, applied and checked by code.

REPO_URL is the one setting that names the public repository: the Colab bootstrap cell, the
Colab badges and the README's links are all generated from it. Change it here, then run
`python -m gpuviz.course.conventions course/solutions/*.ipynb` and regenerate the student notebooks.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO_URL = "https://github.com/gpuviz/gpuviz"
BRANCH = "main"
STUDENT_DIR = "notebooks"
SOURCE_DIR = "course/solutions"
MAX_SECONDS_SIM = 90  # per notebook, simulator/CPU mode, 2-core machine

BOOTSTRAP = f'''# Colab only: install gpuviz from the course repository. Elsewhere this cell does nothing.
import sys
if "google.colab" in sys.modules:
    import subprocess
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "gpuviz @ git+{REPO_URL}@{BRANCH}"],
                   check=True)'''

METADATA = {
    "accelerator": "GPU",
    "colab": {"gpuType": "T4", "provenance": []},
    "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
    "language_info": {"name": "python"},
}

SETUP_RE = re.compile(r"^import gpuviz as gv\s*\n(?:\w+\s*=\s*)?gv\.setup\(", re.M)
UNSEEDED_RE = re.compile(r"default_rng\(\s*\)|torch\.seed\(\)|random\.seed\(\s*\)")


def colab_url(filename: str) -> str:
    owner_repo = REPO_URL.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{owner_repo}/blob/{BRANCH}/{STUDENT_DIR}/{filename}"


def badge(filename: str) -> str:
    return f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(filename)})"


def _source(cell) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def apply(nb, filename: str):
    """Bring a notebook's bootstrap cell, badge and metadata in line with the settings above."""
    import nbformat

    cells = nb.cells
    if not (cells and cells[0].cell_type == "code" and "Colab only" in _source(cells[0])):
        cells.insert(0, nbformat.v4.new_code_cell(BOOTSTRAP))
    cells[0].source = BOOTSTRAP
    title = cells[1]
    lines = [ln for ln in _source(title).splitlines() if "colab-badge.svg" not in ln]
    title.source = "\n".join([badge(filename), *lines])
    nb.metadata.update(METADATA)
    return nb


def problems(nb, filename: str) -> list[str]:
    """Every way `nb` breaks the conventions; empty when it follows them all."""
    out = []
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    if not cells or cells[0]["cell_type"] != "code" or _source(cells[0]) != BOOTSTRAP:
        out.append("the first cell must be the Colab bootstrap from gpuviz.course.conventions.BOOTSTRAP")
    if len(code) < 2 or not SETUP_RE.search(_source(code[1])):
        out.append("the second code cell must start with `import gpuviz as gv` and `gv.setup(...)`")
    head = _source(cells[1]) if len(cells) > 1 and cells[1]["cell_type"] == "markdown" else ""
    if badge(filename) not in head:
        out.append("the markdown cell after the bootstrap must start with the Colab badge for this file")
    if not re.search(r"^# \S", head, re.M):
        out.append("the markdown cell after the bootstrap must have a `# ` title")
    if "Learning objectives" not in head:
        out.append("the title cell must list the learning objectives")
    if not re.search(r"Time:\s*about \d+ minutes", head):
        out.append("the title cell must give a time estimate as `Time: about N minutes`")
    text = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    for heading in ("Summary", "Further reading"):
        if not re.search(rf"^#+ {heading}", text, re.M):
            out.append(f"the notebook must end with a `{heading}` section")
    for k, v in METADATA.items():
        if nb["metadata"].get(k) != v and k != "colab":
            out.append(f"metadata {k!r} must be {v!r}")
    if nb["metadata"].get("colab", {}).get("gpuType") != "T4":
        out.append("metadata colab.gpuType must be 'T4'")
    for i, c in enumerate(code):
        if c.get("outputs") or c.get("execution_count"):
            out.append(f"code cell {i} has outputs or an execution count: strip them (pre-commit does)")
        if UNSEEDED_RE.search(_source(c)):
            out.append(f"code cell {i} creates an unseeded random generator")
    return out


def main(argv=None) -> int:
    """Apply the conventions to the notebooks named on the command line, in place."""
    import nbformat

    for name in argv if argv is not None else sys.argv[1:]:
        path = Path(name)
        nb = nbformat.read(path, as_version=4)
        nbformat.write(apply(nb, path.name), path)
        print(f"{path}: conventions applied")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
