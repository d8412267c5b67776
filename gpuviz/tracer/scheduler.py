"""Run a Numba CUDA kernel on the CPU, thread by thread, recording every memory access.

    t = gv.trace(matmul, (2, 2), (16, 16), A, B, C)   # C is filled in, exactly as a launch would
    t.problems                                          # races, bad indices, divergent barriers
    t.metrics                                           # coalescing and bank conflicts per array

Blocks run one after another; inside a block one thread runs at a time, up to its next
`cuda.syncthreads()`, then the next thread: real barrier semantics, deterministic, no OS threads.
Works with or without a GPU and with or without NUMBA_ENABLE_CUDASIM.
"""
from __future__ import annotations

import html
import inspect
import sys
from functools import cached_property

import numpy as np

from gpuviz import hooks, launch

from .fakecuda import FakeCuda, NumbaShim
from .kernelsource import KernelEnv, python_function
from .sanitizer import BLOCK, BUFFER, COLUMNS, FLAT, OP, OPS, THREAD, Memory, Problem, fmt_index

__all__ = ["Problem", "Trace", "trace"]

MAX_THREADS = 1 << 17


def _ndim(dims) -> int:
    return len(dims) if isinstance(dims, (tuple, list)) else 1


def _linear(idx, dims) -> int:
    return idx[0] + dims[0] * (idx[1] + dims[1] * idx[2])


def _order(dims):
    """Indices (x, y, z) in linear order, x fastest."""
    return [(x, y, z) for z in range(dims[2]) for y in range(dims[1]) for x in range(dims[0])]


def trace(kernel, griddim, blockdim, *args, max_threads: int = MAX_THREADS) -> Trace:
    """Run `kernel[griddim, blockdim](*args)` on the CPU and return what every thread did.

    NumPy arrays in `args` are updated in place (device arrays are copied back and forth).
    Raises gpuviz.launch.LaunchError for a launch a GPU would refuse.
    """
    pyfunc = python_function(kernel)
    if pyfunc is not kernel:  # a @cuda.jit kernel: a launch like any other for the subscribers (gpuviz.hooks)
        hooks.launched(kernel, args)
    grid, block = launch.validate(griddim, blockdim, launch.static_shared_bytes(pyfunc))
    nthreads = int(np.prod(grid)) * int(np.prod(block))
    if nthreads > max_threads:
        raise ValueError(f"this launch has {nthreads} threads; the tracer runs a few thousand per second. "
                         f"Trace a smaller problem (or pass max_threads={nthreads}).")
    gnd, bnd = _ndim(griddim), _ndim(blockdim)
    blocks, threads = _order(grid), _order(block)

    def describe(b, t):
        return blocks[b][:gnd], threads[t][:bnd]

    mem = Memory(describe)
    names = list(inspect.signature(pyfunc).parameters)
    kargs, copy_back = [], []
    for i, a in enumerate(args):
        name = names[i] if i < len(names) else f"arg{i}"
        if hasattr(a, "copy_to_host") and not isinstance(a, np.ndarray):   # a device array
            host = a.copy_to_host()
            copy_back.append((a, host))
            a = host
        kargs.append(mem.add(name, "global", a) if isinstance(a, np.ndarray) and a.ndim > 0 else a)

    fake = FakeCuda(sys.modules.get("numba.cuda"), mem, grid, block)
    env = KernelEnv(fake, NumbaShim(sys.modules["numba"], fake) if "numba" in sys.modules else None)
    barriers = np.zeros(len(blocks), np.int64)
    try:
        fn = env.prepare(pyfunc)
        run = _run_block_barriers if env.is_generator(fn) else _run_block_plain
        for b, bidx in enumerate(blocks):
            fake.enter_block(bidx, b)
            mem.barrier()
            barriers[b] = run(fn, kargs, fake, mem, b, threads)
    finally:
        env.restore()
    for dev, host in copy_back:
        dev.copy_to_device(host)
    return Trace(pyfunc.__name__, grid, block, gnd, bnd, mem, barriers)


def _run_block_plain(fn, args, fake, mem, b, threads):
    for t, tidx in enumerate(threads):
        fake.enter_thread(tidx, t)
        mem.me = (b, t, 0)
        fn(*args)
    return 0


def _shuffle(arrived, mem, b, nthreads, interval) -> dict:
    """Each lane's result of the warp shuffles it waits at: {thread: the value read}."""
    out = {}
    for t, (kind, line, (_mask, value, arg)) in arrived.items():
        lane = t % launch.WARP_SIZE
        src = {"shfl_down": lane + arg, "shfl_up": lane - arg, "shfl_xor": lane ^ arg,
               "shfl_idx": arg % launch.WARP_SIZE}[kind]
        s = t - lane + src
        if not 0 <= src < launch.WARP_SIZE or s >= nthreads:   # past the warp's edge: the lane keeps its value
            out[t] = value
        elif s in arrived and arrived[s][1] == line:
            out[t] = arrived[s][2][1]
        else:
            mem.divergent_shuffle(b, t, s, line, interval)
            out[t] = value
    return out


