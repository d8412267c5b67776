import subprocess
import sys

from gpuviz import doctor


def test_doctor_reports_simulator_mode_and_exits_zero():
    p = subprocess.run([sys.executable, "-m", "gpuviz", "doctor"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    for label in ("Python", "numba", "numba-cuda", "torch", "ipywidgets", "JupyterLab", "Colab", "GPU", "torch.cuda"):
        assert label in p.stdout
    assert "none: simulator mode" in p.stdout and "OK: the course can run here." in p.stdout


def test_missing_package_fails_with_fix(monkeypatch):
    real = doctor.version
    monkeypatch.setattr(doctor, "version", lambda d: None if d == "torch" else real(d))
    r = doctor.collect(run_kernel=False)
    assert not r.ok
    assert ("torch is not installed", 'pip install "torch"  (or: pip install gpuviz)') in r.problems


def test_ptx_mismatch_is_predicted_with_fix(monkeypatch):
    monkeypatch.setattr(doctor.runtime, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(doctor.runtime, "simulator_requested", lambda: False)
    monkeypatch.setattr(doctor, "driver_cuda_version", lambda: (12, 4))
    monkeypatch.setattr(doctor, "toolkit_major", lambda: 13)
    r = doctor.collect(run_kernel=False)
    assert not r.ok
    problem, fix = r.problems[0]
    assert "UNSUPPORTED_PTX_VERSION" in problem
    assert 'pip install -U "numba-cuda[cu12]"' in fix and "Restart session" in fix
    assert "FIX:" in r.text()


def test_ptx_error_text_is_recognized():
    msg = ("numba.cuda.cudadrv.driver.LinkerError: [222] Call to cuLinkAddData results in "
           "CUDA_ERROR_UNSUPPORTED_PTX_VERSION")
    assert 'numba-cuda[cu12]' in doctor.diagnose_error(msg, (12, 2))
    assert doctor.diagnose_error("something else entirely", (12, 2)) is None


def test_failed_smoke_kernel_is_reported(monkeypatch):
    monkeypatch.setattr(doctor.runtime, "cuda_device_count", lambda: 1)
    monkeypatch.setattr(doctor.runtime, "simulator_requested", lambda: False)
    monkeypatch.setattr(doctor, "driver_cuda_version", lambda: (12, 4))
    monkeypatch.setattr(doctor, "toolkit_major", lambda: 12)
    monkeypatch.setattr(doctor.runtime, "smoke_test", lambda: (False, "CUDA_ERROR_UNSUPPORTED_PTX_VERSION"))
    r = doctor.collect()
    assert not r.ok and "numba-cuda[cu12]" in r.problems[0][1]


def test_colab_cpu_runtime_hint(monkeypatch):
    monkeypatch.setattr(doctor.runtime, "in_colab", lambda: True)
    monkeypatch.setattr(doctor.runtime, "simulator_requested", lambda: False)
    r = doctor.collect(run_kernel=False)
    assert r.ok and "Change runtime type" in r.text() and ("Colab", "yes") in r.lines


def test_cli_usage_and_unknown_command(capsys):
    from gpuviz import cli

    assert cli.main([]) == 2
    assert cli.main(["frobnicate"]) == 2
    assert "unknown command" in capsys.readouterr().err
