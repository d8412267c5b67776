"""Shared test helpers."""
import os
import subprocess
import sys
import textwrap


def run_python(code: str, sim: bool = True, timeout: int = 300, **env) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter, in the simulator unless sim=False."""
    e = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    if sim:
        e["NUMBA_ENABLE_CUDASIM"] = "1"
    e.update(env)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=e)
