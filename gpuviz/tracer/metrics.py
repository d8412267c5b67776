"""Memory metrics of a traced launch: requests per warp, 32-byte sectors, coalescing, bank conflicts.

A request is one memory instruction executed by one warp (32 consecutive threads of a block in
linear order x + y*bx + z*bx*by). The k-th access of each thread to a given array, at a given
source line and of a given kind (read/write/atomic), belongs to the same request.

- Global memory moves whole 32-byte sectors. A request's coalescing efficiency is the fewest sectors
  that could hold the distinct bytes it asks for, divided by the sectors it touches: 100 % for 32
  consecutive floats (4 sectors) and for a broadcast (1 sector); 12.5 % for a column walk (32 sectors).
- Shared memory has 32 banks of 4-byte words. A request needs as many passes ("ways") as the most
  distinct words it touches in one bank; one word read by many lanes is a broadcast, not a conflict.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gpuviz.launch import BANKS, SECTOR_BYTES, WARP_SIZE, WORD_BYTES
from gpuviz.tracer.sanitizer import BUFFER, COLUMNS, FLAT


def _groups(keys: np.ndarray):
    """Row ids of unique rows of `keys` (N, k) and their count, in first-appearance order."""
    if len(keys) == 0:
        return np.zeros(0, np.int64), 0
    _, first, inv = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    rank = np.empty(len(first), np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    return rank[inv.ravel()], len(first)


def _count_unique_per(group: np.ndarray, value: np.ndarray, n: int) -> np.ndarray:
    """For each group id < n, the number of distinct `value`s in it."""
    pairs = np.unique(np.stack([group, value], 1), axis=0)
    return np.bincount(pairs[:, 0], minlength=n)


@dataclass
class Requests:
    """One row per request; `of_access` maps each logged access to its request."""
    block: np.ndarray
    warp: np.ndarray
    buffer: np.ndarray
    line: np.ndarray
    op: np.ndarray
    lanes: np.ndarray           # active threads in the request
    sectors: np.ndarray         # 32-byte sectors touched (global memory)
    ideal: np.ndarray           # fewest sectors that could serve it
    ways: np.ndarray            # bank-conflict degree (shared memory), 1 = conflict free
    of_access: np.ndarray
    byte: np.ndarray            # byte offset of each access inside its array

    def __len__(self):
        return len(self.block)


def byte_offsets(log: np.ndarray, buffers) -> np.ndarray:
    """Byte offset of every logged access from the start of its array (the array's own strides)."""
    out = np.zeros(len(log), np.int64)
    for b in np.unique(log[:, BUFFER]):
        buf = buffers[b]
        rows = log[:, BUFFER] == b
        idx = np.unravel_index(log[rows, FLAT], buf.shape) if buf.shape else ()
        out[rows] = sum(i * s for i, s in zip(idx, buf.data.strides))
    return out


def requests(log: np.ndarray, buffers) -> Requests:
    n = len(log)
    block, thread, buf, _, op, line = log.T if n else np.zeros((len(COLUMNS), 0), np.int64)
    # occurrence: the k-th access of a thread to (array, line, op)
    key = np.stack([block, thread, buf, line, op], 1)
    order = np.lexsort((np.arange(n),) + tuple(key[:, c] for c in range(4, -1, -1)))
    s = key[order]
    new = np.ones(n, bool)
    new[1:] = np.any(s[1:] != s[:-1], axis=1)
    starts = np.maximum.accumulate(np.where(new, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    occ = np.empty(n, np.int64)
    occ[order] = np.arange(n) - starts
    req, m = _groups(np.stack([block, thread // WARP_SIZE, buf, line, op, occ], 1))
    first = np.full(m, n, np.int64)
    np.minimum.at(first, req, np.arange(n))
    byte = byte_offsets(log, buffers) if n else np.zeros(0, np.int64)
    itemsize = np.array([b.data.itemsize for b in buffers], np.int64)[buf] if n else np.zeros(0, np.int64)
    shared = np.array([b.space == "shared" for b in buffers], bool)[buf] if n else np.zeros(0, bool)
    sectors = _count_unique_per(req, byte // SECTOR_BYTES, m) if n else np.zeros(0, np.int64)
    distinct = _count_unique_per(req, byte, m) if n else np.zeros(0, np.int64)
    req_item = np.zeros(m, np.int64)
    req_item[req] = itemsize
    ideal = -(-distinct * req_item // SECTOR_BYTES)
    ways = np.ones(m, np.int64)
    if shared.any():
        word = byte[shared] // WORD_BYTES
        pairs = np.unique(np.stack([req[shared], word], 1), axis=0)    # distinct words per request
        per_bank = np.unique(np.stack([pairs[:, 0], pairs[:, 1] % BANKS], 1), axis=0, return_counts=True)
        np.maximum.at(ways, per_bank[0][:, 0], per_bank[1])
    return Requests(block[first], thread[first] // WARP_SIZE, buf[first], line[first], op[first],
                    np.bincount(req, minlength=m), sectors, ideal, ways, req, byte)


def summary(reqs: Requests, buffers) -> dict:
    """Per array name: requests, sectors per request and efficiency (global), bank ways (shared)."""
    out = {}
    names = np.array([b.name for b in buffers], object)[reqs.buffer] if len(reqs) else np.zeros(0, object)
    for name in dict.fromkeys(names):
        rows = names == name
        space = buffers[int(reqs.buffer[rows][0])].space
        row = {"space": space, "requests": int(rows.sum())}
        if space == "global":
            row["sectors_per_request"] = float(reqs.sectors[rows].mean())
            row["efficiency"] = float(reqs.ideal[rows].sum() / reqs.sectors[rows].sum())
        else:
            row["ways_mean"] = float(reqs.ways[rows].mean())
            row["ways_max"] = int(reqs.ways[rows].max())
            row["conflicted_requests"] = int((reqs.ways[rows] > 1).sum())
        out[name] = row
    return out
