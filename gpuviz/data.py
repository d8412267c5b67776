"""The course's datasets, real and checked: Fashion-MNIST (images) and tiny shakespeare (text).

    x, y = gv.data.fashion_mnist("train")        # uint8 (60000, 28, 28), uint8 (60000,)
    ds = gv.data.fashion_mnist_dataset("test")    # a torch Dataset: float32 (1, 28, 28) in [0, 1], int64
    text = gv.data.tiny_shakespeare()             # str, 1,115,394 characters

Every file is known by its sha256. `fetch(name)` finds it, in this order:
1. a local copy in a directory on the search path: the directories in GPUVIZ_DATA_PATH (separated
   by os.pathsep), then the file's standard places (Debian's package dataset-fashion-mnist puts the
   Fashion-MNIST files in /usr/share/datasets/fashion-mnist/). Local copies are used where they are,
   never copied;
2. the cache: GPUVIZ_DATA, or the user cache directory (pooch.os_cache("gpuviz"));
3. a download into the cache with pooch, from the dataset's canonical source (mirrors tried in
   order). pooch downloads into a temporary file next to the cache and moves it into place only
   once its sha256 is right, so a partial or corrupt download is never left behind or used.
   GPUVIZ_OFFLINE=1 forbids downloading (CI sets it).

A file with the wrong sha256 raises `ChecksumError` naming the file and both digests; a file that
cannot be found or downloaded raises `DataUnavailable` saying where to put it. Nothing falls back
to synthetic data.
"""
from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["CLASSES", "ChecksumError", "DataError", "DataUnavailable", "FILES", "cache_dir", "fetch",
           "fashion_mnist", "fashion_mnist_dataset", "read_idx", "search_path", "sha256", "tiny_shakespeare"]

DATA_ENV = "GPUVIZ_DATA"            # the cache directory
PATH_ENV = "GPUVIZ_DATA_PATH"       # extra directories holding local copies, os.pathsep-separated
OFFLINE_ENV = "GPUVIZ_OFFLINE"      # 1: never download
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"

CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataError(RuntimeError):
    """A dataset file cannot be used; the message says why and what to do."""


class ChecksumError(DataError):
    """A file's sha256 is not the one the course knows."""


class DataUnavailable(DataError):
    """A file is neither on this machine nor downloadable now."""


@dataclass(frozen=True)
class File:
    name: str                   # the file's name in the cache
    sha256: str
    urls: tuple                 # canonical source first, then mirrors
    dataset: str                # for messages
    places: tuple = ()          # standard directories that may hold a local copy
    aliases: tuple = ()         # other names a local copy may have

    @property
    def names(self) -> tuple:
        return (self.name, *self.aliases)


