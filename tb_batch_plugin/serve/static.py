"""The `static/<name>` route: the built frontend (tb_batch_plugin/static/), looked up in a table
of the files present at start-up, so that no path is ever built from a request; a placeholder
module when the frontend was not built. docs/http_api.md (Static files).
"""

import mimetypes
import os

from tensorboard.backend import http_util

from tb_batch_plugin.serve import http
from tb_batch_plugin.serve.http import NotFound

STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")

# Served as static/index.js when the frontend has not been built.
_MISSING_FRONTEND_JS = b"""export async function render() {
  const p = document.createElement('p');
  p.style.fontFamily = 'sans-serif';
  p.textContent = 'tb-batch: the frontend was not built (tb_batch_plugin/static is missing). '
    + 'Run `make demo` or `pip install -e .` with npm available.';
  document.body.appendChild(p);
}
"""


class Static:
    """The `static/*` handler over the files of STATIC_DIR at start-up."""

    def __init__(self, directory=STATIC_DIR):
        self._files = {}  # name under the directory, "/"-separated -> full path
        if os.path.isdir(directory):
            for dirpath, _dirs, files in os.walk(directory):
                for f in files:
                    full = os.path.join(dirpath, f)
                    rel = os.path.relpath(full, directory).replace(os.sep, "/")
                    self._files[rel] = full

    @http.route
    def static(self, request):
        prefix = "/static/"
        path = request.path
        i = path.find(prefix)
        name = path[i + len(prefix):] if i >= 0 else ""
        full = self._files.get(name)
        if full is None:
            if name == "index.js":
                return http_util.Respond(request, _MISSING_FRONTEND_JS, "text/javascript")
            raise NotFound("no static file %r" % name)
        if name.endswith((".js", ".mjs")):
            mime = "text/javascript"
        else:
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
        try:
            with open(full, "rb") as f:
                content = f.read()
        except OSError:
            raise NotFound("no static file %r" % name)
        return http_util.Respond(request, content, mime)
