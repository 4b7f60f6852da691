"""Blocks a decoder layer is built from, one module per kind. Each mixer block
(``attention_gqa``, ``mla``, ``linear_attention``) states its parameters, which of them stay
whole on every device of a tensor-parallel group, its cache per token and state per sequence,
and its ops; each FFN block (``ffn_dense``, ``moe``) its parameters and ops; ``embed`` the
embedding, final norm, LM head and MTP modules. :mod:`hetsim.workload.layers` says which layers
use which block; :mod:`hetsim.workload.graph` assembles a pass."""
