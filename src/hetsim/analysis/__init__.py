"""Metrics and typed result records (TTFT, TPOT, MBU, MFU, energy per token, ...)."""
