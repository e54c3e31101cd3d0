"""The metric state within one traced step: snapshot, zero, read the batch's result, restore.

Keras' metrics keep running state over the epoch; the exact value of one batch is the result of
the state that batch alone leaves. ``MetricStates`` gets it without changing what Keras reports,
and the helpers here say which metrics have such (additive) state and where it lives.
"""

import tensorflow as tf


class MetricStates:
    """The state of the additive metrics within one traced step.

    Before the original step it is snapshotted and zeroed, so the metrics then hold this batch
    alone. The first time the step reads a metric's result, the result of that batch state is
    kept (with several replicas: of the state summed over them, as Keras reads a metric) and the
    snapshot is added back; the step then gets the result of the restored state. So whatever the
    step returns (Keras' own logs, a custom step's dict of results, arithmetic on them) and the
    state after the step are those of a run without BatchStats. Metrics whose result the step
    does not read are restored after it (``restore_unread``).
    """

    def __init__(self, metrics, replicas):
        self.metrics = []
        self._replicas = replicas  # several replicas: a batch result is of the summed state
        self._state, self._snapshot = {}, {}
        self._batch = {}  # id(metric) -> the result of its batch state
        self._leaves = {}  # id(a result the step got) -> the batch value of it
        self._kept = []  # those results, alive (their ids stay theirs) while the step is traced
        claimed = set()
        for metric in metrics:
            # The tf.Variables under Keras' variables: one op per read, zeroing and restoring
            # each (Keras' own assign_add is a read, an add and an assign).
            state = [v for v in (tf_variable(v) for v in metric.variables) if id(v) not in claimed]
            claimed.update(id(v) for v in state)
            self.metrics.append(metric)
            self._state[id(metric)] = state
            self._snapshot[id(metric)] = [v.value() for v in state]
        zeros = {}
        for state in self._state.values():
            for v in state:
                if v.shape.is_fully_defined():
                    key = (tuple(v.shape), v.dtype)
                    if key not in zeros:
                        zeros[key] = tf.zeros(v.shape, v.dtype)
                    v.assign(zeros[key], read_value=False)
                else:
                    v.assign(tf.zeros_like(v), read_value=False)

    def result(self, metric, original):
        """The metric's result as the step would get it without BatchStats."""
        key = id(metric)
        if key not in self._batch:
            self._batch[key] = self._batch_result(key, original)
            self._restore(key)
        running = original()
        for leaf, batch in zip(tf.nest.flatten(running), tf.nest.flatten(self._batch[key])):
            self._leaves[id(leaf)] = batch
            self._kept.append(leaf)
        return running

    def tracks(self, metric):
        return id(metric) in self._state

    def batch_value(self, value):
        """This batch's value of something the step returned, if it is a result read through
        ``result``; else None."""
        return self._leaves.get(id(value))

    def adopt(self, metrics):
        """Takes in the metrics among ``metrics`` created in this step (from zeros: they hold
        this batch alone, there is nothing to restore); returns them."""
        new = [m for m in metrics if id(m) not in self._state]
        for metric in new:
            self.metrics.append(metric)
            self._state[id(metric)] = [tf_variable(v) for v in metric.variables]
            self._snapshot[id(metric)] = [None] * len(self._state[id(metric)])
        return new

    def restore_unread(self):
        for metric in self.metrics:
            if id(metric) not in self._batch:
                self._batch[id(metric)] = None
                self._restore(id(metric))

    def _batch_result(self, key, original):
        if not self._replicas:
            return tf.nest.map_structure(_read, original())
        state = self._state[key]
        local = [v.value() for v in state]
        # The context of the moment: a merge_call (the optimizer's) replaces the replica's.
        replica_ctx = tf.distribute.get_replica_context()
        for v, s in zip(state, replica_ctx.all_reduce(tf.distribute.ReduceOp.SUM, local) if state else []):
            v.assign(s, read_value=False)
        result = tf.nest.map_structure(_read, original())
        for v, value in zip(state, local):
            v.assign(value, read_value=False)
        return result

    def _restore(self, key):
        for v, s in zip(self._state[key], self._snapshot[key]):
            if s is not None:
                v.assign_add(s, read_value=False)


def partition_metrics(model, additive_names):
    """(additive metric objects, names of the non-additive ones) among the model's metrics: Keras'
    own metrics and the user metrics named in ``additive_names`` keep additive (sum) state."""
    additive, other = [], []
    for metric in leaf_metrics(model.metrics):
        module = type(metric).__module__ or ""
        if module.startswith("keras.") or metric.name in additive_names:
            additive.append(metric)
        else:
            other.append(metric.name)
    return additive, other


def shared_state_metrics(model):
    """Names of the model's metrics with a variable that is one copy for all replicas (not a
    tf.distribute.DistributedValues), one entry per such variable."""
    return [m.name for m in leaf_metrics(model.metrics) for v in m.variables
            if not isinstance(tf_variable(v), tf.distribute.DistributedValues)]


def metric_variable_count(model):
    return sum(len(m.variables) for m in leaf_metrics(model.metrics))


def leaf_metrics(metrics):
    """Metrics with their own state: CompileMetrics is opened into the metrics it holds."""
    out = []
    for m in metrics:
        inner = getattr(m, "metrics", None) if type(m).__name__ == "CompileMetrics" else None
        if inner is not None:
            out.extend(leaf_metrics(inner))
        else:
            out.append(m)
    return out


def tf_variable(variable):
    """The tf.Variable that holds a Keras variable's value (the variable itself otherwise)."""
    inner = getattr(variable, "_value", None)
    return inner if isinstance(inner, tf.Variable) else variable


def _read(value):
    """A result as a tensor read now (some metrics' result() is their variable itself)."""
    return value if isinstance(value, tf.Tensor) else tf.identity(value)
