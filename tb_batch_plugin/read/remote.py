"""Logdirs given as URLs, read through the file system TensorBoard itself uses for the URL:
TensorFlow's gfile where TensorFlow is installed, else TensorBoard's stand-in (S3 with boto3 and
S3_ENDPOINT, fsspec's protocols), with only the operations each offers.

A reload lists the logdir once, sizes and versions (ETag, generation or modification time)
included: one request per 1,000 objects on S3, not a listing per directory plus a stat per file;
an unchanged object is not read again. Design: docs/backend.md ("Remote logdirs")."""

import collections
import threading

Listed = collections.namedtuple("Listed", "size version error", defaults=(None, None))
Listed.__doc__ = """An event file as a listing gave it: its size, what changes when its content
does (an ETag, a generation or a modification time; None when the listing has none), and the
error that kept it from being listed (size None then)."""

# Where TensorFlow is absent, the requests of this reader say so in their User-Agent (S3).
USER_AGENT = "tb-batch"


def gfile():
    from tensorboard.compat import tf
    return tf.io.gfile


def _stand_in_filesystem(url):
    """The file system of TensorBoard's stand-in gfile for `url`, or None under TensorFlow."""
    if hasattr(gfile(), "get_registered_schemes"):
        return None
    from tensorboard.compat.tensorflow_stub.io.gfile import get_filesystem

    return get_filesystem(url)


def scheme_problem(logdir):
    """The logdir problem of a URL that the file system TensorBoard uses here cannot read (its
    scheme, and what to install), else None: TensorFlow's gfile says which schemes it has;
    TensorBoard's stand-in (no TensorFlow) finds a file system for the URL or says why not."""
    scheme = logdir.split("://", 1)[0]
    registered = getattr(gfile(), "get_registered_schemes", None)
    try:
        if registered is None:  # TensorBoard's stand-in: S3 (boto3) and fsspec's protocols
            _stand_in_filesystem(logdir)
            return None
        schemes = [s for s in registered() if s]
    except (ImportError, ValueError) as e:
        error = "no file system for %s:// where TensorBoard runs: %s" % (scheme, e)
    else:
        if scheme in schemes:
            return None
        error = ("TensorFlow's file systems read %s, not %s://: for s3://, run TensorBoard where "
                 "TensorFlow is not installed (TensorBoard reads S3 itself, with boto3), or install "
                 "the package that registers %s:// with TensorFlow"
                 % (", ".join(s + "://" for s in sorted(schemes)), scheme, scheme))
    return {"path": ".", "reason": "unsupported_scheme", "error": error}


class ListingError(Exception):
    """The logdir could not be listed (a missing bucket, a refused connection, credentials):
    ``problem`` says why. Not an empty logdir: what was read is kept."""

    def __init__(self, problem):
        super().__init__(problem["error"])
        self.problem = problem


def discover(logdir):
    """([(run name, directory URL, {event file name: Listed})], [logdir problems]) from one
    listing of the logdir; raises ListingError when it cannot be listed."""
    problem = scheme_problem(logdir)
    if problem:
        return [], [problem]
    try:
        fs = _stand_in_filesystem(logdir)
        if _is_s3(fs):
            by_dir = _list_s3(fs, logdir)
        elif type(fs).__name__ == "FSSpecFileSystem" and "::" not in logdir:
            by_dir = _list_fsspec(logdir)
        else:  # TensorFlow's gfile (gs://, ...): a walk, and a stat per event file
            by_dir = _list_gfile(logdir)
    except Exception as e:
        raise ListingError({"path": ".", "reason": "unreadable_directory", "error": str(e) or type(e).__name__})
    base = logdir.rstrip("/")
    found = [(d or ".", base + "/" + d if d else logdir, dict(sorted(names.items())))
             for d, names in by_dir.items() if names]
    found.sort(key=lambda run: run[0])
    return found, []


def _add(by_dir, rel, listed):
    """Files an object at `rel` (its path under the logdir) under its directory, if it is an
    event file."""
    d, _, name = rel.strip("/").rpartition("/")
    if "tfevents" in name:
        by_dir.setdefault(d, {})[name] = listed


def _is_s3(fs):
    return type(fs).__name__ == "S3FileSystem" and hasattr(fs, "bucket_and_path")


_clients = {}
_clients_lock = threading.Lock()


def _s3_client(fs):
    """One boto3 client per endpoint (thread-safe, reused: a new client costs ~10 ms of CPU),
    configured as TensorBoard's S3 file system is (S3_ENDPOINT), its requests marked."""
    endpoint = getattr(fs, "_s3_endpoint", None)
    with _clients_lock:
        client = _clients.get(endpoint)
        if client is None:
            import boto3
            from botocore.config import Config

            client = _clients[endpoint] = boto3.client(
                "s3", endpoint_url=endpoint, config=Config(user_agent_extra=USER_AGENT))
        return client


def _list_s3(fs, logdir):
    bucket, prefix = fs.bucket_and_path(logdir.rstrip("/") + "/")
    by_dir = {}
    pages = _s3_client(fs).get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    for page in pages:
        for o in page.get("Contents", ()):
            _add(by_dir, o["Key"][len(prefix):], Listed(o["Size"], o.get("ETag") or o.get("LastModified")))
    return by_dir


_VERSION_KEYS = ("ETag", "etag", "generation", "mtime", "LastModified", "last_modified", "created")


def _list_fsspec(logdir):
    import fsspec

    fs, root = fsspec.core.url_to_fs(logdir)
    root = root.rstrip("/")
    by_dir = {}
    for path, info in fs.find(root, detail=True).items():
        if path.startswith(root + "/"):
            version = next((info[k] for k in _VERSION_KEYS if info.get(k) is not None), None)
            _add(by_dir, path[len(root):], Listed(info.get("size"), version))
    return by_dir


def _list_gfile(logdir):
    fs = gfile()
    if not fs.isdir(logdir):
        return {}
    base = logdir.rstrip("/")
    by_dir = {}
    for dirpath, _dirs, names in fs.walk(logdir):
        rel = dirpath.rstrip("/")[len(base):].strip("/")
        for name in names:
            if "tfevents" not in name:
                continue
            try:
                st = fs.stat(dirpath.rstrip("/") + "/" + name)
                listed = Listed(st.length, getattr(st, "mtime_nsec", None))
            except Exception as e:
                listed = Listed(None, None, str(e) or type(e).__name__)
            _add(by_dir, rel + "/" + name, listed)
    return by_dir


def ranged_read(path, count, offset):
    """Up to ``count`` bytes of a remote file from ``offset``, through the file system TensorBoard
    itself uses for the URL: TensorFlow's gfile (its GFile seeks), else TensorBoard's stand-in,
    whose GFile cannot seek: S3 with a ranged GET (the client the listing uses), the others
    through their file system's read with a continuation token (``opaque_offset``)."""
    fs = _stand_in_filesystem(path)
    if fs is None:
        with gfile().GFile(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(count)
    if count <= 0:
        return b""
    if _is_s3(fs):
        bucket, key = fs.bucket_and_path(path)
        try:
            body = _s3_client(fs).get_object(Bucket=bucket, Key=key,
                                             Range="bytes=%d-%d" % (offset, offset + count - 1))["Body"]
            return body.read()
        except Exception as e:
            if getattr(e, "response", {}).get("Error", {}).get("Code") in ("416", "InvalidRange"):
                return b""  # from past the end
            raise
    data, _ = fs.read(path, binary_mode=True, size=count,
                      continue_from={"byte_offset": offset, "opaque_offset": offset})
    return data[:count]
