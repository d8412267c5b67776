"""Root pytest configuration: holds every notebook to the course's time budget.

nbval runs each notebook as a sequence of cell items; their durations are summed per notebook
and the session fails if one notebook takes longer than the budget in simulator/CPU mode.
The budget is for a notebook run alone. Under pytest-xdist, notebooks run side by side and share the
cores, so each gets at most 1/k of the machine with k notebooks at once (k = workers, at most the
cores): the budget is scaled by k, and the report says so.
"""
import os
from collections import defaultdict

from gpuviz.course.conventions import MAX_SECONDS_SIM

_notebook_seconds = defaultdict(float)
_workers = set()


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::")[0]
    if path.endswith(".ipynb"):
        _notebook_seconds[path] += report.duration
        gateway = getattr(getattr(report, "node", None), "gateway", None)
        _workers.add(getattr(gateway, "id", "main"))


def _budget() -> float:
    return MAX_SECONDS_SIM * max(1, min(len(_workers), os.cpu_count() or 1))


def pytest_terminal_summary(terminalreporter):
    if not _notebook_seconds:
        return
    budget = _budget()
    shared = f", {len(_workers)} notebooks at a time: the {MAX_SECONDS_SIM} s budget scaled to {budget:.0f} s" \
        if budget > MAX_SECONDS_SIM else ""
    terminalreporter.section(f"notebook run times{shared}")
    for path, secs in sorted(_notebook_seconds.items()):
        flag = "" if secs <= budget else f"  OVER the {budget:.0f} s budget"
        terminalreporter.write_line(f"{secs:6.1f} s  {path}{flag}")


def pytest_sessionfinish(session, exitstatus):
    from gpuviz.runtime import cuda_device_count

    over = [p for p, s in _notebook_seconds.items() if s > _budget()]
    if over and cuda_device_count() == 0 and exitstatus == 0:
        session.exitstatus = 1  # the budget applies in simulator/CPU mode


def pytest_collection_modifyitems(config, items):
    """Notebook 13 needs Triton (the extra gpuviz[triton], which scripts/test installs). Where it is
    missing, skip that notebook's cells and say how to get it; in CI, run them and fail."""
    from gpuviz import tritonkit

    if tritonkit.available() or os.environ.get("CI"):
        return
    import pytest

    skip = pytest.mark.skip(reason=tritonkit.HOWTO)
    for item in items:
        if item.nodeid.split("::")[0].endswith("13_triton.ipynb"):
            item.add_marker(skip)
