"""The questionnaire that ends every notebook (gpuviz/exercises/questionnaires.py): one per notebook, 3 to 6
questions, shown in the notebook exactly as the module renders them; the solution passes, the stub fails, and a
wrong answer to any one question fails with a message that names that question and its section, and never
gives the right answer away."""
import math
import re

import nbformat
import pytest
from fixtures.notebook_cells import SOURCES

from gpuviz.course.student import student_notebook
from gpuviz.exercises import registry
from gpuviz.exercises import questionnaires as Q
from gpuviz.exercises.check import check

IDS = sorted(Q.QUIZZES)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id", "")


def _cells(path):
    nb = nbformat.read(path, as_version=4)
    quiz = [i for i, c in enumerate(nb.cells) if _grade_id(c).endswith("-quiz")]
    return nb, quiz


def _solution(ex_id):
    """The answers dict as the instructor's notebook defines it."""
    path = next(p for p in SOURCES if p.name.startswith(ex_id[:2]))
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if _grade_id(c) == f"{ex_id}-solution")
    ns = {}
    exec(cell.source, ns)  # noqa: S102 the course's own notebook
    return ns["answers"]


def test_every_notebook_has_exactly_one_questionnaire_of_3_to_6_questions():
    assert IDS == sorted(f"{p.name[:2]}-quiz" for p in SOURCES)
    for path in SOURCES:
        nb, quiz = _cells(path)
        ex_id = f"{path.name[:2]}-quiz"
        assert [_grade_id(nb.cells[i]) for i in quiz] == [ex_id], path.name
        assert 3 <= len(Q.QUIZZES[ex_id]) <= 6
        headings = [c.source for c in nb.cells if c.source.startswith("## Questionnaire")]
        assert len(headings) == 1, path.name


@pytest.mark.parametrize("ex_id", IDS)
def test_the_notebook_shows_the_module_s_questions(ex_id):
    """The questions, the template and the check cell are what the module renders, in that order, right before
    the summary; every section a message points to is a heading of that notebook."""
    path = next(p for p in SOURCES if p.name.startswith(ex_id[:2]))
    nb, (at,) = _cells(path)
    md, answer, chk = nb.cells[at - 2], nb.cells[at - 1], nb.cells[at]
    assert md.cell_type == "markdown" and md.source == Q.markdown(ex_id)
    assert answer.source == f"{Q.template(ex_id)}\n### BEGIN SOLUTION\n{Q.solution(ex_id)}\n### END SOLUTION"
    assert _grade_id(answer) == f"{ex_id}-solution" and answer.metadata["nbgrader"]["solution"]
    assert chk.source == f'gv.check("{ex_id}", answers)' and chk.metadata["nbgrader"]["points"] == Q.POINTS
    assert nb.cells[at + 1].source.startswith("## Summary")
    headings = {m.group(1).strip() for c in nb.cells if c.cell_type == "markdown"
                for m in re.finditer(r"^#+ (.+)$", c.source, re.M)}
    for i, q in enumerate(Q.QUIZZES[ex_id], 1):
        assert q.section in headings, f"question {i} points to {q.section!r}, not a heading of {path.name}"
        assert f"\n{i}. " in md.source
        if q.kind == "choice":
            assert q.answer in dict(q.options) and len(q.options) >= 3
    assert registry()[ex_id] == (Q.POINTS, Q.CHECKS[ex_id][1])


@pytest.mark.parametrize("ex_id", IDS)
def test_solution_passes_and_stub_fails(ex_id):
    assert check(ex_id, _solution(ex_id), strict=False).passed
    ns = {}
    exec(Q.template(ex_id), ns)  # noqa: S102
    stub = check(ex_id, ns["answers"], strict=False)
    assert not stub.passed and "not done yet" in stub.message
    path = next(p for p in SOURCES if p.name.startswith(ex_id[:2]))
    student = student_notebook(nbformat.read(path, as_version=4))
    cell = next(c for c in student.cells if _grade_id(c) == f"{ex_id}-solution")
    assert "BEGIN SOLUTION" not in cell.source and Q.solution(ex_id) not in cell.source
    ns = {}
    exec(cell.source, ns)  # noqa: S102 the student's starting point
    assert not check(ex_id, ns["answers"], strict=False).passed


