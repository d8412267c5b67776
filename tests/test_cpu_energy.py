"""gpuviz.hardware.CpuEnergy: the CPU's energy from RAPL's counters where they can be read, else an
estimate (an assumed TDP × the measured time) that says so. Run against fake powercap directories."""
import time

import pytest

from gpuviz import hardware


def fake_powercap(root, zones):
    """zones: {dir name: (name, energy_uj, max_energy_range_uj)} under root, as Linux lays them out."""
    for d, (name, uj, wrap) in zones.items():
        z = root / d
        z.mkdir(parents=True)
        (z / "name").write_text(name + "\n")
        (z / "energy_uj").write_text(f"{uj}\n")
        (z / "max_energy_range_uj").write_text(f"{wrap}\n")
    return root


def set_uj(root, d, uj):
    (root / d / "energy_uj").write_text(f"{uj}\n")


def test_rapl_counts_the_packages_and_skips_their_subzones(tmp_path):
    root = fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 1_000_000, 2**32),
                                    "intel-rapl:0:0": ("core", 500_000, 2**32),
                                    "intel-rapl:1": ("package-1", 7_000_000, 2**32)})
    with hardware.CpuEnergy(tdp_w=65, root=str(root)) as cpu:
        set_uj(root, "intel-rapl:0", 4_000_000)          # +3 J
        set_uj(root, "intel-rapl:0:0", 2_500_000)        # inside package-0's count: not added again
        set_uj(root, "intel-rapl:1", 8_500_000)          # +1.5 J
    assert cpu.measured and cpu.joules == pytest.approx(4.5)
    assert "RAPL" in cpu.method and "package-0 (intel-rapl:0)" in cpu.method and "package-1" in cpu.method
    assert "core" not in cpu.method
    assert cpu.seconds > 0 and cpu.mean_watts == pytest.approx(4.5 / cpu.seconds)


def test_a_counter_that_wraps_around(tmp_path):
    root = fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 262_000_000, 262_143_328)})
    with hardware.CpuEnergy(tdp_w=65, root=str(root)) as cpu:
        set_uj(root, "intel-rapl:0", 1_856_672)          # past the range: 143,328 + 1,856,672 µJ = 2 J
    assert cpu.measured and cpu.joules == pytest.approx(2.0)


def test_without_powercap_it_estimates_and_says_so(tmp_path):
    with hardware.CpuEnergy(tdp_w=100, root=str(tmp_path / "absent")) as cpu:
        time.sleep(0.05)
    assert not cpu.measured
    assert cpu.joules == pytest.approx(100 * cpu.seconds) and cpu.seconds >= 0.05
    assert "TDP 100 W (assumed)" in cpu.method and "measured" in cpu.method


def test_unreadable_counters_fall_back_to_the_estimate(tmp_path, monkeypatch):
    """Linux lets only root read energy_uj: a PermissionError leaves the zone out, and the estimate is used."""
    root = fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 1_000_000, 2**32)})
    real_open = open

    def no_energy(path, *a, **k):
        if str(path).endswith("energy_uj"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", no_energy)
    with hardware.CpuEnergy(tdp_w=65, root=str(root)) as cpu:
        pass
    assert not cpu.measured and cpu.joules == pytest.approx(65 * cpu.seconds)
    assert hardware._rapl_packages(str(root)) == {}


def test_a_counter_readable_at_the_start_only_is_not_a_measurement(tmp_path):
    root = fake_powercap(tmp_path, {"intel-rapl:0": ("package-0", 1_000_000, 2**32)})
    with hardware.CpuEnergy(tdp_w=65, root=str(root)) as cpu:
        (root / "intel-rapl:0" / "energy_uj").unlink()
    assert not cpu.measured and "assumed" in cpu.method


def test_tdp_must_be_given():
    with pytest.raises(ValueError, match="tdp_w"):
        hardware.CpuEnergy(tdp_w=0)
