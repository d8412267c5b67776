"""The learner's API is declared: every `gv.X` (and `gv.X.Y`) that a notebook or a docstring writes
resolves right after `import gpuviz as gv`, in a fresh interpreter."""
import glob
import json
import re

from helpers import run_python

NAME = re.compile(r"\bgv\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?")


def written_names() -> set:
    texts = ["".join(c["source"]) for p in glob.glob("course/solutions/*.ipynb") + glob.glob("notebooks/*.ipynb")
             for c in json.load(open(p))["cells"]]
    texts += [open(p).read() for p in glob.glob("gpuviz/**/*.py", recursive=True)]
    return {m.group(0) for t in texts for m in NAME.finditer(t)}


def test_every_gv_name_written_resolves_in_a_fresh_interpreter():
    names = sorted(written_names())
    assert "gv.setup" in names and "gv.ddp.launch" in names
    p = run_python(f"""
        import gpuviz as gv
        missing = []
        for name in {names!r}:
            obj = gv
            try:
                for part in name.split(".")[1:]:
                    obj = getattr(obj, part)
            except AttributeError:
                missing.append(name)
        print(missing)
    """)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]", f"written in notebooks or docstrings, but not there after `import gpuviz as gv`: {p.stdout}"


IMPORT = re.compile(r"^\s*(?:from\s+(gpuviz(?:\.\w+)*)\s+import\s+([\w ,]+)|import\s+(gpuviz(?:\.\w+)*))", re.M)
# internals; a notebook may import an exercise module for its reference answer (a fallback until the learner's passes)
INTERNAL = ("gpuviz.course", "gpuviz.tracer", "gpuviz.exercises.check", "gpuviz.hooks", "gpuviz.kernelrecord")


def imported_modules(source: str) -> set:
    out = set()
    for m in IMPORT.finditer(source):
        if m.group(3):
            out.add(m.group(3))
        else:
            out |= {f"{m.group(1)}.{n.split(' as ')[0].strip()}" for n in m.group(2).split(",")}
    return out


def test_notebooks_reach_the_package_only_through_its_public_modules():
    """The tracer, the checks and the course toolchain are internals: notebooks use gv.trace, gv.check,
    gv.kernel_source, gv.kernel_ptx and the flat topic modules."""
    assert imported_modules("from gpuviz.tracer.kernelsource import python_function\nimport gpuviz.course.grade") == {
        "gpuviz.tracer.kernelsource.python_function", "gpuviz.course.grade"}
    found = {}
    for path in sorted(glob.glob("course/solutions/*.ipynb") + glob.glob("notebooks/*.ipynb")):
        for cell in json.load(open(path))["cells"]:
            if cell["cell_type"] == "code":
                bad = {m for m in imported_modules("".join(cell["source"])) if m.startswith(INTERNAL)}
                if bad:
                    found.setdefault(path, set()).update(bad)
    assert not found, f"notebooks import gpuviz internals: {found}"


def test_kernel_source_is_the_source_as_written():
    import gpuviz as gv

    def kernel(a):
        a[0] = 1

    assert gv.kernel_source(kernel).startswith("def kernel(a):\n    a[0] = 1")
