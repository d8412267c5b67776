import json

import pytest

from gpuviz import reference


def test_every_committed_reference_names_its_environment():
    for name in reference.available():
        doc = reference.load(name)
        env = doc["environment"]
        for key in ("device", "driver", "cuda", "torch", "numba_cuda", "date", "commit"):
            assert env.get(key), f"{name}.json lacks {key}"
        assert "simulator" not in env["device"].lower() and "cpu" not in env["device"].lower()
        assert reference.describe(doc).startswith("measured on ")


def test_missing_reference_is_none():
    assert reference.load("no_such_result") is None


def test_save_refuses_without_a_gpu(tmp_path):
    with pytest.raises(RuntimeError, match="real GPU"):
        reference.save("x", {"a": 1}, directory=tmp_path)
    assert not list(tmp_path.iterdir())


def test_record_is_off_unless_asked(monkeypatch, tmp_path):
    monkeypatch.delenv(reference.RECORD_ENV, raising=False)
    assert reference.record("x", {}) is None


def test_save_writes_atomically_with_environment(monkeypatch, tmp_path):
    monkeypatch.setattr(reference, "environment", lambda: {"device": "NVIDIA T4"})
    p = reference.save("demo", {"t": [1.0]}, directory=tmp_path)
    assert json.loads(p.read_text()) == {"name": "demo", "environment": {"device": "NVIDIA T4"},
                                        "results": {"t": [1.0]}}
    assert [q.name for q in tmp_path.iterdir()] == ["demo.json"]


def test_record_writes_into_the_reference_dir_setting(monkeypatch, tmp_path):
    monkeypatch.setattr(reference, "environment", lambda: {"device": "NVIDIA H100"})
    monkeypatch.setenv(reference.RECORD_ENV, "1")
    monkeypatch.setenv(reference.DIR_ENV, str(tmp_path))
    assert reference.record("demo", {"t": 1}) == tmp_path / "demo.json"
    assert [q.name for q in tmp_path.iterdir()] == ["demo.json"]
    assert reference.load("demo") is None                   # load keeps reading the package's own results


def test_the_commit_can_be_named_where_the_checkout_has_no_git(monkeypatch):
    monkeypatch.setenv(reference.COMMIT_ENV, "0123abc")
    assert reference._commit() == "0123abc"
    monkeypatch.delenv(reference.COMMIT_ENV)
    assert reference._commit() != "0123abc"
