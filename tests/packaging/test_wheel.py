"""The wheel as a user gets it: built from this tree, installed with pip into a fresh venv with no
Node.js on PATH, found by a real `tensorboard` through its entry point, serving the built tab.

The fresh venv holds only the wheel. Its dependencies (TensorBoard, numpy, protobuf, ...) are the
ones already installed in the test interpreter's environment, reached through a directory of links
that leaves out this package and TensorFlow/Keras: the install is offline and quick, and the venv
is also one without TensorFlow, as a user of the tab alone has it. Building the wheel fetches the
build backend (hatchling) like any `pip wheel`; the tab's bundle is built once by the editable
install (`make test`) and taken as is when present.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
import venv
import zipfile

import numpy as np
import pytest

from helpers import fast_writer
from helpers import event_files

BUNDLE = os.path.join(event_files.REPO, "tb_batch_plugin", "static", "index.js")
# Installed next to this package in the test environment, but not in the fresh venv.
LEFT_OUT = re.compile(r"^(_?tb_batch_plugin|__editable__|tensorflow|keras|tf_keras)", re.IGNORECASE)
N = 500


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    env = dict(os.environ)
    if os.path.isfile(BUNDLE):
        env["TB_BATCH_SKIP_FRONTEND"] = "1"  # hatch_build.py: take the built bundle as is
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), event_files.REPO],
                          env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (path,) = out.glob("tb_batch_plugin-*.whl")
    return str(path)


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory, wheel):
    root = tmp_path_factory.mktemp("wheel-venv")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = str(env_dir / "bin" / "python")
    deps = root / "deps"
    deps.mkdir()
    site = sysconfig.get_paths()["purelib"]
    for name in os.listdir(site):
        if not LEFT_OUT.match(name) and not name.endswith(".pth"):
            os.symlink(os.path.join(site, name), deps / name)
    venv_site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(venv_site, "test_deps.pth"), "w") as f:
        f.write(str(deps) + "\n")
    env = {"PATH": str(env_dir / "bin"), "HOME": str(root), "LANG": "C.UTF-8",
           "CUDA_VISIBLE_DEVICES": "", "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    assert shutil.which("node", path=env["PATH"]) is None and shutil.which("npm", path=env["PATH"]) is None
    pip = [sys.executable, "-m", "pip", "--python", python]
    proc = subprocess.run(pip + ["install", "--no-deps", wheel], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run(pip + ["check"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # the wheel's declared ranges hold
    return {"python": python, "env": env, "site": venv_site, "root": root}


def run_python(v, code):
    return subprocess.run([v["python"], "-c", code], env=v["env"], cwd=str(v["root"]),
                          capture_output=True, text=True, timeout=120)


def test_wheel_holds_the_built_tab_and_declares_no_tensorflow(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        bundle = z.read("tb_batch_plugin/static/index.js")
        (meta,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        requires = [ln for ln in z.read(meta).decode().splitlines() if ln.startswith("Requires-Dist:")]
        (eps,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        entry_points = z.read(eps).decode()
    with open(BUNDLE, "rb") as f:
        assert bundle == f.read()
    assert b"export" in bundle and len(bundle) > 10_000
    assert "tb_batch_plugin/plugin_loader.py" in names and not any(n.startswith(("tests/", "frontend/")) for n in names)
    assert "tb_batch = tb_batch_plugin.plugin_loader:BatchesLoader" in entry_points
    core = [r for r in requires if "extra ==" not in r]
    assert any(r.startswith("Requires-Dist: tensorboard") for r in core)
    assert not [r for r in core if "tensorflow" in r or "keras" in r], core


def test_installed_package_is_the_wheel_and_the_writer_asks_for_tensorflow(fresh_venv):
    out = run_python(fresh_venv, "import sys, tb_batch_plugin as t; print(t.__file__); "
                                 "print('tensorflow' in sys.modules, callable(t.load))")
    assert out.returncode == 0, out.stderr
    path, flags = out.stdout.split()[0], out.stdout.split()[1:]
    assert path.startswith(fresh_venv["site"]) and flags == ["False", "True"]
    for attr in ("BatchStats", "summary.scalar('x', 1.0, step=0)"):  # summary: through tf.summary
        out = run_python(fresh_venv, "import tb_batch_plugin as t; t.%s" % attr)
        assert out.returncode == 1 and "ImportError" in out.stderr, out.stderr
        assert "TensorFlow is not installed" in out.stderr and "pip install 'tensorflow>=2.16'" in out.stderr


def test_summary_writes_with_its_own_writer_without_tensorflow(fresh_venv, tmp_path):
    code = ("import numpy as np, tb_batch_plugin as t\n"
            "with t.summary.create_file_writer(%r).as_default(step=4):\n"
            "    t.summary.scalar('loss', 0.5)\n"
            "    t.summary.distribution('per_sample_loss', np.arange(8.0))\n"
            "    t.summary.samples(np.arange(8.0), np.eye(8), num_samples=2)\n"
            "data = t.load(%r)\n"
            "print(data.tags('.'), data.scalars('.', 'loss').values, data.samples('.').field('loss'))"
            % (str(tmp_path), str(tmp_path)))
    out = run_python(fresh_venv, code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[0] == ("{'loss': 'scalar', 'per_sample_loss': 'distribution'} [0.5] [[7. 6.]]")


def _start_tensorboard(v, logdir):
    log = open(os.path.join(str(v["root"]), "tensorboard.log"), "w+")
    proc = subprocess.Popen([v["python"], "-m", "tensorboard.main", "--logdir", logdir,
                             "--host", "127.0.0.1", "--port", "0"],
                            env=v["env"], cwd=str(v["root"]), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        log.seek(0)
        m = re.search(r"TensorBoard \S+ at (http://127\.0\.0\.1:\d+)/", log.read())
        if m:
            return proc, m.group(1)
        time.sleep(0.2)
    log.seek(0)
    proc.kill()
    proc.wait()
    raise AssertionError("tensorboard did not start:\n" + log.read()[-3000:])


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_tensorboard_serves_the_tab_from_the_wheel(fresh_venv, wheel, tmp_path):
    loss = np.linspace(1.0, 0.1, N).astype(np.float32)
    fast_writer.write_scalars(fast_writer.event_path(str(tmp_path / "logs" / "train")), "loss", np.arange(N), loss)
    proc, url = _start_tensorboard(fresh_venv, str(tmp_path / "logs"))
    try:
        status, body = _get(url + "/data/plugins_listing")
        assert status == 200 and "tb_batch" in json.loads(body)
        status, js = _get(url + "/data/plugin/tb_batch/static/index.js")
        with zipfile.ZipFile(wheel) as z:
            assert status == 200 and js == z.read("tb_batch_plugin/static/index.js")
        deadline = time.time() + 30
        while True:  # the first request may come before the index has read the file
            status, body = _get(url + "/data/plugin/tb_batch/runs")
            assert status == 200, body[:300]
            runs = {r["run"]: r for r in json.loads(body)["runs"]}
            if "train" in runs or time.time() > deadline:
                break
            time.sleep(0.5)
        tags = {t["tag"]: t for t in runs["train"]["tags"]}
        assert tags["loss"]["kind"] == "scalar" and tags["loss"]["count"] == N
    finally:
        proc.terminate()
        proc.wait(20)
