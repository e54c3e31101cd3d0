"""The TensorBoard plugin: ``plugin`` (route table, hooks, reload thread), ``http`` (bodies, cache,
errors), ``params`` (parameters), ``sources`` (index or data provider) and one module per route
family: ``charts``, ``samples``, ``anomalies``, ``export``, ``static``. Imports ``read`` (through
the package) and ``reduce``; never TensorFlow. docs/backend.md (Serving), docs/http_api.md."""
