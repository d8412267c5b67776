"""Proof that a kernel which passed its check in the simulator also compiles for a real GPU.

`gv.check` calls `verify(kernel, argtypes)` after a kernel exercise passes: the kernel is captured
with `gpuviz.kernelrecord` (source, free names, device functions) and compiled to PTX
for sm_75 (Colab's T4) with `cuda.compile_ptx`. Under the simulator `compile_ptx` is None, so the
compile runs in a child process without NUMBA_ENABLE_CUDASIM (`python -m gpuviz.exercises.compileproof`, JSON
lines in and out), started at the first check and kept for the session. No GPU is needed, only numba-cuda[cu13] (or [cu12]). Verdicts are cached on disk by
the record's hash, so a kernel is compiled once however often it is checked or graded.

Numba's reason is translated for a learner where we know the fix: a plain Python helper called from
the kernel becomes "`axpy` is a plain Python function: decorate it with `@cuda.jit(device=True)`".
Where the compiler is missing, the check says once that it could not verify this, and passes.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import select
import subprocess
import sys
from pathlib import Path

CC = (7, 5)
TIMEOUT = 120            # seconds for the child process: importing numba-cuda and compiling takes a few
UNAVAILABLE = ("could not verify that `{name}` compiles for a GPU: {why}. Install numba-cuda's "
               "compiler (pip install 'numba-cuda[cu13]') to have checks prove it.")
_said_unavailable = False
_cached_probe = False    # in-process compiles probe every time (tests swap the probe)


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gpuviz" / "compileproof"


def records(kernel, argtypes: list[list[dict]]) -> list[dict]:
    """kernelrecord records of `kernel`, one per distinct list of launch argument types."""
    from gpuviz import kernelrecord
    from gpuviz.tracer.kernelsource import python_function

    base = kernelrecord._capture_function(python_function(kernel), kernel, stack=())
    seen, out = set(), []
    for at in argtypes:
        key = json.dumps(at, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append({**base, "argtypes": at,
                        "errors": base["errors"] + [e for a in at if (e := a.get("error"))]})
    return out


def verify(kernel, argtypes: list[list[dict]]) -> tuple[bool | None, str]:
    """(True, ""), (False, why it does not compile) or (None, why it could not be verified)."""
    global _said_unavailable
    from gpuviz.tracer.kernelsource import python_function

    name = python_function(kernel).__name__
    try:
        recs = records(kernel, argtypes)
    except Exception as e:  # noqa: BLE001 a kernel the recorder cannot read: say so, do not fail it
        return None, f"could not capture `{name}` to compile it: {type(e).__name__}: {e}"
    if not recs:
        return None, f"`{name}` was never launched by the check, so it was not compiled"
    errors = [e for r in recs for e in r["errors"]]
    if errors:
        return None, f"could not capture `{name}` to compile it: {errors[0]}"
    key = _key(recs)
    cached = _read_cache(key)
    result = cached or _compile(recs)
    if result.get("unavailable"):
        if _said_unavailable:
            return None, ""
        _said_unavailable = True
        return None, UNAVAILABLE.format(name=name, why=result["unavailable"])
    if not cached:
        _write_cache(key, result)
    if result["ok"]:
        return True, ""
    return False, explain(name, recs[0], result["error"])


def explain(name: str, rec: dict, error: str) -> str:
    """Numba's compile error, in a learner's words where the fix is known."""
    plain = sorted(_plain_functions(rec))
    for helper in plain:
        if re.search(rf"\b{re.escape(helper)}\b", error) or len(plain) == 1:
            return (f"`{name}` runs in the simulator but does not compile for a GPU: `{helper}` is a plain "
                    f"Python function: decorate it with `@cuda.jit(device=True)`.")
    return (f"`{name}` runs in the simulator but does not compile for a GPU (PTX for sm_{CC[0]}{CC[1]}); "
            f"the compiler says:\n{error}")


def _plain_functions(rec: dict) -> set[str]:
    """Names of plain Python functions a kernel (or its device functions) calls."""
    out = set()
    for name, entry in rec.get("namespace", {}).items():
        if entry.get("kind") == "python":
            out.add(name)
        if entry.get("function"):
            out |= _plain_functions(entry["function"])
    return out


def _key(recs: list[dict]) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        v = version("numba-cuda")
    except PackageNotFoundError:
        v = "?"
    text = json.dumps({"recs": _placeless(recs), "cc": CC, "numba-cuda": v}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _placeless(obj):
    """A record without where its code was defined (a notebook's cell files are new in every kernel)."""
    if isinstance(obj, dict):
        return {k: _placeless(v) for k, v in obj.items() if k not in ("origin", "firstline")}
    if isinstance(obj, list):
        return [_placeless(v) for v in obj]
    return obj


def _read_cache(key: str) -> dict | None:
    try:
        return json.loads((cache_dir() / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def _write_cache(key: str, result: dict) -> None:
    """Atomic: parallel graders may write the same entry."""
    try:
        d = cache_dir()
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{key}.{os.getpid()}"
        tmp.write_text(json.dumps(result))
        os.replace(tmp, d / f"{key}.json")
    except OSError:
        pass


def _compile(recs: list[dict]) -> dict:
    """{"ok": bool, "error": str} or {"unavailable": why}: here on the real target, else in a child."""
    from numba.cuda.core import config

    if not config.ENABLE_CUDASIM:
        return compile_all(recs)
    return _child(recs)


_worker = None       # the child process, kept for the session: numba-cuda is imported once


def _child(recs: list[dict]) -> dict:
    """Compile in a child without the simulator (`python -m gpuviz.exercises.compileproof`: JSON lines in and out)."""
    global _worker
    if _worker is None or _worker.poll() is not None:
        from gpuviz.runtime import env_without_simulator

        env = env_without_simulator()
        _worker = subprocess.Popen([sys.executable, "-m", "gpuviz.exercises.compileproof"], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        _worker.stdin.write(json.dumps(recs) + "\n")
        _worker.stdin.flush()
        ready, _, _ = select.select([_worker.stdout], [], [], TIMEOUT)
        line = _worker.stdout.readline() if ready else None
    except OSError as e:
        line, why = None, f"the compile process failed: {e}"
    else:
        why = f"the compiler took more than {TIMEOUT} s" if not ready else "the compile process failed"
    if line:
        with contextlib.suppress(ValueError):
            return json.loads(line)
    _worker.kill()
    _worker = None
    return {"unavailable": why}


@functools.cache
def _cannot_compile_here() -> str | None:
    from gpuviz import kernelrecord

    return kernelrecord._cannot_compile_here()


def compile_all(recs: list[dict]) -> dict:
    """Compile every record for CC, in this process (the real CUDA target)."""
    from gpuviz import kernelrecord

    problem = _cannot_compile_here() if _cached_probe else kernelrecord._cannot_compile_here()
    if problem:
        return {"unavailable": problem.splitlines()[-1]}
    for rec in recs:
        try:
            kernelrecord.compile_record(rec, CC)
        except Exception as e:  # noqa: BLE001 Numba's reason is the answer
            return {"ok": False, "error": kernelrecord._first_lines(e)}
    return {"ok": True, "error": ""}


if __name__ == "__main__":
    _cached_probe = True                 # a child serves one session: probe the compiler once
    for request in sys.stdin:
        print(json.dumps(compile_all(json.loads(request))), flush=True)
