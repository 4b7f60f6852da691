"""Engines as data: one record per real serving engine and version (vLLM V0/V1, SGLang,
TensorRT-LLM with TensorRT engines or the PyTorch backend, LMDeploy, TGI, llama.cpp, gpt-fast,
HF transformers, FlexGen, Accelerate, DeepSpeed ZeRO-Inference), each with what it does to a
static run (:class:`Serving`: host overheads, CUDA graphs, kernel dispatch) and how it batches
requests (:class:`EngineConfig`: scheduler, KV blocks, chunk sizes), every knob with its
provenance and what it was fitted on. ``hetsim engines`` lists them.
"""

from hetsim.engines.batching import EngineConfig
from hetsim.engines.host import Serving
from hetsim.engines.record import Engine
from hetsim.engines.registry import DEFAULT, ENGINES, get, match, names

__all__ = ["DEFAULT", "ENGINES", "Engine", "EngineConfig", "Serving", "get", "match", "names"]
