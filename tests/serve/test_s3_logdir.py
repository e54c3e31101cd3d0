"""A real `tensorboard` process over an S3 logdir (moto's S3 server on 127.0.0.1, ephemeral port),
run as where TensorFlow is not installed: TensorBoard 2.21 reads s3:// only then, through its
stand-in gfile, boto3 and S3_ENDPOINT. Every step and a spike exact; a new file and an appended
(rewritten, longer) object seen after a reload; an object replaced by other content of the same
length detected; the requests of an idle reload counted (one listing, nothing read); a bucket that
cannot be listed is a problem, and what was read stays. The tests
run in file order on one server."""

import json
import struct
import time

import numpy as np
import pytest

pytest.importorskip("moto.moto_server.werkzeug_app", reason="moto[server] (the test extra) is the S3 server")

from helpers import event_files, fast_writer  # noqa: E402
from helpers.s3_server import S3Server, hide_tensorflow  # noqa: E402

BUCKET = "bucket"
TRAIN = "logs/train/events.out.tfevents.1.host"
MORE = "logs/train/events.out.tfevents.2.host"
REPLACED = "logs/replaced/events.out.tfevents.1.host"
N = 20_000
SPIKE = 12_345
RUNS = "/data/plugin/tb_batch/runs"


def _json(resp):
    status, body = resp
    assert status == 200, body[:300]
    return json.loads(body)


def _events(directory, name, steps, values):
    """The bytes of an event file of float32 `loss` scalars (the project's fast writer)."""
    path = directory / name
    fast_writer.write_scalars(str(path), "loss", steps, values)
    return path.read_bytes()


def _with_value(path, step, old, new):
    """The bytes of the event file at `path` with the scalar of `step` changed from `old` to
    `new` (its record's CRC made right): the same length, first and last bytes."""
    data = bytearray(path.read_bytes())
    offset, length = event_files.record_spans(str(path))[1 + step]  # after the file_version record
    start = offset + 12
    record = bytes(data[start:start + length])
    at = record.rindex(struct.pack("<f", old))
    record = record[:at] + struct.pack("<f", new) + record[at + 4:]
    data[start:start + length] = record
    data[start + length:start + length + 4] = struct.pack("<I", fast_writer.masked_crc32c_rows(
        np.frombuffer(record, np.uint8)[None, :])[0])
    return bytes(data)


def _count(tb, run):
    runs = _json(tb.get(RUNS))
    tags = {r["run"]: r["tags"] for r in runs["runs"]}.get(run) or [{}]
    return tags[0].get("count")


def _wait_count(tb, run, count, timeout=60):
    deadline = time.monotonic() + timeout
    while _count(tb, run) != count:
        assert time.monotonic() < deadline, "%s never reached %d points (%r)" % (run, count, _count(tb, run))
        time.sleep(0.2)


@pytest.fixture(scope="module")
def s3():
    server = S3Server()
    server.client.create_bucket(Bucket=BUCKET)
    yield server
    server.close()


@pytest.fixture(scope="module")
def values():
    rng = np.random.default_rng(24)
    v = (1 + 0.01 * rng.normal(size=N + 2000)).astype(np.float32)
    v[SPIKE] = 50.0
    return v


@pytest.fixture(scope="module")
def tb(s3, values, tmp_path_factory):
    d = tmp_path_factory.mktemp("s3")
    s3.put(BUCKET, TRAIN, _events(d, "train", np.arange(N), values[:N]))
    s3.put(BUCKET, REPLACED, _events(d, "replaced", np.arange(200), np.arange(200, dtype=np.float32)))
    with pytest.MonkeyPatch.context() as env:
        for k, v in s3.env().items():
            env.setenv(k, v)
        env.setenv("PYTHONPATH", hide_tensorflow(d))
        server = event_files.TensorBoardProcess("s3://%s/logs" % BUCKET, load_fast=False)
    yield server, d
    server.close()


def test_every_step_and_the_spike_come_back_exact(tb, values):
    tb, _ = tb
    _wait_count(tb, "train", N)
    s = _json(tb.get("/data/plugin/tb_batch/series?run=train&tag=loss&width=500"))
    assert s["count"] == N
    assert s["values"][s["steps"].index(SPIKE)] == 50.0
    assert min(s["values"]) == float(values[:N].min())
    s = _json(tb.get("/data/plugin/tb_batch/series?run=train&tag=loss&width=2000&start=%d&end=%d"
                     % (SPIKE - 500, SPIKE + 499)))
    assert s["steps"] == list(range(SPIKE - 500, SPIKE + 500))
    assert s["values"] == values[SPIKE - 500:SPIKE + 500].astype(np.float64).tolist()
    assert _json(tb.get(RUNS))["problems"] == []


