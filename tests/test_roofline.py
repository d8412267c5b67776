"""gpuviz.roofline: the spec table is complete and dense, the math is right, figures build, and the
measured roofs refuse clearly without a GPU."""
import math

import pytest

from gpuviz import roofline as rl
from gpuviz.runtime import NoGPU

REQUIRED = ["T4", "L4", "A10", "V100 SXM2", "A100 40GB", "A100 80GB", "H100 SXM", "H100 PCIe", "H200",
            "RTX 3090", "RTX 4090", "MI100"]


def test_table_has_the_required_gpus_with_sources():
    for key in REQUIRED:
        s = rl.SPECS[key]
        assert s.source and "datasheet" in s.source or "whitepaper" in s.source
        assert s.fp32_tflops > 0 and s.bandwidth_gbs > 0 and s.memory_gib > 0 and s.sm_count and s.tdp_w


def test_dense_rates_not_sparse():
    # datasheet "with sparsity" figures are twice these; e.g. H100 SXM TF32 989 sparse -> 494.5 dense
    assert rl.SPECS["H100 SXM"].tf32_tflops == pytest.approx(494.5)
    assert rl.SPECS["H100 SXM"].bf16_tflops == pytest.approx(989.5)
    assert rl.SPECS["A100 80GB"].tf32_tflops == 156 and rl.SPECS["A100 80GB"].fp16_tflops == 312
    assert rl.SPECS["T4"].fp16_tflops == 65 and rl.SPECS["T4"].tf32_tflops is None
    for s in rl.SPECS.values():   # a tensor rate is at most 16x the FP32 rate when dense (sparse would be 32x)
        for v in (s.tf32_tflops, s.fp16_tflops, s.bf16_tflops):
            assert v is None or v <= 16 * s.fp32_tflops, s.name


def test_notebook_00_fields_still_there():
    for key in rl.COURSE_GPUS:
        s = rl.SPECS[key]
        assert s.name and s.fp32_tflops and s.bandwidth_gbs
    from gpuviz import series

    fig = rl.plot_peaks([series.measured("x", ["FP32 TFLOP/s", "GB/s"], [1.0, 100.0]),
                         series.predicted("T4 peak", ["FP32 TFLOP/s", "GB/s"], [8.1, 320.0], gpu="T4")])
    assert fig.axes[1].patches[1].get_width() == 320.0 and series.unlabelled(fig) == []


def test_math():
    assert rl.ridge(67000, 3350) == pytest.approx(20)
    assert rl.attainable(0.25, 67000, 3350) == pytest.approx(837.5)
    assert rl.attainable(100, 67000, 3350) == 67000
    assert rl.bound(1, 8100, 320) == "memory" and rl.bound(30, 8100, 320) == "compute"
    n = 4096
    assert rl.matmul_flops(n, n, n) / rl.matmul_bytes(n, n, n) == pytest.approx(n / 6)
    assert math.isclose(rl.SPECS["T4"].ridge, 8100 / 320)
    assert rl.SPECS["T4"].rate("fp16") == 65000 and rl.SPECS["T4"].rate("bf16") is None


def test_spec_for_device_names():
    assert rl.spec_for("Tesla T4") is rl.SPECS["T4"]
    assert rl.spec_for("NVIDIA H100 80GB HBM3") is rl.SPECS["H100 SXM"]
    assert rl.spec_for("NVIDIA H100 PCIe") is rl.SPECS["H100 PCIe"]
    assert rl.spec_for("NVIDIA A100-SXM4-40GB") is rl.SPECS["A100 40GB"]
    assert rl.spec_for("NVIDIA A100-SXM4-80GB") is rl.SPECS["A100 80GB"]
    assert rl.spec_for("NVIDIA H200") is rl.SPECS["H200"]
    assert rl.spec_for("nvidia  h100 80gb hbm3 ") is rl.SPECS["H100 SXM"]      # case and spacing only
    for key, spec in rl.SPECS.items():
        assert rl.spec_for(spec.name) is spec, key
    assert set(rl.DEVICE_NAMES.values()) == set(rl.SPECS)                     # every row can be found


@pytest.mark.parametrize("name", [
    "NVIDIA H100 NVL", "NVIDIA GH200 480GB", "NVIDIA H200 NVL", "NVIDIA H100", "NVIDIA L40S", "NVIDIA A10G",
    "NVIDIA A100 80GB PCIe", "NVIDIA A100-PCIE-40GB", "Tesla V100-PCIE-16GB", "NVIDIA GeForce RTX 3090 Ti",
    "NVIDIA GeForce RTX 4090 D", "NVIDIA T4G", "AMD Instinct MI100X", "", "H100"])
def test_spec_for_other_products_is_none(name):
    """Another product with a similar name has other rates: no row rather than a wrong one."""
    assert rl.spec_for(name) is None


def test_roofline_figure():
    fig = rl.plot_roofline([("naive", 0.25, 300.0), rl.Point("cuBLAS", 683, 50000, "library")],
                           peak_gflops=67000, bandwidth_gbs=3350, name="H100", extra_roofs={"TF32": 494500})
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and len(ax.get_legend().get_texts()) == 3
    assert "(36% of roof)" in ax.get_legend().get_texts()[1].get_text()
    assert rl.spec_table().count("\n") == len(rl.SPECS) + 2


def test_measured_roofs_refuse_without_gpu(monkeypatch):
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for fn in (rl.measure_bandwidth, rl.measure_sgemm):
        with pytest.raises(NoGPU, match="needs a CUDA GPU"):
            fn()


def test_cuda_cores_give_the_datasheet_fp32_rate():
    """SMs x FP32 lanes per SM x 2 FLOP (one FMA) x boost clock agrees with every row's FP32 rate."""
    for key in REQUIRED:
        s = rl.SPECS[key]
        assert s.cuda_cores == s.sm_count * s.fp32_lanes_per_sm and rl.LANE_SOURCES[key], key
        assert s.fp32_tflops_from_cores == pytest.approx(s.fp32_tflops, rel=0.03), key
    assert rl.SPECS["T4"].cuda_cores == 2560 and rl.SPECS["H100 SXM"].cuda_cores == 16896
    table = rl.cores_table(rl.COURSE_GPUS)
    assert "2,560" in table and "16,896" in table and table.count("\n") == len(rl.COURSE_GPUS) + 2
