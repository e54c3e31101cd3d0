"""An S3 server on 127.0.0.1 for remote logdirs: moto's server application on an ephemeral port,
in a thread of this process, counting the requests it answers by who made them (tb_batch's
reader marks its User-Agent, see read/remote.py) and what they are (LIST, GET, HEAD, PUT, ...);
and what a process needs to run TensorBoard over it without TensorFlow."""

import collections
import os
import threading

import boto3

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_DEFAULT_REGION": "us-east-1"}

# A sitecustomize that hides TensorFlow: TensorBoard then reads s3:// with its stand-in gfile
# (TensorFlow 2.21 has no s3://). Put its directory first on PYTHONPATH.
NO_TENSORFLOW = 'import sys\nsys.modules["tensorflow"] = None  # TensorBoard without TensorFlow\n'


class S3Server:
    """``endpoint`` (an http URL), ``client`` (boto3, for the test's own writes), ``counts()``
    (a Counter of (who, kind) since the last ``reset_counts()``), ``close()``."""

    def __init__(self):
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app = DomainDispatcherApplication(create_backend_app)
        self._counts = collections.Counter()
        self._lock = threading.Lock()

        def counting(environ, start_response):
            key = (_who(environ), _kind(environ))
            with self._lock:
                self._counts[key] += 1
            return app(environ, start_response)

        class QuietHandler(MotoRequestHandler):
            def log_request(self, *args):  # one line per request on stderr otherwise
                pass

        self._server = make_server("127.0.0.1", 0, counting, threaded=True, request_handler=QuietHandler)
        self.endpoint = "http://127.0.0.1:%d" % self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                                   aws_access_key_id="testing", aws_secret_access_key="testing")

    def env(self):
        """Environment variables for a process that reads this server as TensorBoard does."""
        return dict(CREDENTIALS, S3_ENDPOINT=self.endpoint)

    def counts(self):
        with self._lock:
            return collections.Counter(self._counts)

    def reset_counts(self):
        with self._lock:
            self._counts.clear()

    def put(self, bucket, key, data):
        self.client.put_object(Bucket=bucket, Key=key, Body=data)

    def close(self):
        self._server.shutdown()
        self._thread.join(10)


def _who(environ):
    return "tb_batch" if "tb-batch" in environ.get("HTTP_USER_AGENT", "") else "other"


def _kind(environ):
    """LIST for a GET of a bucket (path-style: /bucket?...), else the method."""
    method = environ["REQUEST_METHOD"]
    if method == "GET" and environ.get("PATH_INFO", "/").strip("/").count("/") == 0:
        return "LIST"
    return method


def hide_tensorflow(directory):
    """Writes the sitecustomize that hides TensorFlow into `directory`; returns a PYTHONPATH
    that puts it first."""
    with open(os.path.join(directory, "sitecustomize.py"), "w") as f:
        f.write(NO_TENSORFLOW)
    return os.pathsep.join(p for p in [str(directory), os.environ.get("PYTHONPATH", "")] if p)
