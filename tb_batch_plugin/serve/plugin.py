"""The `tb_batch` TensorBoard plugin: the hooks TensorBoard calls, the route table (one module per
route family: charts, samples, dynamics, anomalies, export, static) and the background reload that
keeps the index and its aggregates fresh off the request path. docs/backend.md (Serving), the routes
in docs/http_api.md.
"""

import logging
import threading
import time
import weakref

from tensorboard.plugins import base_plugin

from tb_batch_plugin import metadata
from tb_batch_plugin.read import release_freed_memory
from tb_batch_plugin.reduce import grids
from tb_batch_plugin.serve import anomalies, charts, dynamics, export, http, samples, sources, static

logger = logging.getLogger(__name__)

TRIM_INTERVAL_S = 10.0  # give freed heap pages back to the OS at most this often


class BatchesPlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._sources = sources.Sources(context)
        self._charts = charts.Charts(self._sources, http.ResponseCache())
        self._samples = samples.Samples(self._sources)
        self._anomalies = anomalies.Anomalies(self._sources)
        self._dynamics = dynamics.Dynamics(self._sources, http.ResponseCache(http.CACHE_BYTES // 4))
        self._export = export.Export(self._sources)
        self._static = static.Static()
        if self._sources.index is not None:
            tune_allocator()
            threading.Thread(target=_reload_forever, args=(weakref.ref(self._sources),),
                             name="tb_batch-reload", daemon=True).start()

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/static/index.js", tab_name="Batches",
                                            disable_reload=False)

    def is_active(self):
        """Answers at once: TensorBoard's first page (plugins_listing) waits for it. From the
        index once its first reload is done; before that, whether the logdir holds event files."""
        try:
            sources_ = self._sources
            if sources_.index is not None and not sources_.scanned.is_set():
                return sources_.has_event_files()
            src = sources_.of(None)
            return any(src.tags(r) for r in src.runs())
        except Exception:
            return False

    def get_plugin_apps(self):
        return {
            "/runs": self._charts.runs,
            "/series": self._charts.series,
            "/distribution": self._charts.distribution,
            "/step": self._charts.step,
            "/anomalies": self._anomalies.anomalies,
            "/export": self._export.export,
            "/samples": self._samples.samples,
            "/hardest": self._samples.hardest,
            "/per_class": self._samples.per_class,
            "/dynamics": self._dynamics.dynamics,
            "/label_issues": self._dynamics.label_issues,
            "/dynamics_sample": self._dynamics.dynamics_sample,
            "/static/*": self._static.static,
        }


def _reload_forever(sources_ref):
    """The background reload: reads new bytes every RELOAD_MIN_INTERVAL_S and, as each run is
    published, precomputes what its first view needs (distribution aggregates, anomaly
    scores), off the request path. Ends when nothing serves from the
    sources any more (the plugin and its routes are gone)."""
    last_trim = time.monotonic()
    while True:
        src = sources_ref()
        if src is None:
            return
        try:
            src.index.reload(published=src.precompute_run)
            src.scanned.set()
            src.precompute(src.index.snapshot())
            if time.monotonic() - last_trim > TRIM_INTERVAL_S:
                grids.SCRATCH.drop_idle(TRIM_INTERVAL_S)  # heatmap buffers no request took lately
                release_freed_memory()  # what requests' arrays left in the heaps
                last_trim = time.monotonic()
        except Exception:
            logger.exception("tb_batch: reloading %s failed", src.index.logdir)
        finally:
            src.scanned.set()
            src.aggregated.set()
        del src
        time.sleep(sources.RELOAD_MIN_INTERVAL_S)


def tune_allocator():
    """glibc: allocations of 256 KiB and more get their own mappings, returned to the OS when
    freed (by default the threshold rises, up to 32 MiB, after big blocks are freed, and then
    every request's arrays come from per-thread heaps that keep the memory: in a server of 32
    threads that was 1.5 GB never given back). Smaller ones come from one heap for all
    threads (the GIL serialises their work anyway), which keeps up to 8 MiB free at its top
    instead of glibc's 128 KiB once its threshold is set: a request's small temporaries then
    reuse pages instead of faulting fresh ones in (a fresh page costs ~2 us; trimmed at
    128 KiB, a zoomed distribution spent ~12 ms of its ~40 in page faults). malloc_trim (the
    reload thread) gives back what the heap keeps. No-op elsewhere."""
    try:
        import ctypes

        mallopt = ctypes.CDLL("libc.so.6").mallopt
        mallopt(-8, 1)  # M_ARENA_MAX
        mallopt(-3, 256 << 10)  # M_MMAP_THRESHOLD
        mallopt(-1, 8 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass
