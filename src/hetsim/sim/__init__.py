"""Simulation: prefill and decode phases of inference on a device or system."""
