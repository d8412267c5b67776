"""Device memory as the tracer sees it: arrays that record every access and flag races and bad indices.

Every access goes through `Memory.access`, which checks the index, logs the access for the metrics
and keeps, per element, who last wrote it and who read it, so two threads that touch the same
element without a barrier (shared memory) or across the launch (global memory) are caught. It also
keeps which elements of each block's shared arrays have been written, so a read of shared memory
that no thread has written (garbage on a GPU, zeros in the tracer) is caught.
"""
from __future__ import annotations

import operator
import sys
from dataclasses import dataclass

import numpy as np

READ, WRITE, ATOMIC = 0, 1, 2
OPS = ("read", "write", "atomic")
_VERB = ("reads", "writes", "atomically updates")
_PAST = ("read", "wrote", "atomically updated")


def fmt_index(t) -> str:
    """(5,) -> '5', (3, 0) -> '(3,0)'."""
    return str(t[0]) if len(t) == 1 else "(" + ",".join(map(str, t)) + ")"


@dataclass
class Problem:
    """One finding: what went wrong, where, who did it, and how to fix it."""
    kind: str                 # race | out_of_bounds | negative_index | divergent_barrier | divergent_shuffle
    #                           | uninitialized_read (shared memory read before any thread wrote it)
    array: str | None
    index: tuple | None       # the index as the kernel wrote it
    block: tuple
    thread: tuple
    other: tuple | None       # (block, thread) of the other thread involved
    op: str | None            # read | write | atomic | barrier
    line: int | None          # source line of the access or barrier
    interval: int | None      # barrier interval: how many barriers the block had passed
    message: str
    count: int = 1            # how many accesses like this one were folded into this finding

    @property
    def threads(self) -> list[tuple]:
        """The (block, thread) pairs involved."""
        return [(self.block, self.thread)] + ([self.other] if self.other else [])

    def __str__(self):
        more = f" ({self.count - 1} more like it)" if self.count > 1 else ""
        return f"[{self.kind}] {self.message}{more}"


class Buffer:
    """One array in device memory: a global argument, or one block's copy of a shared array."""
    __slots__ = ("block", "cstrides", "data", "id", "name", "ndim", "shape", "space", "zero")

    def __init__(self, id_, name, space, data, block=None):
        self.id, self.name, self.space, self.data, self.block = id_, name, space, data, block
        self.shape, self.ndim = data.shape, data.ndim
        self.cstrides = tuple(int(np.prod(data.shape[d + 1:])) for d in range(data.ndim))
        self.zero = data.dtype.type(0)


class DeviceArray:
    """What a kernel gets instead of a NumPy array: indexing records the access."""
    __slots__ = ("_buf", "_mem", "_pre")

    def __init__(self, buf, mem, pre=()):
        self._buf, self._mem, self._pre = buf, mem, pre

    shape = property(lambda self: self._buf.shape[len(self._pre):])
    ndim = property(lambda self: self._buf.ndim - len(self._pre))
    size = property(lambda self: int(np.prod(self.shape)))
    dtype = property(lambda self: self._buf.data.dtype)

    def __len__(self):
        return self.shape[0]

    def __repr__(self):
        return f"<traced {self._buf.space} array {self._buf.name} {self.shape} {self.dtype}>"

    def _index(self, idx):
        return self._pre + (idx if type(idx) is tuple else (idx,))

    def __getitem__(self, idx):
        idx = self._index(idx)
        buf = self._buf
        if len(idx) < buf.ndim:       # a[i] of a 2D array: a row, indexed further later
            return DeviceArray(buf, self._mem, idx)
        pos = self._mem.access(buf, idx, READ, sys._getframe(1).f_lineno)
        return buf.zero if pos is None else buf.data[pos]

    def __setitem__(self, idx, value):
        idx = self._index(idx)
        pos = self._mem.access(self._buf, idx, WRITE, sys._getframe(1).f_lineno)
        if pos is not None:
            self._buf.data[pos] = value

    def _atomic(self, idx, update, line):
        """Read-modify-write one element; returns the old value, as cuda.atomic.* do."""
        buf = self._buf
        pos = self._mem.access(buf, self._index(idx), ATOMIC, line)
        if pos is None:
            return buf.zero
        old = buf.data[pos]
        buf.data[pos] = update(old)
        return old


def _clash(o, me) -> bool:
    """Do accesses by `o` and `me` (block, thread, interval) conflict? Barriers order a block only."""
    return o is not None and (o[0] != me[0] or (o[1] != me[1] and o[2] == me[2]))


# The access log: one row per access, these columns (Trace.log is the same, as an int64 array)
COLUMNS = ("block", "thread", "buffer", "flat", "op", "line")
BLOCK, THREAD, BUFFER, FLAT, OP, LINE = range(len(COLUMNS))


