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
