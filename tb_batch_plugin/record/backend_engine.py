"""BatchStats on the JAX and PyTorch backends: the model's train/test function replaced by one
that runs ``backend_step``'s step and hands each step's values to the host side
(``backend_writing``), numbered by the same rules as on TensorFlow (``ledger``).

Keras builds its train function before ``on_train_begin``; ours is built from the same pieces
(JAX: the step jitted as Keras jits it, with its shardings, in Keras' own loop over
``steps_per_execution``), cached per model and original function so that later fits and every
evaluation reuse one trace, and swapped in only while BatchStats records.
"""

import warnings
import weakref

import keras

from tb_batch_plugin import metadata
from tb_batch_plugin.record import ledger
from tb_batch_plugin.record.backend_step import VALUES_KEY, Capture, StepValues, stand_ins
from tb_batch_plugin.record.backend_writing import RunWriter
from tb_batch_plugin.record.guard import guard, unguard

TRAIN, VALIDATION = "train", "validation"
_BUILT = weakref.WeakKeyDictionary()  # model -> {(mode, id(original function), settings): ours}


class BackendEngine:
    """The recording of one BatchStats on a backend other than TensorFlow."""

    def __init__(self, callback):
        self.callback = callback
        self.runs = {}  # mode -> RunWriter
        self.in_fit = False
        self.started = False  # the fit's first step is numbered
        self.epoch = -1
        self._saved = {}  # mode -> the model's own function while ours is in place
        self._values = {}  # mode -> the StepValues of our function
        self._warned = set()
        self.guarded = []  # the CallbackLists whose hooks call abort() on an exception

    # Keras hooks (called by BatchStats) -----------------------------------------------------

    def on_train_begin(self, hook_frame):
        self.in_fit, self.started = True, False
        self._run(TRAIN)
        self._install(TRAIN)
        guard(self, self.callback, hook_frame, self.guarded)

    def on_epoch_begin(self, epoch):
        self.epoch = epoch
        if not self.started:  # numbered now: BackupAndRestore restores in its on_train_begin
            self.started = True
            run = self.runs[TRAIN]
            run.next_step, counter = ledger.start_training(run.logdir, self.callback.model.optimizer)
            run.marker(metadata.KIND_FIT, run.next_step, [counter, epoch])

    def on_epoch_end(self, epoch):
        step, counter = self._note_position()
        self.runs[TRAIN].marker(metadata.KIND_EPOCH, step, [counter, epoch])
        self.flush(wait=False)  # training goes on while the writing thread writes it

    def on_test_begin(self, hook_frame):
        run = self._run(VALIDATION)
        if self.in_fit:
            train_step, epoch = self.runs[TRAIN].next_step, self.epoch
        else:
            train_dir = ledger.ledger_dir(self.callback.log_dir, TRAIN)
            train_step = ledger.ledger(train_dir).training_start(
                ledger.optimizer_batches(self.callback.model.optimizer))[0]
            epoch = -1
        run.next_step = ledger.ledger(run.logdir).next_step
        run.marker(metadata.KIND_EVALUATION, run.next_step, [train_step, epoch])
        self._install(VALIDATION)
        if not self.in_fit:
            guard(self, self.callback, hook_frame, self.guarded)

    def on_test_end(self):
        self._uninstall(VALIDATION)
        run = self.runs[VALIDATION]
        ledger.ledger(run.logdir).advance(run.next_step)
        if not self.in_fit:
            unguard(self, self.guarded)
        self.flush(wait=not self.in_fit)

    def on_train_end(self):
        self.in_fit = False
        self._note_position()
        self._uninstall(TRAIN)
        self._uninstall(VALIDATION)
        unguard(self, self.guarded)
        self.flush()

    def flush(self, wait=True):
        """Writes every step handed over so far and flushes the event files (never raises); with
        ``wait``, returns once they are written."""
        for run in self.runs.values():
            run.flush(wait)

    # The model's functions ---------------------------------------------------------------------

    def _run(self, mode):
        if mode not in self.runs:
            callback = self.callback
            self.runs[mode] = RunWriter(ledger.ledger_dir(callback.log_dir, mode), callback, self._warn_once,
                                        mode == TRAIN, writes=writes_here())
        return self.runs[mode]

    def _note_position(self):
        run = self.runs[TRAIN]
        run.hand_over()
        return run.next_step, ledger.note_position(run.logdir, run.next_step, self.callback.model.optimizer,
                                                   self.started)

    def _install(self, mode):
        model = self.callback.model
        attr = "train_function" if mode == TRAIN else "test_function"
        original = getattr(model, attr)
        if original is None or mode in self._saved:
            return
        built = _BUILT.setdefault(model, {})
        # One build per model, function and settings: a later fit, a new BatchStats with the same
        # settings and every evaluation reuse its trace; it records into whichever engine holds it.
        callback = self.callback
        key = (mode, id(original), callback.distributions, callback.samples, callback.dynamics,
               callback.sample_ids)
        if key not in built:
            if keras.backend.backend() == "torch" and getattr(model, "_should_torch_compile", lambda: False)():
                self._warn_once("torch-compile", "BatchStats: while it records, the step runs without "
                                "torch.compile (jit_compile=True)")
            values = StepValues(model, callback, mode == TRAIN)
            holder = _Holder(mode)
            built[key] = (_guarded(_build_function(model, mode, values, holder.sink), holder), values,
                          original, holder)
        ours, values, _, holder = built[key]
        holder.engine = weakref.ref(self)
        self._values[mode] = values
        self._saved[mode] = original
        setattr(model, attr, ours)

    def _uninstall(self, mode):
        if mode in self._saved:
            attr = "train_function" if mode == TRAIN else "test_function"
            setattr(self.callback.model, attr, self._saved.pop(mode))
            values = self._values.get(mode)
            for key, message in (values.warnings if values is not None else ()):
                self._warn_once(key, message)

    def abort(self):
        """An exception (other than the end of the data) left the model's function: the model
        gets its own functions back at once, and what was recorded is written; then it
        propagates (Keras' fit has no try/finally that would call on_train_end)."""
        if self.in_fit and TRAIN in self.runs:
            self._note_position()
        self.in_fit = False
        self._uninstall(TRAIN)
        self._uninstall(VALIDATION)
        unguard(self, self.guarded)
        if VALIDATION in self.runs:
            ledger.ledger(self.runs[VALIDATION].logdir).advance(self.runs[VALIDATION].next_step)
        self.flush()

    def _warn_once(self, key, message):
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(message, stacklevel=4)


