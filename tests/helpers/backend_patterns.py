"""Run as a script under any KERAS_BACKEND: the usage patterns BatchStats must survive (an
exception mid-fit, fits continuing a log_dir, a standalone evaluate, every=N, per-class losses,
BackupAndRestore resuming a fit), each in its own log_dir under ``--logdir``; prints what the
tests check as JSON."""

import json
import os
import sys

import numpy as np

from tests.helpers.backend_fit import BATCH, CLASSES, FEATURES, make_data



def main(root):
    import keras
    import tb_batch_plugin as tbb

    x, y, sw, vx, vy = make_data()

    def model():
        m = keras.Sequential([keras.Input((FEATURES,)),
                              keras.layers.Dense(16, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1)),
                              keras.layers.Dense(CLASSES, kernel_initializer=keras.initializers.GlorotUniform(2))])
        m.compile(optimizer=keras.optimizers.SGD(0.1), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    class RaiseAt(keras.callbacks.Callback):
        def __init__(self, epoch, batch):
            super().__init__()
            self.at, self.epoch = (epoch, batch), -1

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (self.epoch, batch) == self.at:
                raise RuntimeError("stop here")

    def fit(m, logdir=None, callbacks=(), epochs=1, **kwargs):
        cbs = list(callbacks) + ([tbb.BatchStats(logdir, **kwargs)] if logdir else [])
        try:
            m.fit(x, y, batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=cbs)
            return None
        except RuntimeError as e:
            return str(e)

    out = {}
    d = os.path.join(root, "interrupt")
    m = model()
    out["interrupt_error"] = fit(m, d, [RaiseAt(0, 3)])
    out["interrupt_function_restored"] = "guarded" not in getattr(m.train_function, "__qualname__", "")
    fit(m)  # without BatchStats: records nothing
    out["interrupt_steps"] = tbb.load(d).scalars("train", "loss").steps.tolist()

    d = os.path.join(root, "continue")
    m, cb = model(), None
    cb = tbb.BatchStats(d)
    for _ in range(2):
        m.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[cb])
    fit(m, d)  # another BatchStats on the same log_dir
    m.evaluate(vx, vy, batch_size=BATCH, verbose=0, callbacks=[tbb.BatchStats(d)])
    data = tbb.load(d)
    out["continue_steps"] = data.scalars("train", "loss").steps.tolist()
    out["continue_fit_markers"] = data.markers("train", "fit").steps.tolist()
    out["continue_epoch_markers"] = data.markers("train", "epoch").steps.tolist()
    evaluation = data.markers("validation", "evaluation")
    out["evaluation_marker"] = [evaluation.steps.tolist(), evaluation.fields["train_step"].tolist()]
    out["evaluation_steps"] = data.scalars("validation", "loss").steps.tolist()

    d = os.path.join(root, "every")
    fit(model(), d, every=3)
    out["every_steps"] = tbb.load(d).scalars("train", "loss").steps.tolist()

    d = os.path.join(root, "per_class")
    fit(model(), d, samples=8)
    per_class = tbb.load(d).per_class("train")
    out["per_class_counts"] = np.asarray(per_class.counts).tolist()
    out["per_class_expected"] = [np.bincount(y[i:i + BATCH], minlength=CLASSES).tolist()
                                 for i in range(0, len(x), BATCH)]

    d = os.path.join(root, "backup")
    backup = keras.callbacks.BackupAndRestore(os.path.join(root, "backup_state"))
    m = model()
    out["backup_first"] = fit(m, d, [backup, RaiseAt(1, 2)], epochs=2)
    m = model()
    out["backup_second"] = fit(m, d, [backup], epochs=2)
    out["backup_steps"] = tbb.load(d).scalars("train", "loss").steps.tolist()
    d = os.path.join(root, "two_outputs")
    inputs = keras.Input((FEATURES,), name="x")
    hidden = keras.layers.Dense(16, activation="relu", kernel_initializer=keras.initializers.GlorotUniform(1))(inputs)
    m = keras.Model(inputs, {"label": keras.layers.Dense(CLASSES, name="label")(hidden),
                             "value": keras.layers.Dense(1, name="value")(hidden)})
    m.compile(optimizer=keras.optimizers.SGD(0.05), metrics={"label": ["accuracy"]},
              loss={"label": keras.losses.SparseCategoricalCrossentropy(from_logits=True), "value": "mse"})
    m.fit(x, {"label": y, "value": x[:, :1]}, batch_size=BATCH, epochs=1, shuffle=False, verbose=0,
          validation_data=(vx, {"label": vy, "value": vx[:, :1]}), callbacks=[tbb.BatchStats(d)])
    data = tbb.load(d)
    out["two_outputs_tags"] = {run: sorted("%s:%s" % item for item in data.tags(run).items()) +
                               ["per_class:%s" % o for o in data.per_class_outputs(run)] +
                               ["dynamics:%s" % o for o in data.dynamics_outputs(run)] +
                               ["samples:%d" % len(data.samples(run))]
                               for run in data.runs()}
    # A file-size limit makes the writes fail mid-fit: one warning, training unchanged.
    import resource
    import signal
    import warnings

    d = os.path.join(root, "write_fault")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    m = model()
    resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, limits[1]))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = m.fit(x, y, batch_size=BATCH, epochs=3, shuffle=False, verbose=0,
                            callbacks=[tbb.BatchStats(d, flush_secs=0.05)]).history
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
    out["write_fault_warnings"] = [str(w.message) for w in caught if "BatchStats" in str(w.message)]
    out["write_fault_history"] = history
    out["write_fault_plain_history"] = model().fit(x, y, batch_size=BATCH, epochs=3, shuffle=False,
                                                   verbose=0).history
    out["tensorflow_imported"] = "tensorflow" in sys.modules
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