class Memory:
    """All buffers of one launch, the access log and the findings."""

    def __init__(self, describe):
        self.describe = describe       # (block lin, thread lin) -> (block tuple, thread tuple)
        self.buffers: list[Buffer] = []
        self.log: list[tuple] = []     # rows of COLUMNS
        self.me = (0, 0, 0)            # current (block, thread, interval), set by the scheduler
        self._global, self._shared = {}, {}
        self._problems: dict[tuple, Problem] = {}
        self.marks: dict[tuple, set] = {}   # (kind, array) -> flat indices (or index tuples) flagged
        self._written: dict[int, set] = {}  # shared buffer id -> flat indices written so far in this launch

    def add(self, name, space, data, block=None) -> DeviceArray:
        buf = Buffer(len(self.buffers), name, space, data, block)
        self.buffers.append(buf)
        return DeviceArray(buf, self)

    def barrier(self):
        """A barrier passed: shared-memory accesses before it can no longer race with those after."""
        self._shared = {}

    @property
    def problems(self) -> list[Problem]:
        """Every finding, in the order found, except that reads of unwritten shared memory come last:
        a missing barrier shows up as both, and the race says more about the fix."""
        found = list(self._problems.values())
        return [p for p in found if p.kind != "uninitialized_read"] + \
            [p for p in found if p.kind == "uninitialized_read"]

    def access(self, buf, idx, op, line):
        """Check and log one access; return the NumPy index to use, or None to skip it."""
        shape = buf.shape
        if len(idx) != len(shape):
            raise IndexError(f"{buf.name} has {len(shape)} dimension(s) but is indexed with {len(idx)}: "
                             f"{buf.name}[{', '.join(map(str, idx))}]")
        flat, pos, bad = 0, [], None
        for i, n, s in zip(idx, shape, buf.cstrides):
            try:
                i = operator.index(i)
            except TypeError:
                raise TypeError(f"index {i!r} of {buf.name} is not an integer (a / where // was meant, or a "
                                f"slice, which the tracer does not support)") from None
            if i < 0:
                bad = (bad or "negative_index") if i >= -n else "out_of_bounds"
                i += n
            elif i >= n:
                bad = "out_of_bounds"
            flat += i * s
            pos.append(i)
        if bad:
            self._bad_index(bad, buf, idx, op, line)
            if bad == "out_of_bounds":
                return None
        me = self.me
        self.log.append((me[0], me[1], buf.id, flat, op, line))
        self._race(buf, idx, flat, op, line, me)
        if buf.space == "shared":
            written = self._written.setdefault(buf.id, set())
            if op == WRITE:
                written.add(flat)
            elif flat not in written:
                self._uninitialized(buf, idx, flat, op, line)
        return tuple(pos)

    def _race(self, buf, idx, flat, op, line, me):
        state = self._shared if buf.space == "shared" else self._global
        key = (buf.id, flat)
        st = state.get(key)
        if st is None:
            st = state[key] = [None, None, None, None]   # writer, reader, another reader, atomic
        else:
            w, r1, r2, a = st
            if op == READ:
                hits = ((w, WRITE), (a, ATOMIC))
            elif op == WRITE:
                hits = ((w, WRITE), (r1, READ), (r2, READ), (a, ATOMIC))
            else:
                hits = ((w, WRITE), (r1, READ), (r2, READ))
            for o, oop in hits:
                if _clash(o, me):
                    self._report_race(buf, idx, flat, op, line, me, o, oop)
                    break
        if op == READ:
            if st[1] is None:
                st[1] = me
            elif st[1][:2] != me[:2]:
                st[2] = me
        else:
            st[0 if op == WRITE else 3] = me

    def _record(self, kind, buf, line, mark, make):
        key = (kind, buf.name if buf else None, line)
        if buf is not None:
            self.marks.setdefault((kind, buf.name), set()).add(mark)
        p = self._problems.get(key)
        if p is None:
            self._problems[key] = make()
        else:
            p.count += 1

    def _bad_index(self, kind, buf, idx, op, line):
        b, t = self.describe(self.me[0], self.me[1])
        where = f"{buf.name}[{','.join(map(str, idx))}]"
        shape = "x".join(map(str, buf.shape))
        if kind == "negative_index":
            msg = (f"thread {fmt_index(t)} of block {fmt_index(b)} {_VERB[op]} {where}: a negative index, which "
                   f"silently wraps around to the other end of the array ({shape}). Guard the neighbour "
                   f"access (e.g. `if i > 0:`) or clamp the index.")
        else:
            d = next(d for d, (i, n) in enumerate(zip(idx, buf.shape)) if not -n <= i < n)
            msg = (f"thread {fmt_index(t)} of block {fmt_index(b)} {_VERB[op]} {where}, outside the array "
                   f"({shape}): index {idx[d]} in dimension {d} is past {buf.name}.shape[{d}] = {buf.shape[d]}. "
                   f"On a GPU this {'corrupts other memory' if op else 'reads garbage'} or crashes. Guard the "
                   f"access (`if i < {buf.name}.shape[{d}]:`) and check the order of the indices. "
                   f"The tracer skipped it{'' if op else ' and returned 0'}.")
        mark = tuple(int(i) for i in idx) if kind == "out_of_bounds" else \
            int(sum((i % n) * s for i, n, s in zip(idx, buf.shape, buf.cstrides)))
        self._record(kind, buf, line, mark, lambda: Problem(
            kind, buf.name, tuple(int(i) for i in idx), b, t, None, OPS[op], line, self.me[2], msg))

    def _report_race(self, buf, idx, flat, op, line, me, o, oop):
        b, t = self.describe(me[0], me[1])
        ob, ot = self.describe(o[0], o[1])
        where = f"{buf.name}[{','.join(str(int(i)) for i in idx)}]"
        other = f"thread {fmt_index(ot)}" + ("" if ob == b else f" of block {fmt_index(ob)}")
        msg = f"thread {fmt_index(t)} of block {fmt_index(b)} {_VERB[op]} {where}, which {other} {_PAST[oop]}"
        same = f" in the same barrier interval (after {me[2]} barrier(s))" if ob == b else " in this launch"
        msg += same + ": the order of the two is undefined. "
        if buf.space == "global":
            msg += ("If many threads update one element (a histogram, a sum), use cuda.atomic.add; otherwise "
                    "give every element exactly one writer (check the index arithmetic)."
                    + ("" if ob == b else " Threads of different blocks cannot synchronize inside a kernel."))
        elif ATOMIC in (op, oop):
            msg += "Use atomics for every access to it, or separate the accesses with cuda.syncthreads()."
        elif oop == READ:
            msg += ("Put cuda.syncthreads() between the read and the write (in a loop over tiles: at the "
                    "end of the loop body, before the next tile overwrites this one).")
        elif op == READ:
            msg += "Put cuda.syncthreads() between the write and the read."
        else:
            msg += "Give each element exactly one writer, or use cuda.atomic."
        self._record("race", buf, line, flat, lambda: Problem(
            "race", buf.name, tuple(int(i) for i in idx), b, t, (ob, ot), OPS[op], line, me[2], msg))

    def _uninitialized(self, buf, idx, flat, op, line):
        b, t = self.describe(self.me[0], self.me[1])
        where = f"{buf.name}[{','.join(str(int(i)) for i in idx)}]"
        msg = (f"thread {fmt_index(t)} of block {fmt_index(b)} {_VERB[op]} {where}, which no thread of the block "
               f"has written: shared memory is not initialized, so on a GPU this reads whatever an earlier "
               f"kernel left there (the tracer fills it with NaN, or 0x5A5A5A5A for integers). Write every element before reading it: when the block "
               f"has fewer threads than the array has elements, each thread writes several (a loop), and for "
               f"sums or atomics zero the array first, then cuda.syncthreads().")
        self._record("uninitialized_read", buf, line, flat, lambda: Problem(
            "uninitialized_read", buf.name, tuple(int(i) for i in idx), b, t, None, OPS[op], line, self.me[2], msg))

    def divergent_shuffle(self, block, thread, source, line, interval):
        """A lane reads, by a warp shuffle, a lane that is not at the same shuffle (finished, or elsewhere)."""
        b, t = self.describe(block, thread)
        _, u = self.describe(block, source)
        msg = (f"in block {fmt_index(b)}, thread {fmt_index(t)} reads thread {fmt_index(u)}'s value with a warp "
               f"shuffle on line {line}, but thread {fmt_index(u)} is not at that shuffle, so the value is "
               f"undefined on a GPU. Every lane named in the mask must execute the same shuffle: move it out of "
               f"the `if` (or give the mask only the lanes that take part).")
        self._record("divergent_shuffle", None, line, None, lambda: Problem(
            "divergent_shuffle", None, None, b, t, (b, u), "shuffle", line, interval, msg))

    def divergent_barrier(self, block, waiting, missing, line, other_line, interval):
        """Some threads of a block wait at a barrier that others skipped (or they wait at another one)."""
        b, t = self.describe(block, waiting[0])
        _, u = self.describe(block, missing[0])
        where = "finish without reaching it" if other_line is None else f"wait at another barrier (line {other_line})"
        msg = (f"in block {fmt_index(b)}, {len(waiting)} thread(s) (e.g. thread {fmt_index(t)}) wait at "
               f"cuda.syncthreads() on line {line}, but {len(missing)} (e.g. thread {fmt_index(u)}) {where}. "
               f"Every thread of a block must reach the same barrier: move cuda.syncthreads() out of the "
               f"`if` (or the loop whose trip count differs between threads).")
        self._record("divergent_barrier", None, line, None, lambda: Problem(
            "divergent_barrier", None, None, b, t, (b, u), "barrier", line, interval, msg))
