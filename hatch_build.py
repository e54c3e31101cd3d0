"""Hatchling build hook: builds the "Batches" tab frontend into tb_batch_plugin/static/.

Runs ``npm ci && npm run build`` in frontend/ for wheels and editable installs (``pip install -e .``),
so a fresh clone gets the bundle that TensorBoard loads (tb_batch_plugin/static/index.js). The
built files are not in git; pyproject.toml lists them as wheel artifacts.

Set TB_BATCH_SKIP_FRONTEND=1 to skip the build (e.g. a Python-only install, or when the bundle
is already built). Without npm the build fails with a message saying what to install.
"""

import os
import shutil
import subprocess
import sys

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SKIP_ENV = "TB_BATCH_SKIP_FRONTEND"


def _truthy(value):
    return (value or "").strip().lower() not in ("", "0", "false", "no", "off")


class FrontendBuildHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        if self.target_name != "wheel":  # sdists ship frontend/ sources, not the bundle
            return
        root = self.root
        frontend = os.path.join(root, "frontend")
        bundle = os.path.join(root, "tb_batch_plugin", "static", "index.js")
        if _truthy(os.environ.get(SKIP_ENV)):
            self._say("%s is set: not building the frontend%s" % (
                SKIP_ENV, "" if os.path.exists(bundle) else " (tb_batch_plugin/static/ has no bundle: the tab will not load)"))
            return
        if not os.path.isfile(os.path.join(frontend, "package.json")):
            if os.path.exists(bundle):  # e.g. building a wheel from an sdist that has the bundle
                return
            raise RuntimeError("tb-batch: frontend/package.json not found and no prebuilt bundle in tb_batch_plugin/static/")
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "tb-batch: building the TensorBoard tab needs Node.js >= 20.19 with npm on PATH "
                "(e.g. `apt-get install nodejs npm`), which was not found. "
                "Set %s=1 to install without the frontend (the Batches tab will then not load)." % SKIP_ENV
            )
        for args in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", "build"]):
            self._say("running `%s` in frontend/" % " ".join(["npm"] + args[1:]))
            proc = subprocess.run(args, cwd=frontend)
            if proc.returncode != 0:
                raise RuntimeError(
                    "tb-batch: `%s` failed in frontend/ (exit %d); see its output above. "
                    "Set %s=1 to install without the frontend." % (" ".join(["npm"] + args[1:]), proc.returncode, SKIP_ENV)
                )
        if not os.path.isfile(bundle):
            raise RuntimeError("tb-batch: the frontend build did not produce tb_batch_plugin/static/index.js")

    def _say(self, msg):
        print("[tb-batch build] %s" % msg, file=sys.stderr, flush=True)
