"""Model ingestion beyond the builders: ONNX files (and, with the ``torch`` extra, PyTorch
modules traced without weights) turned into the same op records as ``workload/``."""

from hetsim.ingest.fusion import FUSE_CHOICES, Fuse, check_fuse, fuse
from hetsim.ingest.onnx_ingest import ingest_onnx
from hetsim.ingest.onnx_load import parse_input_shapes
from hetsim.ingest.proxies_index import PROXY_NAMES, resolve_model_file
from hetsim.ingest.records import OP_CLASSES, GraphOp, IngestedGraph, OpClass, TensorUse, Unsupported

__all__ = [
    "FUSE_CHOICES", "OP_CLASSES", "PROXY_NAMES", "Fuse", "GraphOp", "IngestedGraph", "OpClass",
    "TensorUse", "Unsupported", "check_fuse", "fuse", "ingest_onnx", "parse_input_shapes",
    "resolve_model_file",
]  # fmt: skip