def _run_block_barriers(fn, args, fake, mem, b, threads):
    """Run each thread to its next barrier, then check that all threads met at the same one. Warp
    shuffles are met on the way: lanes at a shuffle get their values and run on; lanes at a barrier wait."""
    gens = [fn(*args) for _ in threads]
    sent = [None] * len(threads)
    live, interval, waiting_at = list(range(len(threads))), 0, {}
    while live:
        arrived = {}
        for t in live:
            fake.enter_thread(threads[t], t)
            mem.me = (b, t, interval)
            try:
                arrived[t] = gens[t].send(sent[t])
            except StopIteration:
                pass
        shuffles = {t: a for t, a in arrived.items() if a[0].startswith("shfl")}
        waiting_at.update({t: a for t, a in arrived.items() if t not in shuffles})
        if shuffles:                                   # not a barrier: no new interval
            for t, value in _shuffle(shuffles, mem, b, len(threads), interval).items():
                sent[t] = value
            live = sorted(shuffles)
            continue
        arrived, waiting_at = waiting_at, {}
        if not arrived:
            break
        lines = {}
        for t, (_, line, _) in arrived.items():
            lines.setdefault(line, []).append(t)
        main_line, waiting = max(lines.items(), key=lambda kv: len(kv[1]))
        others = [t for t in range(len(threads)) if t not in arrived]
        if others or len(lines) > 1:
            missing = others or [t for t in arrived if t not in waiting]
            other_line = None if others else arrived[missing[0]][1]
            mem.divergent_barrier(b, waiting, missing, main_line, other_line, interval)
        for line, ts in lines.items():                 # syncthreads_count/and/or get the block's answer
            kind, preds = arrived[ts[0]][0], [arrived[t][2] for t in ts]
            value = (None if kind == "sync" else sum(bool(p) for p in preds) if kind == "count"
                     else int(all(preds)) if kind == "and" else int(any(preds)))
            for t in ts:
                sent[t] = value
        live = sorted(arrived)
        interval += 1
        mem.barrier()
    return interval


