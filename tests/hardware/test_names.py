"""The one hardware vocabulary (hetsim.hardware.names): every hardware string of the published
vocabulary (../shared/realdata/README.md) maps to a system hetsim can price, or to a reason."""

from __future__ import annotations

import pytest

from hetsim.hardware.loader import get_hardware
from hetsim.hardware.names import resolve
from hetsim.serving.rows import load_serving_rows

VOCABULARY = [
    ("H100 (80GB HBM3 per methodology text; form factor not stated)", "h100-sxm"),
    ("H200 (141GB HBM3e)", "h200"),
    ("H200 131GB HBM3", "h200"),
    ("H800 (SXM5)", "h800"),
    ("B200 180GB (DGX B200)", "b200"),
    ("GB200 192GB (GB200 NVL72)", "gb200"),
    ("GH200 480GB", "gh200"),
    ("L40S", "l40s"),
    ("RTX 6000 Pro Blackwell Server Edition", "rtx-pro-6000"),
    ("MI300X", "mi300x"),
    ("MI250X (one GCD)", "mi250x-gcd"),
    ("Intel Gaudi 2", "gaudi2"),
    ("Intel Gaudi 3", "gaudi3"),
    ("Google TPU v5e (v5litepod)", "tpu-v5e"),
    ("NVIDIA T4 16GB + 208 GB DRAM + 1.5 TB NVMe SSD (GCP, FlexGen Table 1)", "flexgen-t4"),
    (
        "RTX 4090 24GB + 2x Xeon Platinum 8480+ + 512 GB DDR5 host memory + NVMe",
        "rtx-4090+xeon-8480x2+dram:512GB+nvme",
    ),
    ("RTX 4090D 24GB with Intel Xeon Gold 6454S and 1 TB DDR5 DRAM", "rtx-4090+xeon-6454s+dram:1TB"),
]


@pytest.mark.parametrize(("text", "system"), VOCABULARY)
def test_every_vocabulary_form_maps_to_a_system_that_loads(text: str, system: str) -> None:
    m = resolve(text)
    assert (m.system, m.reason) == (system, "")
    assert get_hardware(m.system).name  # a preset or a composition that builds


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("Intel Gaudi 2/3", "names two parts"),
        ("A100 40GB", "has no preset"),
        ("Cerebras WSE-3", "matches no"),
    ],
)
def test_unpriceable_forms_are_skipped_with_the_reason(text: str, why: str) -> None:
    m = resolve(text)
    assert m.system == "" and why in m.reason


def test_serving_rows_read_the_same_vocabulary(tmp_path) -> None:  # type: ignore[no-untyped-def]
    head = "source_id,source_url,hardware,n_devices,model,precision,framework,batch_or_concurrency,"
    head += "input_len,output_len,tp,pp,metric,value,unit,gemm_m,gemm_n,gemm_k,ambiguous,notes\n"
    row = 's,u,"{hw}",1,Llama-3.1-8B,BF16,vLLM,QPS=2,128,128,1,1,ttft_mean,50,ms,,,,,\n'
    path = tmp_path / "rows.csv"
    path.write_text(head + row.format(hw="H800 (SXM5)") + row.format(hw="B200 180GB (DGX B200)"))
    rows, _ = load_serving_rows(path)
    # serving used to read H800 as an H100 SXM and B200 / GB200 alike as b200
    assert [r.hardware for r in rows] == ["h800", "b200"]
