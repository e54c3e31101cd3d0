"""The hooks of the Keras CallbackList that calls BatchStats, guarded while it records: an
exception raised anywhere in a fit or evaluate (in its steps, in another callback) gives the
model its own step back and writes what was recorded before it propagates (Keras' fit has no
try/finally around its callbacks). TensorFlow-free: every backend's recording uses it."""

import keras

GUARDED_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                  "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
                  "on_train_end")


class AbortOnException:
    """A CallbackList hook that calls ``installer.abort()`` on any exception, then re-raises."""

    def __init__(self, installer, hook):
        self.installer = installer
        self.hook = hook

    def __call__(self, *args, **kwargs):
        try:
            return self.hook(*args, **kwargs)
        except BaseException:
            self.installer.abort()
            raise


def calling_callback_list(callback, frame, depth=8):
    """(the Keras CallbackList that is calling a hook of ``callback``, the frame of the fit or
    evaluate that called it), found on the stack from ``frame`` (the hook's) up; (None, None)
    when there is none."""
    for _ in range(depth):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.CallbackList) and any(c is callback for c in owner.callbacks):
            return owner, frame.f_back
        frame = frame.f_back
    return None, None


def guard(installer, callback, frame, guarded):
    """Guards the hooks of the CallbackList calling ``callback`` (found from ``frame``, a hook's)
    with ``installer.abort``; appends it to ``guarded`` (a list). Returns the frame of the fit
    or evaluate it guards (None if there is none, or it is guarded already)."""
    owner, entry = calling_callback_list(callback, frame)
    if owner is None or any(owner is g for g in guarded):
        return None
    for name in GUARDED_HOOKS:
        if name not in owner.__dict__:
            setattr(owner, name, AbortOnException(installer, getattr(owner, name)))
    guarded.append(owner)
    return entry


def unguard(installer, guarded):
    """Removes the guards ``guard`` put for ``installer`` on the CallbackLists in ``guarded``."""
    for owner in guarded:
        for name in GUARDED_HOOKS:
            hook = owner.__dict__.get(name)
            if isinstance(hook, AbortOnException) and hook.installer is installer:
                del owner.__dict__[name]
    guarded.clear()
