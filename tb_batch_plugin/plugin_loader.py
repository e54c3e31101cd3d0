"""Entry point of the ``tb_batch`` TensorBoard plugin (``tensorboard_plugins`` entry point).

TensorBoard imports this module at start-up, and an exception here would stop all of
TensorBoard, so it imports only TensorBoard's light base_plugin and nothing of numpy or
TensorFlow; the plugin itself (plugin.py) is imported when TensorBoard calls ``load``.
"""

try:
    from tensorboard.plugins import base_plugin as _base

    _LoaderBase = _base.TBLoader
except Exception:  # never raise at import
    _LoaderBase = object


class BatchesLoader(_LoaderBase):
    """Creates the Batches plugin; returns None (plugin disabled) if it cannot be created."""

    def define_flags(self, parser):
        pass

    def fix_flags(self, flags):
        pass

    def load(self, context):
        try:
            from tb_batch_plugin.serve.plugin import BatchesPlugin
        except Exception:  # e.g. numpy missing: disable the tab, keep TensorBoard running
            import logging

            logging.getLogger(__name__).exception("tb_batch plugin could not be loaded")
            return None
        return BatchesPlugin(context)