def _build_function(model, mode, values, sink):
    """Our train or test function for ``model``: its step with ours around it, returning Keras'
    logs (those of a run without BatchStats) after handing this step's values to ``sink``."""
    training = mode == TRAIN
    original_step = model.train_step if training else model.test_step
    backend = keras.backend.backend()

    def pop(logs):
        logs = dict(logs)
        step_values = logs.pop(VALUES_KEY, None)
        if step_values is not None:
            sink(step_values)
        return logs

    if backend == "jax":
        replicated = _replicated()

        def step(state, data):
            with stand_ins(model, Capture(), training) as cap:
                logs, state = original_step(state, data)
            logs = _with_values(logs, values, cap)
            if replicated is not None and VALUES_KEY in logs:  # every process gets the global values
                import jax
                logs[VALUES_KEY] = jax.lax.with_sharding_constraint(logs[VALUES_KEY], replicated)
            return logs, state

        jitted = _jit(model, step, training)

        def one_step(state, data):
            logs, state = jitted(state, data)
            return pop(logs), state
        return model._make_function(one_step)

    if backend == "torch":
        def torch_function(data):
            with stand_ins(model, Capture(), training) as cap:
                if training:
                    logs = original_step(data[0])
                else:
                    import torch
                    with torch.no_grad():
                        logs = original_step(data[0])
            return pop(_with_values(logs, values, cap, detach=True))
        return torch_function
    raise ValueError("BatchStats: no recording for the Keras backend %r" % backend)


class _Holder:
    """The engine a built function records into now (the last to install it)."""

    def __init__(self, mode):
        self.mode = mode
        self.engine = lambda: None

    def sink(self, values):
        me = self.engine()
        if me is not None and self.mode in me.runs:
            me.runs[self.mode].add(values, me._values[self.mode])


def _guarded(function, holder):
    """``function``, which gives the model its own functions back (``BackendEngine.abort``) when
    an exception other than the end of the data leaves it."""
    def guarded(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except StopIteration:
            raise
        except BaseException:
            me = holder.engine()
            if me is not None:
                me.abort()
            raise
    return guarded


def _with_values(logs, values, cap, detach=False):
    """Keras' logs with this step's values added under VALUES_KEY (none if they cannot be made:
    recording never stops training; the reason is warned about once)."""
    if not isinstance(logs, dict):
        values.warnings.append(("logs", "BatchStats: the step returned %s, not a dict of logs; "
                                "nothing is recorded" % type(logs).__name__))
        return logs
    try:
        if detach:  # PyTorch: no autograd graph for our computations (the same values, less work)
            import torch

            with torch.no_grad():
                step_values = values(cap, logs)
        else:
            step_values = values(cap, logs)
    except Exception as e:  # noqa: BLE001 - a structure we do not know: record nothing, train on
        values.warnings.append(("values-error", "BatchStats: this step's values could not be computed "
                                "(%s: %s); nothing is recorded for it" % (type(e).__name__, e)))
        return logs
    if detach:
        step_values = keras.tree.map_structure(lambda t: t.detach() if hasattr(t, "detach") else t, step_values)
    return {**logs, VALUES_KEY: step_values}


def _replicated():
    """Under a keras.distribution (JAX): the sharding that replicates an array on every device of
    its mesh, so the step's values of the global batch (gathered inside the step, with its own
    collectives) are whole in every process; None without a distribution."""
    from keras.src import distribution as distribution_lib

    distribution = distribution_lib.distribution()
    if distribution is None:
        return None
    import jax
    from keras.src.backend.jax.distribution_lib import _to_backend_mesh

    return jax.sharding.NamedSharding(_to_backend_mesh(distribution.device_mesh), jax.sharding.PartitionSpec())


def writes_here():
    """Whether this process writes: the first of a multi-process JAX run (jax.distributed), where
    every process computes the same global values; always elsewhere."""
    if keras.backend.backend() != "jax":
        return True
    import jax
    return jax.process_index() == 0


def _jit(model, step, training):
    """``step`` jitted as Keras jits its own (donated state, the distribution's shardings); as is
    when the model runs eagerly or without jit_compile."""
    if model.run_eagerly or not model.jit_compile:
        return step
    import jax
    from keras.src import distribution as distribution_lib

    out_shardings = None
    if distribution_lib.distribution() is not None:
        shardings = model._get_state_sharding_spec()
        if not training:
            trainable, non_trainable, _, metrics = shardings
            shardings = (trainable, non_trainable, metrics)
        out_shardings = (None, shardings)
    return jax.jit(step, donate_argnums=0, out_shardings=out_shardings)
