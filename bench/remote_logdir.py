"""The remote phase of bench/serve.py: a logdir on S3 (moto's S3 server on 127.0.0.1, in this
process, counting requests), read where TensorFlow is not installed (TensorBoard reads s3:// only
then: its stand-in gfile, boto3, S3_ENDPOINT).

* the index alone (`LogdirIndex` in a process of its own): requests, wall time and CPU of the
  first reload, of an idle reload (nothing changed; the median of 5), and of a reload after one
  object grew (put again, longer) and one run appeared;
* a real `tensorboard --load_fast=false` with the plugin: the time until every run is listed,
  then 30 s idle: requests by tb_batch's reader (its User-Agent) and by TensorBoard's own
  loading, and the server's CPU seconds; the time from putting a new object until `runs` shows
  its points (median of 3); then TensorBoard without the plugin: its requests and CPU seconds over
  30 s after 40 s of loading."""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from helpers import event_files, fast_writer
from helpers.s3_server import S3Server, hide_tensorflow

BUCKET = "bench"
URL = "s3://%s/logs" % BUCKET

_INDEX = r"""
import json, sys, time
from tb_batch_plugin.read import LogdirIndex
index = LogdirIndex(sys.argv[1])
for line in sys.stdin:
    wall, cpu = time.perf_counter(), time.process_time()
    index.reload()
    runs = index.snapshot()._runs
    print(json.dumps({"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu, "runs": len(runs)}),
          flush=True)
"""


_ALONE = r"""
import sys
from tensorboard import default, program
tb = program.TensorBoard(plugins=[p for p in default.get_plugins() if "tb_batch" not in getattr(p, "__module__", "")])
tb.configure(argv=[None, "--logdir", sys.argv[1], "--host", "127.0.0.1", "--port", "0", "--load_fast", "false",
                   "--reload_interval", "1"])
print(tb.launch(), flush=True)
sys.stdin.read()
"""


def _event_bytes(tmp, steps):
    """An event file of `steps` steps; a longer one has the shorter one's bytes first (the same
    file appended to, as a writer does)."""
    path = os.path.join(tmp, "events")
    have = len(event_files.record_spans(path)) - 1 if os.path.exists(path) else 0
    if steps > have:
        more = np.arange(have, steps)
        fast_writer.write_scalars(path, "loss", more, np.cos(more / 50).astype(np.float32))
    data = open(path, "rb").read()
    offset, length = event_files.record_spans(path)[steps]
    return data[:offset + 16 + length]


def _key(run):
    return "logs/run%04d/events.out.tfevents.1.bench" % run


def _env(s3, tmp):
    return dict(os.environ, **s3.env(), PYTHONPATH=hide_tensorflow(tmp))


def _cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _index_phase(s3, tmp, code, runs, steps):
    env = _env(s3, tmp)
    env["PYTHONPATH"] = os.pathsep.join([code, env["PYTHONPATH"]])
    proc = subprocess.Popen([sys.executable, "-c", _INDEX, URL], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=env, text=True, cwd=tmp)

    def reload():
        s3.reset_counts()
        proc.stdin.write("\n")
        proc.stdin.flush()
        out = json.loads(proc.stdout.readline())
        out["requests"] = sum(s3.counts().values())
        return out

    try:
        first = reload()
        idle = [reload() for _ in range(5)]
        s3.put(BUCKET, _key(0), _event_bytes(tmp, steps + 100))  # grown by 100 steps
        s3.put(BUCKET, _key(runs), _event_bytes(tmp, steps))  # a new run
        changed = reload()
    finally:
        proc.stdin.close()
        proc.wait(60)
        s3.client.delete_object(Bucket=BUCKET, Key=_key(runs))
        s3.put(BUCKET, _key(0), _event_bytes(tmp, steps))
    med = lambda k: statistics.median(r[k] for r in idle)  # noqa: E731
    return {"first": first, "idle": {k: med(k) for k in ("wall", "cpu", "requests")}, "changed": changed}


