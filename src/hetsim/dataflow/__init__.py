"""Data-collection pipelines: heterogeneous stages (sensors, triggers, filters, storage) that
pass, reduce and classify a stream of samples, with the power and cost each stage and link
draws and the relevancy of what is kept (SystemFlow's model of a detector DAQ, Olin-Ammentorp
et al., arXiv 2407.00123). A pipeline is data (a YAML file read by :func:`load_pipeline`);
:func:`evaluate` propagates rates, message sizes, classification counts and power through it.
It is the non-LLM system hetsim's explore / Pareto machinery runs over.
"""

from hetsim.dataflow.evaluate import PipelineResult, StageResult, evaluate
from hetsim.dataflow.spec import Classifier, OpsModel, Pipeline, Source, Stage, load_pipeline

__all__ = [
    "Classifier",
    "OpsModel",
    "Pipeline",
    "PipelineResult",
    "Source",
    "Stage",
    "StageResult",
    "evaluate",
    "load_pipeline",
]
