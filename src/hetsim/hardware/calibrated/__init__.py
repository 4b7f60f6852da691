"""Calibrated overlays: ``<device>.yaml`` files written by ``hetsim calibrate`` that attach fitted
kernel-model parameters (with provenance) to the datasheet preset of the same name."""
