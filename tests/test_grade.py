"""gpuviz grade on a tiny course: a solved, a stub, a crashing, a looping, a tampered and an unreadable
submission, graded in one run; the CSV has one row per student and exercise and says why."""
import csv

import pytest
from fixtures import tiny_course

from gpuviz.course import grade as G

TIMEOUT = 5


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("grading")
    tiny_course.write(tiny_course.source(), root / "source" / tiny_course.NAME)
    subs = [tiny_course.write(nb, root / "submitted" / name / tiny_course.NAME)
            for name, nb in tiny_course.submissions().items()]
    subs.append(tiny_course.write(tiny_course.submissions()["solved"], root / "submitted" / "erin.ipynb"))
    out = root / "grades.csv"
    assert G.main([*map(str, subs), "--out", str(out), "--source", str(root / "source"),
                   "--timeout", str(TIMEOUT)]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    return {(r["student"], r["exercise"]): r for r in rows}, rows, root


def test_one_row_per_student_and_exercise(graded):
    _, rows, root = graded
    assert list(rows[0]) == G.FIELDS
    students = ["solved", "stub", "floaty", "crash", "loop", "tamper", "garbage", "erin"]
    assert [(r["student"], r["exercise"]) for r in rows] == [(s, e) for s in students for e in ("00-flops", "00-bytes")]
    assert [p.name for p in root.iterdir() if p.name.startswith(".grades")] == []     # no temporary file left


def test_solved_gets_full_points_stub_gets_zero(graded):
    by_key, _, _ = graded
    for student in ("solved", "erin"):           # erin.ipynb: the student is the file's stem
        for ex in ("00-flops", "00-bytes"):
            assert by_key[student, ex] == {"student": student, "exercise": ex, "points": "2", "max": "2",
                                           "passed": "True", "message": ""}
    for ex in ("00-flops", "00-bytes"):
        r = by_key["stub", ex]
        assert (r["points"], r["passed"]) == ("0", "False") and r["message"].startswith("not done yet")


def test_hidden_tests_are_restored_and_run(graded):
    r = graded[0]["floaty", "00-flops"]                    # passes the visible check, fails the hidden test
    assert r["passed"] == "False" and "matmul_flops should return an int" in r["message"]
    assert graded[0]["floaty", "00-bytes"]["message"].startswith("not done yet")


def test_crash_and_timeout_do_not_stop_the_others(graded):
    by_key, _, _ = graded
    for ex in ("00-flops", "00-bytes"):
        assert by_key["crash", ex]["message"] == "not run: the kernel died (the notebook crashed or exited)"
    assert by_key["loop", "00-flops"]["passed"] == "True"          # graded before the loop
    assert by_key["loop", "00-bytes"]["message"] == f"not run: the notebook ran past the {TIMEOUT} s limit"


def test_tampered_cells_are_restored_and_noted(graded):
    by_key, _, _ = graded
    flops, nbytes = by_key["tamper", "00-flops"], by_key["tamper", "00-bytes"]
    assert flops["passed"] == "True" and "the check cell had been edited; the original was restored" in flops["message"]
    assert nbytes["passed"] == "False" and "name 'matmul_bytes' is not defined" in nbytes["message"]
    assert "its cells were deleted" in nbytes["message"]


def test_unreadable_submission(graded):
    r = graded[0]["garbage", "00-bytes"]
    assert (r["points"], r["max"]) == ("0", "2") and r["message"].startswith("not a readable notebook")


def test_summary_table(graded, capsys):
    _, rows, _ = graded
    table = G.summary([G.Row(r["student"], r["exercise"], float(r["points"]), float(r["max"]),
                             r["passed"] == "True", r["message"]) for r in rows])
    lines = table.splitlines()
    assert lines[0].split() == ["student", "points", "max", "passed"]
    assert lines[1].split() == ["solved", "4", "4", "2/2"] and lines[2].split() == ["stub", "0", "4", "0/2"]


def _grade(root, names, *extra):
    subs = tiny_course.submissions()
    paths = [str(tiny_course.write(subs[n], root / "submitted" / n / tiny_course.NAME)) for n in names]
    tiny_course.write(tiny_course.source(), root / "source" / tiny_course.NAME)
    return G.main([*paths, "--out", str(root / "grades.csv"), "--source", str(root / "source"),
                   "--timeout", str(TIMEOUT), *extra])


def _students(root):
    with open(root / "grades.csv", newline="") as f:
        return [r["student"] for r in csv.DictReader(f)]


def test_an_interrupted_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    real, seen = G.grade_one, []

    def stops_at_the_second(path, *a):
        if seen:
            raise KeyboardInterrupt
        seen.append(path.parent.name)
        return real(path, *a)

    monkeypatch.setattr(G, "grade_one", stops_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        _grade(tmp_path, ["solved", "stub", "floaty"])
    assert _students(tmp_path) == ["solved", "solved"]           # written after each notebook

    def counted(path, *a):
        seen.append(path.parent.name)
        return real(path, *a)

    seen.clear()
    monkeypatch.setattr(G, "grade_one", counted)
    assert _grade(tmp_path, ["solved", "stub", "floaty"], "--resume") == 0
    assert seen == ["stub", "floaty"]
    assert _students(tmp_path) == ["solved"] * 2 + ["stub"] * 2 + ["floaty"] * 2
    assert "## 00_tiny.ipynb: 0 of 4 points" in (tmp_path / "grades-feedback" / "stub.md").read_text()


def test_shards_split_the_class():
    paths = [G.Path(f"s{i}/00_tiny.ipynb") for i in range(7)]
    parts = [G.shard(paths, f"{k}/3") for k in (1, 2, 3)]
    assert sorted(p for part in parts for p in part) == sorted(paths) and [len(p) for p in parts] == [3, 2, 2]
    with pytest.raises(ValueError):
        G.shard(paths, "4/3")


def test_a_crashed_kernel_says_nothing_on_the_terminal(tmp_path, capfd):
    assert _grade(tmp_path, ["crash"]) == 0
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Kernel" not in err and "zmq" not in err.lower()
