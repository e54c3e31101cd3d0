"""The reading side (numpy and TensorBoard's protos, never TensorFlow): the lossless index of a
log directory's event files and the query API ``load`` returns. Imports ``metadata`` only.
Modules, one concern each: docs/backend.md ("Files").

The names below are what the rest of the package, the benchmarks and users import from here."""

from tb_batch_plugin.read.index import LogdirIndex, load, release_freed_memory
from tb_batch_plugin.read.sample_dynamics import SampleDynamics
from tb_batch_plugin.read.series import (SOURCES, DistributionSeries, MarkerSeries, ScalarSeries, SeriesInfo,
                                         UnknownKey)
from tb_batch_plugin.read.snapshot import IndexSnapshot

__all__ = ["SOURCES", "DistributionSeries", "IndexSnapshot", "LogdirIndex", "MarkerSeries", "SampleDynamics",
           "ScalarSeries", "SeriesInfo", "UnknownKey", "load", "release_freed_memory"]
