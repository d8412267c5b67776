"""Results measured on real GPUs, committed as JSON beside this file.

Learners without a GPU see these instead of simulator timings. Files are written only by the
course's own tools on a GPU (`save`), never by hand: each carries the device, driver, CUDA and
library versions, the date and the commit it was measured at.
"""
from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).parent
RECORD_ENV = "GPUVIZ_RECORD_REFERENCE"
DIR_ENV = "GPUVIZ_REFERENCE_DIR"      # where `record` writes (scripts/gpu-reference sets it); `load` reads HERE
COMMIT_ENV = "GPUVIZ_COMMIT"          # the commit measured, for a checkout copied without .git


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _commit() -> str | None:
    """The checkout's commit; $GPUVIZ_COMMIT where the files were copied without their .git."""
    if os.environ.get(COMMIT_ENV):
        return os.environ[COMMIT_ENV]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=HERE, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _driver() -> str | None:
    """The NVIDIA driver's version from nvidia-smi; None where the tool is missing or fails (some
    containers and ROCm machines have a GPU but no nvidia-smi)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.strip().splitlines() if out.returncode == 0 else []
    return lines[0].strip() if lines else None   # one line per GPU; they share the driver


def environment() -> dict:
    """Where a measurement was taken. Requires a CUDA GPU visible to torch."""
    from gpuviz.runtime import cuda_torch

    torch = cuda_torch("measuring a reference result (they come from a real GPU only)")
    props = torch.cuda.get_device_properties(0)
    return {
        "device": props.name,
        "compute_capability": f"{props.major}.{props.minor}",
        "sm_count": props.multi_processor_count,
        "memory_bytes": props.total_memory,
        "driver": _driver(),
        "cuda": torch.version.cuda,
        "torch": torch.__version__,
        "numba": _version("numba"),
        "numba_cuda": _version("numba-cuda"),
        "python": platform.python_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "commit": _commit(),
    }


def path(name: str) -> Path:
    return HERE / f"{name}.json"


def load(name: str) -> dict | None:
    """The recorded result `name` ({"environment": ..., "results": ...}), or None if none is recorded."""
    p = path(name)
    return json.loads(p.read_text()) if p.exists() else None


def available() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.json"))


def save(name: str, results, directory: Path | None = None) -> Path:
    """Write `results` with the environment they were measured in. Atomic; GPU only."""
    target = (Path(directory) if directory else HERE) / f"{name}.json"
    doc = {"name": name, "environment": environment(), "results": results}
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, target)
    return target


def record(name: str, results) -> Path | None:
    """`save` when GPUVIZ_RECORD_REFERENCE=1 (set by whoever runs the course on a GPU to record it),
    into $GPUVIZ_REFERENCE_DIR if set, else beside this file."""
    if os.environ.get(RECORD_ENV) == "1":
        return save(name, results, os.environ.get(DIR_ENV) or None)
    return None


def describe(doc: dict) -> str:
    """One line naming where a reference result comes from."""
    env = doc["environment"]
    return (f"measured on {env['device']} (driver {env['driver']}, CUDA {env['cuda']}, torch {env['torch']}, "
            f"numba-cuda {env['numba_cuda']}) on {env['date'][:10]}")
