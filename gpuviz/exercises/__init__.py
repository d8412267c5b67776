"""The course's exercises, by ID: every module `lessonNN.py` here, and `questionnaires.py` (the questionnaire
that ends each notebook), defines

    CHECKS = {"NN-name": (points, check), ...}

where `check(obj, **kw) -> (ok, message)` judges the learner's answer (a plain function, or a
`gpuviz.exercises.check.FunctionExercise` / `KernelExercise`). `gpuviz.exercises.check.check` looks exercises up here;
tests hold the points equal to course/manifest.json and to the notebooks' nbgrader metadata.
"""
from __future__ import annotations

import difflib
import pkgutil
from functools import cache
from importlib import import_module


@cache
def registry() -> dict:
    """exercise ID -> (points, check), from every lesson module and the questionnaires."""
    out = {}
    for mod in sorted(m.name for m in pkgutil.iter_modules(__path__)
                      if m.name.startswith("lesson") or m.name == "questionnaires"):
        for ex_id, entry in import_module(f"{__name__}.{mod}").CHECKS.items():
            if ex_id in out:
                raise RuntimeError(f"exercise {ex_id!r} is defined twice (again in {mod})")
            out[ex_id] = entry
    return out


def get(exercise_id: str):
    """(points, check) for an exercise ID; a KeyError that suggests the nearest IDs otherwise."""
    reg = registry()
    if exercise_id not in reg:
        near = difflib.get_close_matches(str(exercise_id), reg, n=3)
        hint = f"; did you mean {', '.join(near)}?" if near else f"; known: {', '.join(sorted(reg))}"
        raise KeyError(f"no exercise {exercise_id!r}{hint}")
    return reg[exercise_id]
