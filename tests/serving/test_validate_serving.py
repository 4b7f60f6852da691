"""`validate --serving` never aborts on a row: what it cannot model is skipped with the reason
and counted; the JSON carries rows scored, rows skipped by reason and MAPE per metric by file,
engine and hardware."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from hetsim.serving.rows import load_serving_rows
from hetsim.serving.validate import score_rows
from tests.conftest import CliResult

HEAD = "source_id,source_url,hardware,n_devices,model,precision,framework,batch_or_concurrency,input_len,output_len,tp,pp,metric,value,unit,gemm_m,gemm_n,gemm_k,ambiguous,notes\n"  # noqa: E501
LINES = [
    "s,u,H100 80GB,1,Llama 3 8B,BF16,TensorRT-LLM v0.14,QPS=2,467,256,1,1,itl_mean,8,ms,,,,,",
    "s,u,H100 80GB,1,Llama 3 8B,BF16,TensorRT-LLM v0.14,QPS=2,467,256,1,1,ttft_mean,20,ms,,,,,",
    # a 20,000-token prompt: over TensorRT-LLM's 8,192-token budget without chunked prefill
    "s,u,H200,8,Llama 3.1 405B,FP8,TensorRT-LLM v0.14,QPS=1,20000,100,8,1,ttft_mean,900,ms,,,,,",
    "s,u,H100 80GB,1,Llama 3 8B,BF16,vLLM 0.8,QPS=4,ShareGPT,ShareGPT,1,1,ttft_mean,40,ms,,,,,",
    "s,u,H100 80GB,1,Llama 3 70B,BF16,vLLM 0.8,QPS=4,128,128,1,1,ttft_mean,40,ms,,,,,",  # 70B on one H100
    "s,u,H100 80GB,1,Llama 3 8B,BF16,MyServe 1.0,QPS=4,128,128,1,1,ttft_mean,40,ms,,,,,",  # unknown engine
    "s,u,H100 80GB,1,Llama 3 8B,BF16,vLLM 0.8,QPS=4,dataset,dataset,1,1,ttft_mean,40,ms,,,,,",
]


def _file(tmp_path: Path) -> Path:
    p = tmp_path / "rows.csv"
    p.write_text(HEAD + "\n".join(LINES) + "\n")
    return p


def test_rows_that_cannot_be_modelled_are_counted_not_fatal(tmp_path: Path) -> None:
    rows, skipped = load_serving_rows(_file(tmp_path))
    assert len(rows) == 5 and sum(skipped.values()) == 2
    assert any("engine record" in k for k in skipped) and any("request mix" in k for k in skipped)
    assert next(r for r in rows if r.input_len == 0).mix == "sharegpt"
    scores, refused = score_rows(rows)
    assert len(scores) == 3 and sum(refused.values()) == 2
    assert any("without chunked prefill" in k for k in refused) and any("larger --tp" in k for k in refused)


def test_json_carries_counts_and_mape_by_engine_and_hardware(
    run_cli: Callable[..., CliResult], tmp_path: Path
) -> None:
    r = run_cli("validate", "--serving", str(_file(tmp_path)), "--json")
    assert r.code == 0, r.err
    d = json.loads(r.out)
    f = d["files"]["rows.csv"]
    assert f["rows_scored"] == 3 and sum(f["rows_skipped"].values()) == 4 == sum(d["rows_skipped"].values())
    assert set(f["by_engine"]) == {"tensorrt-llm", "vllm"} and set(f["by_hardware"]) == {"h100-sxm"}
    assert set(f["mape"]) == {"itl_mean", "ttft_mean"}
    human = run_cli("validate", "--serving", str(_file(tmp_path)))
    assert human.code == 0 and "3 rows scored" in human.out and "skipped" in human.err