def test_an_idle_reload_lists_once_and_reads_nothing(tb, s3):
    tb, _ = tb
    time.sleep(1.5)  # a reload under way ends
    s3.reset_counts()
    time.sleep(6)
    ours = {kind: n for (who, kind), n in s3.counts().items() if who == "tb_batch"}
    # One reload a second at most (plus its own time): a listing each, no GET, no HEAD.
    assert set(ours) == {"LIST"} and 1 <= ours["LIST"] <= 7, ours


def test_a_new_file_and_an_appended_object_are_read_after_a_reload(tb, s3, values):
    tb, d = tb
    s3.put(BUCKET, MORE, _events(d, "more1", np.arange(N, N + 1000), values[N:N + 1000]))
    _wait_count(tb, "train", N + 1000)
    # Objects are written whole: the object grows by being put again, longer.
    fast_writer.write_scalars(str(d / "more1"), "loss", np.arange(N + 1000, N + 2000), values[N + 1000:])
    s3.put(BUCKET, MORE, (d / "more1").read_bytes())
    _wait_count(tb, "train", N + 2000)
    s = _json(tb.get("/data/plugin/tb_batch/series?run=train&tag=loss&width=5000&start=%d" % N))
    assert s["steps"] == list(range(N, N + 2000))
    assert s["values"] == values[N:].astype(np.float64).tolist()


def test_an_object_replaced_by_other_content_of_the_same_length_is_read_again(tb, s3):
    tb, d = tb
    step = "/data/plugin/tb_batch/step?run=replaced&step=100"
    assert _json(tb.get(step))["scalars"] == {"loss": 100.0}
    other = np.arange(200, dtype=np.float32)
    other[100] = -7.0
    replacement = _with_value(d / "replaced", 100, 100.0, -7.0)
    original = s3.client.get_object(Bucket=BUCKET, Key=REPLACED)["Body"].read()
    # Only the ETag tells: same length, same first and last bytes.
    assert len(replacement) == len(original) and replacement != original
    assert replacement[:4096] == original[:4096] and replacement[-4096:] == original[-4096:]
    s3.put(BUCKET, REPLACED, replacement)
    deadline = time.monotonic() + 30
    while _json(tb.get(step))["scalars"] != {"loss": -7.0}:
        assert time.monotonic() < deadline, "the replaced object was never read again"
        time.sleep(0.2)
    s = _json(tb.get("/data/plugin/tb_batch/series?run=replaced&tag=loss&width=1000"))
    assert s["steps"] == list(range(200)) and s["values"] == other.astype(np.float64).tolist()


def test_a_logdir_that_cannot_be_listed_is_a_problem_and_what_was_read_stays(tb, s3, values):
    tb, _ = tb
    before = {r["run"]: r["tags"][0]["count"] for r in _json(tb.get(RUNS))["runs"]}
    assert before == {"train": N + 2000, "replaced": 200}
    objects = {key: s3.client.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in (TRAIN, MORE, REPLACED)}
    for key in objects:
        s3.client.delete_object(Bucket=BUCKET, Key=key)
    s3.client.delete_bucket(Bucket=BUCKET)
    runs = tb.wait_for(RUNS, lambda status, body: status == 200 and json.loads(body)["problems"], timeout=30)
    runs = json.loads(runs[1])
    [problem] = runs["problems"]
    assert problem["reason"] == "unreadable_directory" and "NoSuchBucket" in problem["error"]
    assert {r["run"]: r["tags"][0]["count"] for r in runs["runs"]} == before
    s3.client.create_bucket(Bucket=BUCKET)
    for key, data in objects.items():
        s3.put(BUCKET, key, data)
    tb.wait_for(RUNS, lambda status, body: status == 200 and json.loads(body)["problems"] == [], timeout=30)
    _wait_count(tb, "train", N + 2000)
    s = _json(tb.get("/data/plugin/tb_batch/series?run=train&tag=loss&width=5000&start=%d" % N))
    assert s["values"] == values[N:].astype(np.float64).tolist()