def _server_phase(s3, tmp, code, runs, steps, idle_s=30):
    old = os.environ.get("PYTHONPATH")
    os.environ.update(_env(s3, tmp))
    try:
        t = time.perf_counter()
        tb = event_files.TensorBoardProcess(URL, load_fast=False, code=code)
    finally:
        for k in s3.env():
            os.environ.pop(k, None)
        os.environ.pop("PYTHONPATH", None) if old is None else os.environ.update(PYTHONPATH=old)

    def counts():
        status, body = tb.get("/data/plugin/tb_batch/runs")
        listed = json.loads(body) if status == 200 else {}
        return {r["run"]: (r["tags"] or [{}])[0].get("count") for r in listed.get("runs", [])}

    def wait(predicate, timeout=600):
        deadline = time.perf_counter() + timeout
        while not predicate(counts()):
            if time.perf_counter() > deadline:
                raise RuntimeError("timed out")
            time.sleep(0.1)

    try:
        wait(lambda c: len(c) == runs and all(v == steps for v in c.values()))
        listed = time.perf_counter() - t
        time.sleep(5)
        s3.reset_counts()
        cpu = _cpu_seconds(tb.proc.pid)
        time.sleep(idle_s)
        cpu = _cpu_seconds(tb.proc.pid) - cpu
        by_who = {}
        for (who, _kind), n in s3.counts().items():
            by_who[who] = by_who.get(who, 0) + n
        latencies = []
        for k in range(3):
            n = steps + 100 * (k + 1)
            t = time.perf_counter()
            s3.put(BUCKET, _key(1), _event_bytes(tmp, n))
            wait(lambda c: c.get("run0001") == n, timeout=120)
            latencies.append(time.perf_counter() - t)
    finally:
        tb.close()
        s3.put(BUCKET, _key(1), _event_bytes(tmp, steps))
    return {"listed_s": listed, "idle_s": idle_s, "idle_cpu_s": cpu, "ours": by_who.get("tb_batch", 0),
            "other": by_who.get("other", 0), "new_data_s": statistics.median(latencies)}


def _tensorboard_alone(s3, tmp, warmup_s=40, idle_s=30):
    """TensorBoard without the plugin on the same logdir: its own requests and CPU seconds over
    `idle_s`, after `warmup_s` (its loading never ends on S3: it lists and reads every run on
    each reload)."""
    proc = subprocess.Popen([sys.executable, "-c", _ALONE, URL], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            env=_env(s3, tmp), text=True, cwd=tmp)
    try:
        proc.stdout.readline()
        time.sleep(warmup_s)
        s3.reset_counts()
        cpu = _cpu_seconds(proc.pid)
        time.sleep(idle_s)
        return {"idle_s": idle_s, "idle_cpu_s": _cpu_seconds(proc.pid) - cpu, "other": sum(s3.counts().values())}
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(30)


def phase_remote(code, runs=300, steps=1000):
    """Both parts for the code in `code` (a directory holding tb_batch_plugin)."""
    tmp = tempfile.mkdtemp(prefix="tbb-s3-")
    s3 = S3Server()
    try:
        s3.client.create_bucket(Bucket=BUCKET)
        data = _event_bytes(tmp, steps)
        for run in range(runs):
            s3.put(BUCKET, _key(run), data)
        return {"runs": runs, "steps": steps, "index": _index_phase(s3, tmp, code, runs, steps),
                "server": _server_phase(s3, tmp, code, runs, steps), "alone": _tensorboard_alone(s3, tmp)}
    finally:
        s3.close()


def report(results):
    """Markdown tables of phase_remote's results per code version ({name: result})."""
    print("| code | reload (S3, %d runs x %d steps) | requests | wall | CPU |" % (
        next(iter(results.values()))["runs"], next(iter(results.values()))["steps"]))
    print("|---|---|---|---|---|")
    for name, r in results.items():
        for label, key in (("first", "first"), ("idle (median of 5)", "idle"),
                           ("one object grown, one run new", "changed")):
            x = r["index"][key]
            print("| %s | %s | %d | %.2f s | %.2f s |" % (name, label, x["requests"], x["wall"], x["cpu"]))
    print()
    print("| code | every run listed | idle 30 s: tb_batch requests | TensorBoard's own | server CPU | "
          "new data shown after |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        s = r["server"]
        print("| %s | %.1f s | %d | %d | %.1f s | %.1f s |" % (
            name, s["listed_s"], s["ours"], s["other"], s["idle_cpu_s"], s["new_data_s"]))
        a = r["alone"]
        print("| TensorBoard alone (%s's run) | | | %d | %.1f s | |" % (name, a["other"], a["idle_cpu_s"]))
    print()