_ZALANDO = ("https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/{}",
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{}")


def _fashion(name, digest):
    return File(name, digest, tuple(u.format(name) for u in _ZALANDO), "Fashion-MNIST", (DEBIAN_FASHION,))


FILES = {f.name: f for f in (
    _fashion("train-images-idx3-ubyte.gz", "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"),
    _fashion("train-labels-idx1-ubyte.gz", "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"),
    _fashion("t10k-images-idx3-ubyte.gz", "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"),
    _fashion("t10k-labels-idx1-ubyte.gz", "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"),
    File("tinyshakespeare.txt", "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
         ("https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",),
         "tiny shakespeare", aliases=("input.txt",)),
)}


# ---------------------------------------------------------------- where files live

def cache_dir() -> Path:
    """Where downloads go: $GPUVIZ_DATA, else the user cache (~/.cache/gpuviz on Linux)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    import pooch

    return Path(pooch.os_cache("gpuviz"))


def search_path(spec: File | None = None) -> list[Path]:
    """Directories searched for local copies: $GPUVIZ_DATA_PATH, then the file's standard places."""
    dirs = [Path(d).expanduser() for d in os.environ.get(PATH_ENV, "").split(os.pathsep) if d.strip()]
    return dirs + [Path(p) for p in (spec.places if spec else ())]


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


@lru_cache(maxsize=64)
def _digest(path: str, size: int, mtime_ns: int) -> str:
    import pooch

    return pooch.file_hash(path, alg="sha256")


def sha256(path) -> str:
    """The sha256 of a file (remembered per path, size and modification time within a process)."""
    st = os.stat(path)
    return _digest(str(path), st.st_size, st.st_mtime_ns)


def _verified(path: Path, spec: File, how: str) -> Path:
    got = sha256(path)
    if got != spec.sha256:
        raise ChecksumError(
            f"{spec.name} ({spec.dataset}): the {how} {path} has the wrong sha256.\n"
            f"  expected {spec.sha256}\n  got      {got}\n"
            "The file is damaged or a different version: delete it"
            + (" and run again to download it afresh." if how == "cached file" else
               f", or take it off the search path (${PATH_ENV})."))
    return path


def _where_to_put(spec: File) -> str:
    dirs = [str(cache_dir())] + [str(d) for d in search_path(spec)]
    debian = " Or install Debian's package: apt-get install dataset-fashion-mnist." \
        if DEBIAN_FASHION in spec.places else ""
    return (f"Download {spec.urls[0]} on a machine that is online and put it, named {spec.name}, in one of: "
            f"{', '.join(dict.fromkeys(dirs))} (the cache is ${DATA_ENV}; more directories can be listed "
            f"in ${PATH_ENV}).{debian}")


def locate(name: str) -> Path | None:
    """A local copy or cached file of `name` on this machine (not verified), or None."""
    spec = _spec(name)
    for d in search_path(spec):
        for n in spec.names:
            if (d / n).is_file():
                return d / n
    cached = cache_dir() / spec.name
    return cached if cached.is_file() else None


def _spec(name: str) -> File:
    if name not in FILES:
        raise KeyError(f"unknown data file {name!r}; known: {', '.join(FILES)}")
    return FILES[name]


def fetch(name: str, *, progressbar: bool | None = None) -> Path:
    """The path of data file `name` (a key of FILES), verified by sha256: a local copy, the cached
    file, or a fresh download into the cache. Raises ChecksumError or DataUnavailable."""
    spec = _spec(name)
    for d in search_path(spec):
        for n in spec.names:
            if (d / n).is_file():
                return _verified(d / n, spec, "local copy")
    cached = cache_dir() / spec.name
    if cached.is_file() and (offline() or sha256(cached) == spec.sha256):
        return _verified(cached, spec, "cached file")   # a bad cached file is replaced when online
    if offline():
        raise DataUnavailable(f"{spec.name} ({spec.dataset}) is not on this machine and downloads are off "
                              f"(${OFFLINE_ENV} is set). {_where_to_put(spec)}")
    return _download(spec, cached, progressbar)


def _download(spec: File, target: Path, progressbar: bool | None) -> Path:
    import pooch
    import requests

    if progressbar is None:
        try:
            import tqdm  # noqa: F401 pooch's progress bar needs it
            progressbar = True
        except ImportError:
            progressbar = False
    failures = []
    for url in spec.urls:
        try:
            path = pooch.retrieve(url, known_hash=f"sha256:{spec.sha256}", fname=spec.name,
                                  path=target.parent, progressbar=progressbar)
            return Path(path)
        except ValueError as e:
            if "hash" not in str(e):
                raise
            got = str(e).split("but got ")[-1].split(".")[0].strip()
            raise ChecksumError(f"{spec.name} ({spec.dataset}) downloaded from {url} has the wrong sha256.\n"
                                f"  expected {spec.sha256}\n  got      {got}\n"
                                "The download was deleted. The server sent a different file (or a damaged "
                                "one); try again later, or get the file yourself. " + _where_to_put(spec)) from e
        except (requests.exceptions.RequestException, OSError) as e:
            failures.append(f"{url}: {type(e).__name__}: {e}")
    raise DataUnavailable(f"{spec.name} ({spec.dataset}) could not be downloaded (no network?):\n  "
                          + "\n  ".join(failures) + "\n" + _where_to_put(spec))


# ---------------------------------------------------------------- IDX (the MNIST file format)

_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path_or_bytes) -> np.ndarray:
    """Parse an IDX file (plain or gzip, path or bytes): magic 0 0 type ndim, big-endian int32 sizes,
    then the data in C order. Returns a NumPy array in native byte order."""
    if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
        raw = bytes(path_or_bytes)
    else:
        raw = Path(path_or_bytes).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"not an IDX file: it starts with {raw[:4].hex()}, expected 0000 then a type "
                         f"code ({', '.join(f'{t:02x}' for t in _IDX_TYPES)}) and the number of dimensions")
    dtype, ndim = np.dtype(_IDX_TYPES[raw[2]]), raw[3]
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"IDX file cut short: {len(raw)} bytes, the header alone needs {head}")
    shape = tuple(int(s) for s in np.frombuffer(raw, ">u4", ndim, 4))
    need = head + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != need:
        raise ValueError(f"IDX file of shape {shape} and type {dtype.str} needs {need} bytes, it has {len(raw)}")
    return np.frombuffer(raw, dtype, offset=head).reshape(shape).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------- datasets

_SPLITS = {"train": "train", "test": "t10k"}


@lru_cache(maxsize=2)
def _fashion_arrays(split: str):
    prefix = _SPLITS[split]
    x = read_idx(fetch(f"{prefix}-images-idx3-ubyte.gz"))
    y = read_idx(fetch(f"{prefix}-labels-idx1-ubyte.gz"))
    if x.shape[1:] != (28, 28) or x.shape[0] != y.shape[0] or y.max() > 9:
        raise DataError(f"Fashion-MNIST {split}: unexpected shapes {x.shape}, {y.shape}")
    x.flags.writeable = False
    y.flags.writeable = False
    return x, y


def fashion_mnist(split: str = "train"):
    """(images, labels) of Fashion-MNIST's "train" (60,000) or "test" (10,000) split: uint8 arrays of
    shape (N, 28, 28) with values 0..255 and (N,) with classes 0..9 (names in CLASSES). Read-only:
    copy before changing them."""
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return _fashion_arrays(split)


def fashion_mnist_dataset(split: str = "train", *, flatten: bool = False):
    """Fashion-MNIST as a torch Dataset (a TensorDataset): float32 images scaled to [0, 1], shaped
    (1, 28, 28), or (784,) with flatten=True, and int64 labels. Works with torch.utils.data.DataLoader."""
    import torch

    x, y = fashion_mnist(split)
    images = torch.from_numpy(x.astype(np.float32) / np.float32(255.0))
    images = images.reshape(len(x), -1) if flatten else images.unsqueeze(1)
    return torch.utils.data.TensorDataset(images, torch.from_numpy(y.astype(np.int64)))


@lru_cache(maxsize=1)
def tiny_shakespeare() -> str:
    """Karpathy's tiny shakespeare (char-rnn), 1,115,394 characters of plays, as one string."""
    return fetch("tinyshakespeare.txt").read_text(encoding="utf-8")


def describe() -> str:
    """One line per data file: where it would be taken from now (for `gpuviz doctor`)."""
    lines = []
    for name, spec in FILES.items():
        where = locate(name)
        lines.append(f"{name}: {where if where else 'not here; ' + ('offline' if offline() else 'download from ' + spec.urls[0])}")
    return "\n".join(lines)
