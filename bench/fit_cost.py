"""What recording costs where a user waits (not a test): the first ``fit``, a warm epoch, an epoch
with validation, an 8-epoch ``fit`` end to end and a sweep of 10 short fits, per Keras backend,
model and ``steps_per_execution``; plain ``fit`` against ``BatchStats()`` at its defaults (or the
``--batchstats`` options given).

The models and data of bench/backend_cost.py (scikit-learn's digits, batch 32: 57 steps an
epoch, the last one partial; the MLP or the small CNN). Each backend runs in its own process.
Per round, every configuration in turn (the order alternating between rounds) on a new model:

* first fit: ``fit`` of one epoch, tracing or compiling included, in a process that has already
  fit a model with every configuration (a notebook's second model, a sweep's next run);
* warm epoch and epoch with validation: the median epoch of ``--epochs`` epochs of a second fit,
  then of a third with ``validation_data`` (300 rows, 10 batches, the last partial), from one
  epoch's end to the next;
* evaluation: what one evaluation of one batch adds to an epoch, measured where an epoch's noise
  is small: the median of 24 epochs of 2 steps (64 rows) with ``validation_data`` of 32 rows,
  less that of 24 such epochs without; and (own) BatchStats' own part of it, timed in its hooks:
  its ``on_test_begin`` and ``on_test_end``, and what its ``on_epoch_end`` takes more (the
  validation run's staged rows and file), medians;
* 8-epoch fit: a new model's ``fit`` of 8 epochs end to end (with its tracing);
* sweep: 10 new models, each ``fit`` for one epoch, end to end.

The first fit in a fresh process (the user's first ``fit`` after starting Python: every graph
traced for the first time) is measured in a process of its own per configuration, once per round.

    python bench/fit_cost.py [--backend tensorflow|jax|torch|all] [--model mlp|cnn] [--spe 1 --spe 8]
        [--rounds 3] [--epochs 4] [--batchstats "samples=0"]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import backend_cost

VALIDATION_ROWS = 300
SHORT_EPOCHS, SHORT_ROWS = 24, 2 * backend_cost.BATCH  # the evaluation column's epochs of 2 steps
SWEEP = 10


def _fit_time(model, x, y, callbacks, epochs, **kw):
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=backend_cost.BATCH, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks, **kw)
    return time.perf_counter() - t0


def _epochs(model, x, y, callbacks, epochs, **kw):
    timer = backend_cost.epoch_timer()
    _fit_time(model, x, y, callbacks + [timer], epochs + 1, **kw)
    return [b - a for a, b in zip(timer.ends, timer.ends[1:])]


def _hook_times(callbacks):
    """Times each call of the BatchStats hooks an evaluation adds to (its instances' methods
    wrapped): {hook: [seconds]}, appended to as they run."""
    times = {}
    for cb in callbacks:
        if type(cb).__name__ != "BatchStats":
            continue
        for hook in ("on_test_begin", "on_test_end", "on_epoch_end"):
            def timed(*args, _run=getattr(cb, hook), _hook=hook, **kwargs):
                t0 = time.perf_counter()
                try:
                    return _run(*args, **kwargs)
                finally:
                    times.setdefault(_hook, []).append(time.perf_counter() - t0)

            setattr(cb, hook, timed)
    return times


def _own_evaluation_time(without, with_validation):
    """BatchStats' own time per evaluation: in its test hooks, and what its epoch end takes more
    with an evaluation (the validation stage's rows and file)."""
    med = statistics.median
    if not with_validation:
        return []
    return [med(with_validation["on_test_begin"]) + med(with_validation["on_test_end"])
            + med(with_validation["on_epoch_end"]) - med(without["on_epoch_end"])]


def measure(backend, kind, spe, rounds, epochs, batchstats):
    """{configuration: {measure: [seconds]}} in this process (KERAS_BACKEND set)."""
    from anomalies import digits

    x, y = digits()
    val = dict(validation_data=(x[:VALIDATION_ROWS], y[:VALIDATION_ROWS]))
    made = backend_cost.configs(backend, batchstats)
    made.pop(backend_cost.TENSORBOARD, None)
    measures = ("first", "epoch", "val_epoch", "short", "short_val", "own_eval", "fit8", "sweep")
    out = {name: {m: [] for m in measures} for name in made}
    with tempfile.TemporaryDirectory() as tmp:
        dirs = iter(range(10**6))

        def callbacks(name):
            return made[name](os.path.join(tmp, str(next(dirs))))

        for name in made:  # the process' one-time costs (the first fit column says what they are)
            _fit_time(backend_cost.build(kind, spe), x, y, callbacks(name), 1)
        for r in range(rounds):
            for name in (list(made) if r % 2 else list(made)[::-1]):
                got = out[name]
                cbs = callbacks(name)
                model = backend_cost.build(kind, spe)
                got["first"].append(_fit_time(model, x, y, cbs, 1))
                got["epoch"] += _epochs(model, x, y, cbs, epochs)
                got["val_epoch"] += _epochs(model, x, y, cbs, epochs, **val)
                short = (x[:SHORT_ROWS], y[:SHORT_ROWS])
                after = slice(SHORT_ROWS, SHORT_ROWS + backend_cost.BATCH)
                one_batch = (x[after], y[after])
                times = _hook_times(cbs)
                got["short"] += _epochs(model, *short, cbs, SHORT_EPOCHS)
                without = dict(times)
                times.clear()
                got["short_val"] += _epochs(model, *short, cbs, SHORT_EPOCHS, validation_data=one_batch)
                got["own_eval"] += _own_evaluation_time(without, times)
                got["fit8"].append(_fit_time(backend_cost.build(kind, spe), x, y, callbacks(name), 8))
                t0 = time.perf_counter()
                for _ in range(SWEEP):
                    _fit_time(backend_cost.build(kind, spe), x, y, callbacks(name), 1)
                got["sweep"].append(time.perf_counter() - t0)
    return out


def fresh_first_fit(backend, kind, spe, name, batchstats):
    """Seconds of the first ``fit`` of one epoch in this new process."""
    from anomalies import digits

    x, y = digits()
    made = backend_cost.configs(backend, batchstats)
    with tempfile.TemporaryDirectory() as tmp:
        return _fit_time(backend_cost.build(kind, spe), x, y, made[name](tmp), 1)


def _child(backend, args):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run([sys.executable, __file__, "--child", backend] + args, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit("fit_cost child failed (exit %d):\n%s" % (done.returncode, done.stderr[-3000:]))
    return json.loads(done.stdout.splitlines()[-1])


def report(backends, models, spes, rounds, epochs, batchstats):
    print("digits, batch %d, %d rounds, %d timed epochs a fit, CPU cores: %d, load average %s" % (
        backend_cost.BATCH, rounds, epochs, os.cpu_count(), " ".join("%.1f" % v for v in os.getloadavg())))
    print()
    print("| backend | model | k | configuration | first fit, fresh process (s) | first fit (s) | warm epoch (ms) "
          "| epoch with validation (ms) | evaluation of 1 batch (ms) | 8-epoch fit (s) | sweep of %d fits (s) |" % SWEEP)
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    extra = [a for o in batchstats for a in ("--batchstats", o)]
    for kind in models:
        for backend in backends:
            for spe in spes:
                if backend == "torch" and spe > 1:  # Keras refuses it on PyTorch
                    print("| %s | %s | %d | (Keras runs PyTorch with steps_per_execution=1 only) |||||||" % (
                        backend, kind, spe), flush=True)
                    continue
                common = ["--model", kind, "--spe", str(spe)] + extra
                res = _child(backend, common + ["--rounds", str(rounds), "--epochs", str(epochs)])
                fresh = {name: [_child(backend, common + ["--fresh", name]) for _ in range(rounds)] for name in res}
                plain = res[backend_cost.PLAIN]
                med = statistics.median
                base = {m: med(v) for m, v in plain.items() if v}
                base["fresh"] = med(fresh[backend_cost.PLAIN])
                base["eval"] = base["short_val"] - base["short"]
                for name, got in res.items():
                    m = {k: med(v) for k, v in got.items() if v}
                    m["fresh"], m["eval"] = med(fresh[name]), m["short_val"] - m["short"]

                    def cell(key, scale=1.0, fmt="%.2f"):
                        if name == backend_cost.PLAIN:
                            return fmt % (scale * m[key])
                        return (fmt + " (%.2f×)") % (scale * m[key], m[key] / base[key])

                    evaluation = "%+.1f" % (1e3 * m["eval"])
                    if "own_eval" in m:
                        evaluation += " (own %.1f)" % (1e3 * m["own_eval"])
                    print("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                        backend, kind, spe, name, cell("fresh"), cell("first"), cell("epoch", 1e3, "%.0f"),
                        cell("val_epoch", 1e3, "%.0f"), evaluation, cell("fit8"), cell("sweep")), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", action="append", choices=backend_cost.BACKENDS + ("all",))
    parser.add_argument("--model", action="append", choices=backend_cost.MODELS)
    parser.add_argument("--spe", action="append", type=int, help="steps_per_execution (default 1 and 8)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batchstats", action="append", default=[], metavar="OPTIONS")
    parser.add_argument("--child", choices=backend_cost.BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--fresh", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spe = args.spe[0]
        if args.fresh:
            print(json.dumps(fresh_first_fit(args.child, args.model[0], spe, args.fresh, args.batchstats)))
        else:
            print(json.dumps(measure(args.child, args.model[0], spe, args.rounds, args.epochs, args.batchstats)))
        return
    backends = [b for b in backend_cost.BACKENDS if not args.backend or b in args.backend or "all" in args.backend]
    report(backends, args.model or ["mlp"], args.spe or [1, 8], args.rounds, args.epochs, args.batchstats)


if __name__ == "__main__":
    main()
