"""What BatchStats puts on Keras objects while it records, and takes off again.

The traced step (``step.StepWrapper``) replaces ``train_step``/``test_step`` on the model instance
and Keras' train/test function is rebuilt with it. Keras' ``fit`` has no try/finally around its
callbacks, so the hooks of the CallbackList that runs the fit are guarded, and the model's
``make_*_function`` too: an exception, or a fit or evaluate this callback is not part of, finds
the model restored.
"""

import sys

import keras
import tensorflow as tf

from tb_batch_plugin.record.guard import guard, unguard
from tb_batch_plugin.record.runs import TRAIN, VALIDATION
from tb_batch_plugin.record.staging import DistributionStage
from tb_batch_plugin.record.step import StepWrapper

_ABSENT = object()
_MAKE_FUNCTIONS = {TRAIN: "make_train_function", VALIDATION: "make_test_function"}


class StepInstaller:
    """Installs the wrapped step of ``callback`` (a BatchStats) on its model, recording into
    ``runs`` (a runs.Runs), and guards the CallbackList that runs the fit or evaluate; ``abort()``
    is called on any exception there (it restores the model and writes what was recorded)."""

    def __init__(self, callback, runs, abort):
        self.callback = callback
        self.runs = runs
        self.abort = abort
        self._installed = {}  # mode -> the model function built with our step, while installed
        self._built = {}  # mode -> (model key, wrapped step, function): reused by the next fit
        self._patches = []  # (object, attribute name, original) to undo at train end
        self._guarded = []  # the CallbackLists whose hooks restore the model on an exception
        self._entry_frame = None  # the frame of the fit (or evaluate) that records now

    def install(self, mode):
        """Makes the model's train/test function run our wrapped step.

        The function traced with our step is kept between fits (and validation runs) of the same
        compiled model, so reinstalling it does not retrace.
        """
        callback = self.callback
        model = callback.model
        attr = "train_function" if mode == TRAIN else "test_function"
        current = getattr(model, attr)
        if current is not None and current is self._installed.get(mode):
            return
        step_name = "train_step" if mode == TRAIN else "test_step"
        jit = bool(getattr(model, "jit_compile", False))
        key = (id(model), model.steps_per_execution, jit, id(model.optimizer),
               id(getattr(model, "_compile_loss", None)))
        recorder = self.runs.recorder(mode, model.distribute_strategy)
        self._hook_make_functions(model)
        self._patches.append((model, step_name, model.__dict__.get(step_name, _ABSENT)))
        cached = self._built.get(mode)
        if cached is not None and cached[0] == key:
            _, wrapped, function = cached
            setattr(model, step_name, wrapped)
            setattr(model, attr, function)
            self._installed[mode] = function
            return
        original_step = getattr(model, step_name)
        if isinstance(original_step, StepWrapper):  # ours from an earlier build: never wrap twice
            original_step = original_step.original_step
        if recorder.stage is not None:  # staged by an earlier build: write it before replacing it
            recorder.stage.drain()
        # Created here, outside any trace and strategy scope: staging is used with one replica.
        in_loop = model.steps_per_execution > 1  # Keras runs the steps in a tf.while_loop
        recorder.stage = DistributionStage(recorder.writer, callback.quantile_probs, callback.num_bins,
                                           in_loop=in_loop)
        wrapped = StepWrapper(callback, mode, original_step, recorder, jit, in_loop)
        setattr(model, step_name, wrapped)
        if jit:  # compile our step ourselves: summary ops have no XLA kernel
            model.jit_compile = False
        make = getattr(model, _MAKE_FUNCTIONS[mode])
        try:
            getattr(make, "original", make)(force=True)
        finally:
            if jit:
                model.jit_compile = True
        setattr(model, attr, _GuardedFunction(self, getattr(model, attr)))
        self._installed[mode] = getattr(model, attr)
        self._built[mode] = (key, wrapped, self._installed[mode])

    def uninstall(self, mode):
        if mode not in self._installed:
            return
        del self._installed[mode]
        step_name = "train_step" if mode == TRAIN else "test_step"
        keep = []
        for obj, name, original in reversed(self._patches):  # the latest patch first
            if name == step_name or (not self._installed and name in _MAKE_FUNCTIONS.values()):
                if original is _ABSENT:
                    obj.__dict__.pop(name, None)
                else:
                    setattr(obj, name, original)
            else:
                keep.append((obj, name, original))
        self._patches = keep[::-1]
        # The functions Keras cached were traced with our step: have them rebuilt without it.
        if mode == TRAIN:
            self.callback.model.train_function = None
        else:
            self.callback.model.test_function = None

    def guard_hooks(self, hook_frame):
        """At the start of a fit or an evaluate (``hook_frame``: the frame of the callback's hook
        that starts it): an exception raised anywhere in it (in its steps, in another callback)
        calls ``abort`` before it propagates. The CallbackList calling the hook is found on the
        stack and its hooks are guarded."""
        entry = guard(self, self.callback, hook_frame, self._guarded)
        if entry is not None:
            self._entry_frame = entry

    def unguard_hooks(self):
        unguard(self, self._guarded)
        self._entry_frame = None

    def before_keras_builds(self, mode, caller):
        """Keras is about to get the model's train or test function (``make_*_function``, at the
        start of every fit and evaluate) while ours is installed. For a fit or evaluate this
        callback is not part of, the model must run its own step: either ours is left over from a
        fit that an exception ended outside the guarded hooks (restore everything), or another
        callback evaluates the model inside our fit (restore the test step; validation
        reinstalls it)."""
        callbacks = caller.f_locals.get("callbacks") if caller is not None else None
        if isinstance(callbacks, keras.callbacks.CallbackList) and any(
                c is self.callback for c in callbacks.callbacks):
            return
        if mode == VALIDATION and _on_stack(self._entry_frame, caller):
            self.uninstall(VALIDATION)
        else:
            self.abort()

    def _hook_make_functions(self, model):
        """Stand-ins for make_train_function/make_test_function while installed
        (``before_keras_builds``)."""
        for mode, name in _MAKE_FUNCTIONS.items():
            if not isinstance(model.__dict__.get(name), _MakeFunctionHook):
                self._patches.append((model, name, model.__dict__.get(name, _ABSENT)))
                setattr(model, name, _MakeFunctionHook(self, mode, getattr(model, name)))


class _GuardedFunction:
    """The model's train/test function while BatchStats is installed: Keras' function with our
    step, run under the runs' step lock (the flusher's drain never overlaps a step). Any
    exception but the end of the data restores the model and writes what was recorded before it
    propagates. Python per call of the function, not per step inside it."""

    def __init__(self, installer, function):
        self.installer = installer
        self.function = function

    def __call__(self, *args, **kwargs):
        runs = self.installer.runs
        try:
            with runs.step_lock:
                runs.reopen_if_due()
                return self.function(*args, **kwargs)
        except (StopIteration, tf.errors.OutOfRangeError):
            raise
        except BaseException:
            self.installer.abort()
            raise


class _MakeFunctionHook:
    """Stands in for ``model.make_train_function``/``make_test_function`` while BatchStats is
    installed (``StepInstaller.before_keras_builds``)."""

    def __init__(self, installer, mode, original):
        self.installer = installer
        self.mode = mode
        self.original = original

    def __call__(self, force=False):
        self.installer.before_keras_builds(self.mode, sys._getframe(1))
        return self.original(force)


def _on_stack(frame, top):
    while top is not None:
        if top is frame:
            return True
        top = top.f_back
    return False
