"""Shared by every test: the folder holding this file is on ``sys.path`` (pytest puts a root
conftest's folder there), so tests import their shared helpers as ``from helpers import ...``:

- ``helpers.event_files``: hand-built tb_batch events, record surgery, a real TensorBoard process;
- ``helpers.fast_writer``: real tb_batch event files for millions of steps in seconds, no TensorFlow;
- ``helpers.numpy_reference``: the distribution layout computed with numpy;
- ``helpers.keras_reference``: the small Keras model and data of the recording tests, and the
  hand-written GradientTape loop they are compared with.

Tests mirror the package: ``record/`` (needs TensorFlow), ``read/``, ``reduce/``, ``serve/``
(no TensorFlow), ``ui/`` (a real TensorBoard and headless Chromium), ``packaging/``.
"""
