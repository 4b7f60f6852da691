"""Length quantiles of a published request trace, for src/hetsim/serving/presets/mixes.yaml.

Usage: python scripts/mix_quantiles.py TRACE.csv  (columns num_prefill_tokens, num_decode_tokens:
the processed traces of microsoft/vidur and microsoft/sarathi-serve). Prints the 101 quantiles
(0%, 1%, ..., 100%) of the prompt and output lengths and their Spearman rank correlation, which
hetsim.serving.mixes samples through a Gaussian copula.
"""

from __future__ import annotations

import csv
import sys

import numpy as np


def main(path: str) -> None:
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    x = np.array([int(r["num_prefill_tokens"]) for r in rows])
    y = np.array([int(r["num_decode_tokens"]) for r in rows])
    q = np.linspace(0, 100, 101)

    def ranks(a: np.ndarray) -> np.ndarray:
        return np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)

    rho = float(np.corrcoef(ranks(x), ranks(y))[0, 1])
    print(f"  requests: {len(rows)}")
    print(f"  input_quantiles: {[round(v) for v in np.percentile(x, q)]}")
    print(f"  output_quantiles: {[round(v) for v in np.percentile(y, q)]}")
    print(f"  spearman: {rho:.3f}")


if __name__ == "__main__":
    main(sys.argv[1])