class Trace:
    """Everything one traced launch did. `problems`, `report()`, `counts()`, `metrics`."""

    def __init__(self, name, griddim, blockdim, grid_ndim, block_ndim, mem: Memory, barriers):
        self.name, self.griddim, self.blockdim = name, griddim, blockdim
        self.grid_ndim, self.block_ndim = grid_ndim, block_ndim
        self.buffers = mem.buffers
        self.problems: list[Problem] = mem.problems
        self.marks = mem.marks
        self.barriers = barriers          # barriers passed, per block
        self.log = np.array(mem.log, np.int64).reshape(-1, len(COLUMNS))

    @property
    def threads_per_block(self) -> int:
        return int(np.prod(self.blockdim))

    @property
    def nblocks(self) -> int:
        return int(np.prod(self.griddim))

    @property
    def arrays(self) -> dict:
        """name -> a Buffer (for shared arrays: block 0's copy) with .shape, .space, .data."""
        out = {}
        for b in self.buffers:
            out.setdefault(b.name, b)
        return out

    def block_id(self, block) -> int:
        return block if isinstance(block, (int, np.integer)) else _linear(tuple(block) + (0, 0), self.griddim)

    def thread_id(self, thread) -> int:
        return thread if isinstance(thread, (int, np.integer)) else _linear(tuple(thread) + (0, 0),
                                                                            self.blockdim)

    def _rows(self, array, op=None, block=None, thread=None, warp=None):
        ids = [b.id for b in self.buffers if b.name == array]
        if not ids:
            raise KeyError(f"no array named {array!r} in this trace; arrays: {list(self.arrays)}")
        L = self.log
        rows = np.isin(L[:, BUFFER], ids)
        if op is not None:
            rows &= L[:, OP] == OPS.index(op)
        if block is not None:
            rows &= L[:, BLOCK] == self.block_id(block)
        if thread is not None:
            rows &= L[:, THREAD] == self.thread_id(thread)
        if warp is not None:
            rows &= L[:, THREAD] // launch.WARP_SIZE == warp
        return rows

    def counts(self, array, op=None, *, block=None, thread=None, warp=None) -> np.ndarray:
        """How often each element of `array` was accessed (op: 'read', 'write', 'atomic' or all),
        optionally by one block, thread (within `block`) or warp only. Shape: the array's."""
        shape = self.arrays[array].shape
        flat = self.log[self._rows(array, op, block, thread, warp), FLAT]
        return np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape)

    def owners(self, array) -> np.ndarray:
        """Global linear id (block * threads_per_block + thread) of the last writer of each element; -1 if none."""
        shape = self.arrays[array].shape
        L = self.log[self._rows(array) & (self.log[:, OP] != 0)]
        out = np.full(int(np.prod(shape)), -1, np.int64)
        out[L[:, FLAT]] = L[:, BLOCK] * self.threads_per_block + L[:, THREAD]
        return out.reshape(shape)

    def per_array(self) -> dict:
        """name -> {'space', 'reads', 'writes', 'atomics', 'bytes'} over the whole launch."""
        out = {}
        for name, buf in self.arrays.items():
            ops = np.bincount(self.log[self._rows(name), OP], minlength=3)
            out[name] = {"space": buf.space, "reads": int(ops[0]), "writes": int(ops[1]),
                         "atomics": int(ops[2]), "bytes": int(ops.sum()) * buf.data.itemsize}
        return out

    def per_thread(self, op="read") -> np.ndarray:
        """Accesses of kind `op` by each thread, shape (blocks, threads per block)."""
        rows = self.log[:, OP] == OPS.index(op)
        ids = self.log[rows, BLOCK] * self.threads_per_block + self.log[rows, THREAD]
        n = self.nblocks * self.threads_per_block
        return np.bincount(ids, minlength=n).reshape(self.nblocks, self.threads_per_block)

    @cached_property
    def requests(self):
        from .metrics import requests
        return requests(self.log, self.buffers)

    @cached_property
    def metrics(self) -> dict:
        """Per array: requests and sectors/request and coalescing efficiency, or bank-conflict ways."""
        from .metrics import summary
        return summary(self.requests, self.buffers)

    def warp_request(self, array, block=0, warp=0, k=0) -> dict:
        """The k-th request of one warp to `array`: lanes, element offsets, byte offsets, itemsize."""
        r = self.requests
        names = np.array([self.buffers[b].name for b in r.buffer], object)
        mine = np.flatnonzero((names == array) & (r.block == self.block_id(block)) & (r.warp == warp))
        if k >= len(mine):
            raise IndexError(f"warp {warp} of block {block} made {len(mine)} requests to {array}")
        rows = np.flatnonzero(r.of_access == mine[k])
        buf = self.buffers[r.buffer[mine[k]]]
        return {"array": array, "space": buf.space, "lanes": self.log[rows, THREAD] % launch.WARP_SIZE, "flat": self.log[rows, FLAT],
                "byte": r.byte[rows], "itemsize": buf.data.itemsize, "op": OPS[r.op[mine[k]]],
                "line": int(r.line[mine[k]]), "count": len(mine)}

    def arithmetic_intensity(self, flops: float, unique: bool = False) -> float:
        """FLOPs per byte of global memory: bytes the threads access (unique=False) or the distinct
        bytes touched (unique=True, perfect caching)."""
        total = 0
        for name, buf in self.arrays.items():
            if buf.space != "global":
                continue
            rows = self._rows(name)
            n = len(np.unique(self.log[rows, FLAT])) if unique else int(rows.sum())
            total += n * buf.data.itemsize
        return flops / total if total else float("inf")

    def report(self) -> str:
        g = fmt_index(self.griddim[:self.grid_ndim])
        b = fmt_index(self.blockdim[:self.block_ndim])
        lines = [(f"trace of {self.name}: grid {g} x block {b} = {self.nblocks * self.threads_per_block} threads, "
                  f"{int(self.barriers.max(initial=0))} barrier(s) per block, {len(self.log)} accesses")]
        metrics = self.metrics
        for name, row in self.per_array().items():
            m = metrics.get(name, {})
            buf = self.arrays[name]
            text = (f"  {name:>8} {row['space']:<6} {buf.data.dtype}{list(buf.shape)}: {row['reads']} reads, "
                    f"{row['writes']} writes, {row['atomics']} atomics")
            if "efficiency" in m:
                text += (f"; {m['requests']} warp requests, {m['sectors_per_request']:.1f} sectors each, "
                         f"coalescing {m['efficiency']:.0%}")
            elif "ways_mean" in m:
                text += f"; bank conflicts: {m['ways_mean']:.2f}-way on average, worst {m['ways_max']}-way"
            lines.append(text)
        if not self.problems:
            lines.append("no problems found")
        else:
            lines.append(f"{len(self.problems)} problem(s):")
            lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)

    __str__ = report

    def __repr__(self):
        kinds = sorted({p.kind for p in self.problems})
        return (f"<Trace {self.name} grid={self.griddim} block={self.blockdim}: {len(self.log)} accesses, "
                f"{len(self.problems)} problem(s){' ' + ', '.join(kinds) if kinds else ''}>")

    def _repr_html_(self):
        color = "#b00020" if self.problems else "#1b5e20"
        head, *rest = self.report().split("\n")
        return (f"<div><b style='color:{color}'>{html.escape(head)}</b>"
                f"<pre>{html.escape(chr(10).join(rest))}</pre></div>")
