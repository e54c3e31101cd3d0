"""Reductions to the pixels a chart has (pure numpy): M4 columns and bands, spike scores, and the
block pyramid behind zoomed-out distribution heatmaps."""
