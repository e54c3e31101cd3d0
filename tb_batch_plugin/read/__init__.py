"""The reading side (numpy and TensorBoard's protos, never TensorFlow): the lossless index of a
log directory's event files and the query API ``load`` returns. Imports ``metadata`` only.

The names below are what the rest of the package, the benchmarks and users import from here."""

from tb_batch_plugin.read.index import (SOURCES, DistributionSeries, LogdirIndex, ScalarSeries,
                                        SeriesInfo, UnknownKey, load, release_freed_memory)

__all__ = ["SOURCES", "DistributionSeries", "LogdirIndex", "ScalarSeries", "SeriesInfo", "UnknownKey",
           "load", "release_freed_memory"]