def _wrong(q):
    """A wrong answer of the right kind."""
    if q.kind == "bool":
        return not q.answer
    if q.kind == "choice":
        letters = [k for k, _ in q.options]
        return letters[(letters.index(q.answer) + 1) % len(letters)]
    return q.answer * 2 + 1


def _gives_away(message, q) -> bool:
    """Does the message contain the right answer? Question numbers, counts ("2 of 5") and the quoted section
    headings are labels, not answers, and are left out of the search."""
    text = re.sub(r"'[^']*'", "", message)                       # the sections to reread
    text = re.sub(r"\b(questions?|Question) \d+|\d+ of \d+", "", text)
    if q.kind == "bool":
        return re.search(rf"\b{q.answer}\b", text, re.I) is not None
    if q.kind == "choice":
        return any(s in text for s in (f'"{q.answer}"', f"({q.answer})", f" {q.answer})", f"'{q.answer}'"))
    value = float(q.answer)
    for token in re.findall(r"-?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?", text):
        if math.isclose(float(token.replace(",", "")), value, rel_tol=max(q.rtol, 1e-9), abs_tol=1e-12):
            return True
    return False


CASES = [(ex_id, i) for ex_id in IDS for i in range(1, len(Q.QUIZZES[ex_id]) + 1)]


@pytest.mark.parametrize("ex_id,i", CASES, ids=[f"{e}-q{i}" for e, i in CASES])
def test_one_wrong_answer_is_named_and_not_given_away(ex_id, i):
    q = Q.QUIZZES[ex_id][i - 1]
    answers = dict(_solution(ex_id))
    answers[i] = _wrong(q)
    r = check(ex_id, answers, strict=False)
    assert not r.passed and r.points == 0
    assert f"question {i}:" in r.message and f"reread '{q.section}'" in r.message
    assert "1 of" in r.message and not any(f"question {j}:" in r.message for j in answers if j != i)
    assert not _gives_away(r.message, q), r.message


def test_the_answer_search_finds_answers():
    """_gives_away is not blind: it finds each kind of answer where a message would spell it out."""
    num, choice, yes = Q.Question("q", 131072, "s"), Q.Question("q", "b", "s", (("a", "x"), ("b", "y"))), \
        Q.Question("q", False, "s")
    assert _gives_away("the answer is 131,072", num) and not _gives_away("question 3: reread '2. x'", num)
    assert _gives_away('the right letter is "b"', choice) and _gives_away("option (b) is right", choice)
    assert _gives_away("it is false", yes) and not _gives_away("question 2: reread 'Summary'", yes)


@pytest.mark.parametrize("answers,says", [
    ([1, 2, 3], "should be a dict"),
    ({"a": 1}, "keys of `answers` are the question numbers"),
    ({1: 512, 2: "b", 3: "b", 4: "c", 5: False, 9: 1}, "there is no question 9"),
    ({1: 512, 2: "b", 3: None, 4: "c", 5: None}, "questions 3 and 5 are not answered yet"),
    ({1: "512", 2: "b", 3: "b", 4: "c", 5: False}, "Question 1 wants a number"),
    ({1: 512, 2: "z", 3: "b", 4: "c", 5: False}, 'Question 2 wants one of the letters "a", "b", "c", "d"'),
    ({1: 512, 2: "b", 3: "b", 4: "c", 5: "False"}, "Question 5 wants True or False"),
    ({1: True, 2: "b", 3: "b", 4: "c", 5: False}, "Question 1 wants a number"),
])
def test_malformed_answers_are_explained(answers, says):
    r = check("00-quiz", answers, strict=False)
    assert not r.passed and says in r.message, r.message


def test_lenient_where_it_costs_nothing():
    """String keys, capital letters, parentheses, NumPy numbers and rounded values are fine."""
    import numpy as np

    assert check("00-quiz", {"1": np.int64(512), "2": " B ", "3": "(b)", "4": "c", "5": np.bool_(False)},
                 strict=False).passed
    sol = _solution("09-quiz")
    assert sol[3] == 4.17 and check("09-quiz", sol, strict=False).passed
    assert not check("09-quiz", {**sol, 3: 4.3}, strict=False).passed


def test_disguised_numbers_do_not_pass():
    class Sneaky(int):
        def __float__(self):
            return 512.0

        def __eq__(self, other):
            return True

        __hash__ = int.__hash__

    answers = {**_solution("00-quiz"), 1: Sneaky(0)}
    r = check("00-quiz", answers, strict=False)
    assert not r.passed and "Question 1 wants a number" in r.message
