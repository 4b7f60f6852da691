"""The serving-row vocabulary: rates, closed loops, offline scenarios, units, per-GPU values,
frameworks, and rows skipped with a counted reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from hetsim.serving.rows import load_serving_rows
from hetsim.serving.validate import predict_rows

HEAD = "source_id,source_url,hardware,n_devices,model,precision,framework,batch_or_concurrency,input_len,output_len,tp,pp,metric,value,unit,gemm_m,gemm_n,gemm_k,ambiguous,notes\n"  # noqa: E501
LINES = [
    's,u,H100 (80GB HBM3 per methodology text),1,Llama-3.1-8B,BF16,vLLM 0.6,"RPS=4, num_prompts=200",512,128,1,1,ttft_median,30,ms,,,,,',  # noqa: E501
    "s,u,H200 (141GB HBM3e),1,LLaMA 3 8B,FP8,SGLang,concurrency=16,256,256,1,1,output_throughput,2.5,tokens/s/GPU,,,,,",  # noqa: E501
    "s,u,H100 80GB,1,Llama 3 8B,BF16,TensorRT-LLM,MLPerf Offline,1024,256,1,1,completed_samples_per_second,12,samples/s,,,,,",  # noqa: E501
    "s,u,H100 80GB,1,Llama 3 8B,BF16,TensorRT-LLM,QPS=2,467,256,1,1,tpot_p99,0.012,s,,,,,",
    "s,u,RTX 6000 Pro Blackwell Server Edition,1,Llama 3 8B,FP4,TensorRT-LLM,QPS=2,467,256,1,1,itl_mean,7,ms,,,,,",  # noqa: E501
    "s,u,H100 80GB,1,Llama 3 8B,BF16,vLLM,QPS=2,dataset,dataset,1,1,itl_mean,7,ms,,,,,",
    "s,u,H100 80GB,1,Llama 3 8B,BF16,vLLM,64,467,256,1,1,itl_mean,7,ms,,,,,",  # a static batch: not serving
]


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    p = tmp_path / "serving.csv"
    p.write_text(HEAD + "\n".join(LINES) + "\n")
    return p


def test_vocabulary(csv_file: Path) -> None:
    rows, skipped = load_serving_rows(csv_file)
    assert [r.metric for r in rows] == [
        "ttft_median",
        "output_throughput",
        "completed_samples_per_second",
        "tpot_p99",
    ]
    a, b, c, d = rows
    assert (a.arrival, a.rate, a.n_requests, a.engine, a.field, a.value) == (
        "poisson",
        4.0,
        200,
        "vllm-v0",  # vLLM 0.6 ran the V0 engine
        "ttft_p50",
        0.03,
    )
    assert (b.arrival, b.concurrency, b.engine, b.precision, b.field) == (
        "closed",
        16,
        "sglang",
        "fp8",
        "output_throughput_per_gpu",
    )
    assert (c.arrival, c.hardware, c.field) == ("offline", "h100-sxm", "request_throughput")
    assert (d.field, d.value, d.hardware, d.engine) == ("tpot_p99", 0.012, "h100-sxm", "tensorrt-llm")
    assert sum(skipped.values()) == 2  # the FP4 GPU row and the dataset-length row


def test_every_kind_of_row_is_predicted(csv_file: Path) -> None:
    rows, _ = load_serving_rows(csv_file)
    scores = predict_rows(rows)
    assert len(scores) == 4 and all(s.predicted > 0 for s in scores)
