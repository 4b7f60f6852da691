"""Placement: which memory side holds each part of each tensor and which side computes it,
over any number of sides joined by a graph of links. Sits between the op graph and the
simulator; policies are registered by name (``hetsim policies``)."""
