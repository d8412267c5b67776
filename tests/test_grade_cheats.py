"""The cheat bank (tests/fixtures/cheat_bank.py) graded in one `gpuviz grade --jobs 2` run: no cheat
raises a score without being flagged, the three attacks of issue 17 score what the honest wrong
answer scores, and a kernel that runs in the simulator but cannot compile for a GPU earns nothing."""
import csv

import pytest
from fixtures import cheat_bank, tiny_course

from gpuviz.course import grade as G

ISSUE_ATTACKS = ("env_strict_off", "check_is_noop", "registry_get_passes")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    root = tmp_path_factory.mktemp("cheats")
    tiny_course.write(cheat_bank.source(), root / "source" / cheat_bank.NAME)
    subs = [tiny_course.write(nb, root / "submitted" / name / cheat_bank.NAME)
            for name, nb in cheat_bank.submissions().items()]
    out = root / "grades.csv"
    assert G.main([*map(str, subs), "--out", str(out), "--source", str(root / "source"),
                   "--timeout", "300", "--jobs", "2"]) == 0
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    by_student = {}
    for r in rows:
        by_student.setdefault(r["student"], {})[r["exercise"]] = r
    return by_student, root


def points(rows: dict) -> float:
    return sum(float(r["points"]) for r in rows.values())


@pytest.mark.slow
def test_the_honest_baselines(graded):
    by, _ = graded
    assert points(by["wrong"]) == 2 and by["wrong"]["01-grayscale"]["passed"] == "True"
    assert by["wrong"]["01-saxpy"]["message"].startswith(
        "launch saxpy_stride[2, 64] (128 threads) with n = 1000: 1000 of 1000 values of out are wrong")
    assert points(by["good"]) == 4 and by["good"]["01-saxpy"]["message"] == ""
    assert not any("flagged" in r["message"] for s in ("wrong", "good") for r in by[s].values())


@pytest.mark.slow
def test_a_kernel_that_does_not_compile_earns_nothing(graded):
    saxpy = graded[0]["helper"]["01-saxpy"]
    assert saxpy["points"] == "0" and saxpy["message"] == (
        "`saxpy_stride` runs in the simulator but does not compile for a GPU: `axpy` is a plain Python function: "
        "decorate it with `@cuda.jit(device=True)`.")


@pytest.mark.slow
@pytest.mark.parametrize("cheat", list(cheat_bank.CHEATS))
def test_no_cheat_raises_a_score_unflagged(graded, cheat):
    by, _ = graded
    for ex, r in by[cheat].items():
        if float(r["points"]) > float(by["wrong"][ex]["points"]):
            assert "flagged: " in r["message"], (cheat, ex, r["message"])
    assert any("flagged: " in r["message"] or "unsigned line" in r["message"] for r in by[cheat].values()), cheat


@pytest.mark.slow
@pytest.mark.parametrize("cheat", ISSUE_ATTACKS)
def test_the_issues_attacks_score_like_the_wrong_answer(graded, cheat):
    by, _ = graded
    assert {ex: r["points"] for ex, r in by[cheat].items()} == {ex: r["points"] for ex, r in by["wrong"].items()}


@pytest.mark.slow
def test_each_layer_catches_its_cheat(graded):
    by, _ = graded
    # the check function itself swapped in the kernel: caught by the re-check in a fresh process
    assert G.RECHECK_FAILED in by["check_body_swapped"]["01-saxpy"]["message"]
    assert by["check_body_swapped"]["01-saxpy"]["points"] == "0"
    # the grader's channel replaced: no authentic verdict, so no points
    assert all(r["message"].startswith("no verdict") for r in by["channel_replaced"].values())
    # records forged into the grader's file: unsigned, ignored and counted
    assert "unsigned line(s) in the grader's verdict file were ignored" in by["forged_records"]["01-saxpy"]["message"]
    assert points(by["forged_records"]) == 2
    # an answer disguised as a number: not re-checkable, so the kernel's verdict stands, flagged
    sneaky = by["sneaky_number"]["01-which-element"]["message"]
    assert "defines __float__" in sneaky and "checked in the notebook's kernel only" in sneaky


@pytest.mark.slow
def test_feedback_files(graded):
    _, root = graded
    text = (root / "grades-feedback" / "helper.md").read_text()
    assert text.startswith("# Feedback for helper\n\n## 01_threads_blocks_grids.ipynb: 2 of 7 points")   # 6 of the exercises + 1 of the questionnaire
    assert "### 01-saxpy: ❌ not passed (0 of 2)" in text and "`axpy` is a plain Python function" in text
    assert "### 01-grayscale: ✅ passed (2 of 2)" in text
