"""Reductions to the pixels a chart has (pure numpy; imports only ``metadata``): ``columns`` (M4,
bands, the per-step heatmap), ``spikes`` (spike scores), ``distribution`` (the distribution
route's reduction), and what the reload thread precomputes for it: ``aggregates`` (running sums,
block extremes), ``pyramid`` (block histograms) and ``grids`` (their aligned-grid arithmetic).
Design in docs/backend.md (Reductions)."""
