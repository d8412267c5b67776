"""gpuviz.course.verdict's parts on their own: the static tamper scan, answers serialized for the re-check,
signed records, and the re-check of every course solution in a fresh process."""
import hashlib
import hmac
import json

import nbformat
import numpy as np
import pytest
from fixtures.notebook_cells import SOURCES, answer, exercises

from gpuviz.course import verdict as V
from gpuviz.course.grade import learner_sources
from gpuviz.course.student import student_notebook

TAMPERING = {
    'import os\nos.environ["GPUVIZ_STRICT"] = "0"': "changes os.environ",
    "gv.check = lambda *a, **k: None": "changes gpuviz.check",
    "from gpuviz import exercises": "imports the grader's checks",
    "import gpuviz.course.verdict as V": "imports the grader's checks",
    "import gpuviz.exercises as E\nE.get = print": "changes gpuviz.exercises.get",
    "from gpuviz.exercises import lesson01\nlesson01.CHECKS['01-saxpy'] = None": "changes gpuviz.exercises.lesson01.CHECKS",
    "import sys\nsys.modules['gpuviz'] = None": "changes sys.modules",
    "import builtins\nbuiltins.isinstance = lambda *a: True": "changes builtins.isinstance",
    "np.allclose = lambda *a, **k: True": "changes numpy.allclose",
    "from numpy import testing\ntesting.assert_allclose = print": "changes numpy.testing.assert_allclose",
    "setattr(gv, 'check', print)": "calls setattr",
    "import importlib, gpuviz\nimportlib.reload(gpuviz)": "reloads a module",
    "f = gv.check.__globals__": "reads a function's globals",
    "gv.check.__code__ = print.__code__": "reads or replaces code objects",
    "import gc\nobjs = gc.get_objects()": "walks every object",
    "__gpuviz_check_cell__ = print": "rebinds __gpuviz_check_cell__",
    "gv = None": "rebinds gv",
    "%env GPUVIZ_STRICT=0": "runs the %env magic",
    "get_ipython().user_ns['gv'] = None": "reaches into the kernel (get_ipython)",
    "import sys\nframe = sys._getframe(1)": "reads stack frames",
    "class Yes:\n    def __eq__(self, other):\n        return True": "defines __eq__",
    "open(glob.glob('/tmp/gpuviz-verdicts-*/records')[0], 'a')": "the grader's files",
}


@pytest.mark.parametrize("code", list(TAMPERING))
def test_the_scan_flags_tampering(code):
    found = V.scan(["x = 1", code])
    assert len(found) >= 1 and found[0].startswith("cell 2, line ")
    assert any(TAMPERING[code] in f for f in found), found


def test_the_scan_leaves_honest_code_alone():
    honest = ["import numpy as np\nimport gpuviz as gv\nx = np.zeros(3)\nx[0] = 1\n%timeit x + 1\n!ls",
              "gv.check('00-flops', f)\nresult = gv.benchmark(lambda: None)\ngv.views.launch_map((4,), 1, 4)"]
    assert V.scan(honest) == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_the_course_itself_is_never_flagged(path):
    nb = nbformat.read(path, as_version=4)
    given = {ln.strip() for c in student_notebook(nb).cells for ln in c.source.splitlines()}
    assert V.scan(learner_sources(nb), given) == []


def test_answers_round_trip_as_data():
    for value in (None, True, 3, 2.5, "s", [1, (2, 3.0)], {"a": np.arange(4)}, {1, 2}, np.float32(1.5),
                  np.arange(6, dtype=np.int16).reshape(2, 3), {1: "b", 2: 32, 3: True}):
        enc = V._encode(value)
        back = V.decode(json.loads(json.dumps(enc)))
        assert type(back) is type(value) and V._encode(back) == enc


def test_disguised_answers_are_not_data():
    class Sneaky(int):
        def __float__(self):
            return 261.0

    for value in (Sneaky(0), np.array([object()]), {Sneaky(1): 2}, object()):
        enc = V._encode(value)
        assert enc["t"] == "none"
        with pytest.raises(ValueError, match="not re-checkable"):
            V.decode(enc)


def test_only_signed_records_count(tmp_path):
    key, path = b"k" * 32, tmp_path / "records"

    def line(body, k=key):
        text = json.dumps(body, sort_keys=True)
        return json.dumps({"body": text, "mac": hmac.new(k, text.encode(), hashlib.sha256).hexdigest()})

    ok = {"seq": 1, "exercise": "00-flops", "calls": [], "error": None}
    forged = {"seq": 2, "exercise": "00-flops", "calls": [{"passed": True}], "error": None}
    path.write_text("\n".join([line(ok), line(forged, b"x" * 32), "not json", '{"body": "{}"}']) + "\n")
    records, bad = V.read_records(path, key)
    assert records == {"00-flops": ok} and bad == 3


@pytest.mark.slow
def test_every_course_solution_passes_its_recheck():
    """The re-check must never fail an honest answer: each solution is re-checked in a fresh process
    (or is not re-checkable, and then the kernel's verdict stands)."""
    jobs = []
    for ex, _, solution, _, preamble, name, kwargs in exercises():
        if ex == "08-im2col":          # calls conv_out_size, whose source exec() here cannot give back
            continue
        obj, kw = answer(preamble, solution, name, kwargs)
        enc = V._encode(obj)
        if enc["t"] != "none":
            jobs.append({"exercise": ex, "answer": enc, "kw": V._encode(kw)})
    assert len(jobs) >= 34
    assert not any(j["exercise"].startswith("13-") and j["exercise"] != "13-quiz" for j in jobs)  # Triton: in-kernel only
    assert sum(j["exercise"].endswith("-quiz") for j in jobs) == 14            # questionnaires are re-checked
    results = V.recheck(jobs, timeout=900)
    assert [(j["exercise"], r["passed"]) for j, r in zip(jobs, results)] == [(j["exercise"], True) for j in jobs]
