"""What the values of a summary hold, told by its SummaryMetadata: which series they belong to
(kind, name, source), or why they are skipped, or nothing this reader keeps.

Design: docs/backend.md ("What is kept"); the metadata itself: docs/data_contract.md."""

from tb_batch_plugin import metadata


class SeriesClass:
    """What the summaries of one metadata hold: kind ('scalar', 'distribution', 'marker',
    'samples', 'per_class' or 'dynamics': its points are the locators of its records, see
    decode), the series name, source ('tb_batch', 'scalars' or 'simple_value'), provenance,
    plugin data."""

    __slots__ = ("kind", "name", "source", "provenance", "plugin_data")

    def __init__(self, kind, name, source, provenance=metadata.PROVENANCE_LOGGED, plugin_data=None):
        self.kind, self.name, self.source = kind, name, source
        self.provenance, self.plugin_data = provenance, plugin_data

    @property
    def key(self):
        return (self.kind, self.name, self.source)


class Skip:
    """Why the values of one metadata are skipped (counted per run under ``reason``)."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason


def classify(tag, meta_bytes):
    """The SeriesClass of the values of `tag` written with SummaryMetadata `meta_bytes`; None for
    summaries that hold no scalar or tb_batch data (images, histograms, text, ...); a Skip for
    tb_batch data this reader cannot read."""
    from tensorboard.compat.proto import summary_pb2
    try:
        meta = summary_pb2.SummaryMetadata.FromString(meta_bytes)
    except Exception:
        return Skip("malformed_metadata")
    plugin = meta.plugin_data.plugin_name
    try:
        if plugin == metadata.PLUGIN_NAME:
            plugin_data = metadata.parse_plugin_data(meta.plugin_data.content)
            kind = metadata.KIND_NAMES[plugin_data.kind]
            if plugin_data.kind == metadata.KIND_SCALAR:  # version 1: every value tb-batch wrote
                return SeriesClass("scalar", tag, "tb_batch", metadata.PROVENANCE_EXACT, plugin_data)
            if plugin_data.kind == metadata.KIND_DISTRIBUTION:
                return SeriesClass("distribution", metadata.distribution_name(tag), "tb_batch",
                                   plugin_data=plugin_data)
            # Samples and per-class losses are named by their tag: one series per output.
            if plugin_data.kind in (metadata.KIND_SAMPLES, metadata.KIND_PER_CLASS, metadata.KIND_DYNAMICS):
                return SeriesClass(kind, tag, "tb_batch", plugin_data=plugin_data)
            return SeriesClass("marker", kind, "tb_batch", plugin_data=plugin_data)
        if plugin == metadata.SCALARS_PLUGIN_NAME:
            plugin_data = metadata.parse_scalars_content(meta.plugin_data.content)
            if plugin_data is None:
                return SeriesClass("scalar", tag, "scalars")
            return SeriesClass("scalar", tag, "tb_batch", plugin_data.provenance, plugin_data)
    except ValueError as e:
        return Skip("newer_version" if "newer" in str(e) else "malformed_metadata")
    return None


class Classifier:
    """``classify``, remembered per (tag, metadata bytes): tf.summary writes the same metadata
    with every event. At most `limit` are kept (a bound against files with ever-new metadata)."""

    def __init__(self, limit=4096):
        self.limit = limit
        self._known = {}  # (tag, metadata bytes) -> classify's result

    def __call__(self, tag, meta_bytes):
        key = (tag, meta_bytes)
        found = self._known.get(key, self)
        if found is self:
            if len(self._known) >= self.limit:
                self._known.clear()
            found = self._known[key] = classify(tag, meta_bytes)
        return found
