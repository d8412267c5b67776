"""The CPU tracer: runs a Numba CUDA kernel thread by thread and records what every thread did.

    scheduler    runs the threads, block by block, up to each barrier; the Trace it returns
    fakecuda     the `cuda` module a traced kernel sees: indices, shared memory, atomics, shuffles
    kernelsource the kernel's Python source, rewritten so that a barrier yields to the scheduler
    sanitizer    the problems a GPU would not report: races, out-of-bounds, divergent barriers
    metrics      access metrics of a trace: coalescing (sectors per request), bank conflicts

Only `trace`, `Trace` and `Problem` are public (`gv.trace`, `gv.Problem`).
"""
from gpuviz.tracer.sanitizer import Problem
from gpuviz.tracer.scheduler import Trace, trace

__all__ = ["Problem", "Trace", "trace"]
