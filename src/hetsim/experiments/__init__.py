"""Named reproductions of published results, each with its assumptions and targets."""
