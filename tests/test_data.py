"""gpuviz.data: IDX parsing, sha256 checks, the cache, local copies, offline errors and atomic
downloads. Downloads go to a local HTTP server in a thread; nothing here touches the network."""
import gzip
import hashlib
import http.server
import os
import threading

import numpy as np
import pytest

from gpuviz import data

# ---------------------------------------------------------------- a local file server


class Server:
    """Serves `routes[path] = (body, mode)`; mode "ok", "truncate" (announces the full length, sends
    half, hangs up) or "404". Counts requests per path."""

    def __init__(self):
        self.routes, self.hits = {}, {}
        routes, hits = self.routes, self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                hits[self.path] = hits.get(self.path, 0) + 1
                body, mode = routes.get(self.path, (b"", "404"))
                if mode == "404":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[: len(body) // 2] if mode == "truncate" else body)
                if mode == "truncate":
                    self.wfile.flush()
                    self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test: its own empty cache, no search path, downloads allowed (only to 127.0.0.1)."""
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(data.PATH_ENV, raising=False)
    monkeypatch.delenv(data.OFFLINE_ENV, raising=False)
    data._fashion_arrays.cache_clear()
    data.tiny_shakespeare.cache_clear()
    yield
    data._fashion_arrays.cache_clear()
    data.tiny_shakespeare.cache_clear()


BODY = b"Hello, GPU!\n" * 1000
DIGEST = hashlib.sha256(BODY).hexdigest()


def register(monkeypatch, urls, name="hello.txt", digest=DIGEST, **kw):
    spec = data.File(name, digest, tuple(urls), "test data", **kw)
    monkeypatch.setitem(data.FILES, name, spec)
    return spec


def files_in(path):
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


# ---------------------------------------------------------------- IDX

def idx_bytes(arr, code):
    head = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, ">u4").tobytes()
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype,code", [(np.uint8, 0x08), (np.int8, 0x09), (np.int16, 0x0B), (np.int32, 0x0C),
                                        (np.float32, 0x0D), (np.float64, 0x0E)])
def test_read_idx_types_and_shapes(dtype, code):
    arr = (np.arange(2 * 3 * 4) - 5).reshape(2, 3, 4).astype(dtype)
    got = data.read_idx(idx_bytes(arr, code))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative and np.array_equal(got, arr)


def test_read_idx_gzip_file(tmp_path):
    labels = np.array([9, 0, 0, 3], np.uint8)
    p = tmp_path / "labels-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(idx_bytes(labels, 0x08)))
    assert np.array_equal(data.read_idx(p), labels)


@pytest.mark.parametrize("raw,words", [(b"\x08\x03\x00\x00", "not an IDX file"), (b"\x00\x00\x08", "not an IDX"),
                                       (b"\x00\x00\x08\x02\x00\x00", "cut short")])
def test_read_idx_rejects_garbage(raw, words):
    with pytest.raises(ValueError, match=words):
        data.read_idx(raw)


def test_read_idx_rejects_wrong_length():
    raw = idx_bytes(np.zeros((2, 2), np.uint8), 0x08)
    with pytest.raises(ValueError, match="needs 16 bytes, it has 15"):
        data.read_idx(raw[:-1])


# ---------------------------------------------------------------- download, cache, checksums

def test_download_then_cache(server, monkeypatch, tmp_path):
    server.routes["/hello.txt"] = (BODY, "ok")
    register(monkeypatch, [server.url("/hello.txt")])
    path = data.fetch("hello.txt", progressbar=False)
    assert path == tmp_path / "cache" / "hello.txt" and path.read_bytes() == BODY
    assert data.fetch("hello.txt", progressbar=False) == path     # from the cache
    assert server.hits == {"/hello.txt": 1}
    assert files_in(tmp_path / "cache") == ["hello.txt"]


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(data.DATA_ENV, str(tmp_path / "elsewhere"))
    assert data.cache_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv(data.DATA_ENV)
    assert data.cache_dir().name == "gpuviz"


def test_mirror_used_when_first_url_fails(server, monkeypatch):
    server.routes["/b/hello.txt"] = (BODY, "ok")
    register(monkeypatch, [server.url("/a/hello.txt"), server.url("/b/hello.txt")])
    assert data.fetch("hello.txt", progressbar=False).read_bytes() == BODY
    assert server.hits == {"/a/hello.txt": 1, "/b/hello.txt": 1}


def test_checksum_mismatch_on_download(server, monkeypatch, tmp_path):
    evil = BODY.replace(b"GPU", b"CPU")
    server.routes["/hello.txt"] = (evil, "ok")
    register(monkeypatch, [server.url("/hello.txt")])
    with pytest.raises(data.ChecksumError) as e:
        data.fetch("hello.txt", progressbar=False)
    msg = str(e.value)
    assert "hello.txt" in msg and DIGEST in msg and hashlib.sha256(evil).hexdigest() in msg
    assert files_in(tmp_path / "cache") == []                  # nothing kept, no temporary left


def test_truncated_download_leaves_nothing(server, monkeypatch, tmp_path):
    server.routes["/hello.txt"] = (BODY, "truncate")
    register(monkeypatch, [server.url("/hello.txt")])
    with pytest.raises(data.DataUnavailable, match="could not be downloaded"):
        data.fetch("hello.txt", progressbar=False)
    assert files_in(tmp_path / "cache") == []
    server.routes["/hello.txt"] = (BODY, "ok")                 # the next try starts clean
    assert data.fetch("hello.txt", progressbar=False).read_bytes() == BODY
    assert files_in(tmp_path / "cache") == ["hello.txt"]


def test_damaged_cache_file_is_replaced_when_online(server, monkeypatch, tmp_path):
    server.routes["/hello.txt"] = (BODY, "ok")
    register(monkeypatch, [server.url("/hello.txt")])
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "hello.txt").write_bytes(BODY[:100])
    assert data.fetch("hello.txt", progressbar=False).read_bytes() == BODY
    assert server.hits == {"/hello.txt": 1}


def test_damaged_cache_file_offline_is_an_error(monkeypatch, tmp_path):
    register(monkeypatch, ["http://127.0.0.1:9/never"])
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    (tmp_path / "cache").mkdir()
    bad = tmp_path / "cache" / "hello.txt"
    bad.write_bytes(b"oops")
    with pytest.raises(data.ChecksumError) as e:
        data.fetch("hello.txt")
    msg = str(e.value)
    assert str(bad) in msg and DIGEST in msg and hashlib.sha256(b"oops").hexdigest() in msg and "delete" in msg


def test_offline_without_copy_says_where_to_put_it(server, monkeypatch, tmp_path):
    register(monkeypatch, [server.url("/hello.txt")])
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    monkeypatch.setenv(data.PATH_ENV, str(tmp_path / "mine"))
    with pytest.raises(data.DataUnavailable) as e:
        data.fetch("hello.txt")
    msg = str(e.value)
    assert "hello.txt" in msg and str(tmp_path / "cache") in msg and str(tmp_path / "mine") in msg
    assert server.url("/hello.txt") in msg and data.OFFLINE_ENV in msg
    assert server.hits == {}                                   # offline means no request at all


def test_unreachable_server_is_offline_error(monkeypatch, tmp_path):
    s = Server()
    url = s.url("/hello.txt")
    s.close()                                                  # nothing listens there any more
    register(monkeypatch, [url])
    with pytest.raises(data.DataUnavailable) as e:
        data.fetch("hello.txt", progressbar=False)
    assert "no network?" in str(e.value) and str(tmp_path / "cache") in str(e.value)
    assert files_in(tmp_path / "cache") == []


# ---------------------------------------------------------------- local copies

def test_local_copy_on_search_path_is_used_in_place(server, monkeypatch, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "input.txt").write_bytes(BODY)                     # an alias name
    register(monkeypatch, [server.url("/hello.txt")], aliases=("input.txt",))
    monkeypatch.setenv(data.PATH_ENV, os.pathsep.join([str(tmp_path / "missing"), str(mine)]))
    assert data.fetch("hello.txt") == mine / "input.txt"
    assert server.hits == {} and files_in(tmp_path / "cache") == []


def test_standard_place_is_searched(monkeypatch, tmp_path):
    (tmp_path / "debian").mkdir()
    (tmp_path / "debian" / "hello.txt").write_bytes(BODY)
    register(monkeypatch, ["http://127.0.0.1:9/never"], places=(str(tmp_path / "debian"),))
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    assert data.fetch("hello.txt") == tmp_path / "debian" / "hello.txt"
    assert data.locate("hello.txt") == tmp_path / "debian" / "hello.txt"


def test_local_copy_with_wrong_checksum_is_an_error(monkeypatch, tmp_path):
    (tmp_path / "mine").mkdir()
    bad = tmp_path / "mine" / "hello.txt"
    bad.write_bytes(BODY + b"!")
    register(monkeypatch, ["http://127.0.0.1:9/never"])
    monkeypatch.setenv(data.PATH_ENV, str(tmp_path / "mine"))
    with pytest.raises(data.ChecksumError) as e:
        data.fetch("hello.txt")
    msg = str(e.value)
    assert str(bad) in msg and DIGEST in msg and hashlib.sha256(BODY + b"!").hexdigest() in msg


def test_unknown_file():
    with pytest.raises(KeyError, match="known: "):
        data.fetch("mnist.npz")


# ---------------------------------------------------------------- the datasets, from small fakes

def fake_fashion(monkeypatch, tmp_path, n=(12, 5)):
    rng = np.random.default_rng(0)
    d = tmp_path / "fm"
    d.mkdir()
    made = {}
    for prefix, count in zip(("train", "t10k"), n):
        x = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, count, dtype=np.uint8)
        for kind, arr, dims in (("images", x, 3), ("labels", y, 1)):
            name = f"{prefix}-{kind}-idx{dims}-ubyte.gz"
            raw = gzip.compress(idx_bytes(arr, 0x08))
            (d / name).write_bytes(raw)
            monkeypatch.setitem(data.FILES, name, data.File(name, hashlib.sha256(raw).hexdigest(),
                                                            ("http://127.0.0.1:9/never",), "Fashion-MNIST"))
        made[prefix] = (x, y)
    monkeypatch.setenv(data.PATH_ENV, str(d))
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    return made


def test_fashion_mnist_arrays(monkeypatch, tmp_path):
    made = fake_fashion(monkeypatch, tmp_path)
    x, y = data.fashion_mnist("test")
    assert np.array_equal(x, made["t10k"][0]) and np.array_equal(y, made["t10k"][1])
    assert not x.flags.writeable
    with pytest.raises(ValueError, match="split"):
        data.fashion_mnist("validation")


def test_fashion_mnist_torch_dataset(monkeypatch, tmp_path):
    torch = pytest.importorskip("torch")
    made = fake_fashion(monkeypatch, tmp_path)
    ds = data.fashion_mnist_dataset("train")
    assert len(ds) == 12
    img, label = ds[3]
    assert img.shape == (1, 28, 28) and img.dtype == torch.float32 and label.dtype == torch.int64
    assert torch.allclose(img[0], torch.from_numpy(made["train"][0][3] / np.float32(255)))
    flat = data.fashion_mnist_dataset("train", flatten=True)
    xb, yb = next(iter(torch.utils.data.DataLoader(flat, batch_size=4)))
    assert xb.shape == (4, 784) and float(xb.max()) <= 1.0 and yb.tolist() == made["train"][1][:4].tolist()


# ---------------------------------------------------------------- the real files, where this machine has them

def test_known_digests_match_the_course():
    assert data.FILES["train-images-idx3-ubyte.gz"].sha256.startswith("b0564c3e")
    assert data.FILES["tinyshakespeare.txt"].sha256.startswith("86c4e6aa")
    assert all(len(f.sha256) == 64 for f in data.FILES.values())


@pytest.mark.skipif(not os.path.isfile(os.path.join(data.DEBIAN_FASHION, "t10k-labels-idx1-ubyte.gz")),
                    reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist_from_debian(monkeypatch):
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    x, y = data.fashion_mnist("test")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8 and y.shape == (10000,)
    assert np.array_equal(np.bincount(y), [1000] * 10)
    assert str(data.locate("t10k-images-idx3-ubyte.gz")).startswith(data.DEBIAN_FASHION)


SHARED_TEXT = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


@pytest.mark.skipif(not os.path.isfile(os.path.join(SHARED_TEXT, "tinyshakespeare.txt")),
                    reason="no local copy of tiny shakespeare in ../shared/data")
def test_real_tiny_shakespeare_from_search_path(monkeypatch):
    monkeypatch.setenv(data.OFFLINE_ENV, "1")
    monkeypatch.setenv(data.PATH_ENV, os.path.abspath(SHARED_TEXT))
    text = data.tiny_shakespeare()
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")
