"""Event files under a log directory: finding runs, telling a file rewritten since it was read, and
reading new bytes of regular files only (a FIFO is never opened), locally or through TensorBoard's
gfile for URLs.

Design: docs/backend.md ("Runs", "Only regular files are opened", "Deleted, replaced and
rewritten files")."""

import os
import stat


class FileState:
    """One event file of a run: where reading goes on (``offset``), and what tells that the file
    was replaced or rewritten since (device and inode, size and mtime seen at the last read, its
    first bytes and the 16 bytes before ``offset``); ``number``: its place among the run's files
    (what locators name, see decode)."""

    __slots__ = ("offset", "dev", "ino", "size", "mtime", "head", "tail", "lost", "number")

    def __init__(self, dev=None, ino=None, number=0):
        self.offset, self.dev, self.ino, self.number = 0, dev, ino, number
        self.lost = False  # reading stopped inside a corrupt stretch (see tfrecord.frame)
        self.size, self.mtime = -1, None
        self.head = self.tail = b""


def is_remote(path):
    return "://" in path


def file_path(run_path, name):
    """The path of the event file `name` of the run directory `run_path` (local or a URL)."""
    return run_path.rstrip("/") + "/" + name if is_remote(run_path) else os.path.join(run_path, name)


def _gfile():
    from tensorboard.compat import tf
    return tf.io.gfile


def display_name(name):
    """A file or directory name as TensorBoard shows it: bytes that are not UTF-8 (kept by
    os.scandir as surrogate escapes) become U+FFFD, as TensorBoard's data server names them."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


_FILE_TYPES = ((stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
               (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "directory"))


def _file_type(mode):
    return next((name for test, name in _FILE_TYPES if test(mode)), "not a regular file")


def _os_error(e):
    return e.strerror or type(e).__name__


class _NotRegular(OSError):
    """Raised by _open_regular for a path that is not a regular file (message: its type)."""


def _open_regular(path):
    """A read-only descriptor of the regular file at `path`. Opened non-blocking (a FIFO put in
    place after the caller's stat must not block the open) and checked with fstat."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        os.close(fd)
        raise
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise _NotRegular(_file_type(mode))
    return fd


# ----------------------------------------------------------------------------------------------
# Discovery


def discover(logdir):
    """([(run name, directory, [event file names])], [logdir problems])."""
    if is_remote(logdir):
        problem = _scheme_problem(logdir)
        return ([], [problem]) if problem else (_discover_remote(logdir), [])
    return _discover_local(logdir)


def _scheme_problem(logdir):
    """The logdir problem of a URL that the file system TensorBoard uses here cannot read (its
    scheme, and what to install), else None: TensorFlow's gfile says which schemes it has;
    TensorBoard's stand-in (no TensorFlow) finds a file system for the URL or says why not."""
    scheme = logdir.split("://", 1)[0]
    gfile = _gfile()
    registered = getattr(gfile, "get_registered_schemes", None)
    try:
        if registered is None:  # TensorBoard's stand-in: S3 (boto3) and fsspec's protocols
            from tensorboard.compat.tensorflow_stub.io.gfile import get_filesystem

            get_filesystem(logdir)
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


def _discover_remote(logdir):
    gfile = _gfile()
    if not gfile.isdir(logdir):
        return []
    found = []
    for dirpath, _dirs, files in gfile.walk(logdir):
        events = sorted(f for f in files if "tfevents" in f)
        if events:
            found.append((dirpath[len(logdir):].strip("/") or ".", dirpath, events))
    found.sort()
    return found


def _discover_local(root):
    """Walks the logdir following symbolic links to directories, as TensorBoard's loader does,
    except a link back to a directory on the way down (a loop)."""
    try:
        st = os.stat(root)
    except OSError:
        return [], []
    if not stat.S_ISDIR(st.st_mode):
        return [], []
    found, problems, names = [], [], set()
    stack = [(root, "", frozenset([(st.st_dev, st.st_ino)]))]
    while stack:
        path, rel, ancestors = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            problems.append({"path": display_name(rel) or ".", "reason": "unreadable_directory",
                             "error": _os_error(e)})
            continue
        files, subdirs = [], []
        for e in entries:
            try:
                is_dir = e.is_dir()  # follows a symbolic link
                ident = e.stat() if is_dir else None
            except OSError:
                is_dir = False
            if is_dir:
                key = (ident.st_dev, ident.st_ino)
                if key not in ancestors:
                    subdirs.append((e.path, rel + "/" + e.name if rel else e.name, ancestors | {key}))
            elif "tfevents" in e.name:
                files.append(e.name)
        if files:
            name = display_name(rel) if rel else "."
            if name in names:  # two names that differ only in bytes that are not UTF-8
                problems.append({"path": name, "reason": "duplicate_name",
                                 "error": "another directory has the same name once decoded"})
            else:
                names.add(name)
                found.append((name, path, sorted(files)))
        stack.extend(sorted(subdirs, key=lambda s: s[1], reverse=True))
    found.sort()
    return found, problems


# ----------------------------------------------------------------------------------------------
# Reading
#
# `run` below is the reload side's state of a run: ``path``, ``files`` ({name: FileState}),
# ``problem(name, reason, error)`` and ``clear_problem(name)``. `read_new(f, read, size)` reads
# and indexes the complete records of `f` up to `size`, calling read(count, offset) -> bytes.


def rewritten(run, names):
    """Whether a file of the run was deleted, replaced, truncated or rewritten since it was read
    (its points cannot be told apart from the others': the run is read again); `names`: the event
    files there now."""
    if any(name not in names for name in run.files):
        return True
    if is_remote(run.path):
        gfile = _gfile()
        for name, f in run.files.items():
            try:
                if gfile.stat(run.path.rstrip("/") + "/" + name).length < f.offset:
                    return True
            except Exception:
                return True
        return False
    for name, f in run.files.items():
        full = os.path.join(run.path, name)
        try:
            st = os.stat(full)
        except FileNotFoundError:
            return True
        except OSError:
            continue  # cannot tell: keep what was read
        if (not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != (f.dev, f.ino)
                or st.st_size < f.offset):
            return True
        if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime) and not _same_bytes(full, f):
            return True
    return False


def _same_bytes(full, f):
    """Whether the file still starts with, and still has before ``offset``, the bytes read."""
    try:
        fd = _open_regular(full)
    except OSError:
        return True
    try:
        return (os.pread(fd, len(f.head), 0) == f.head
                and os.pread(fd, len(f.tail), f.offset - len(f.tail)) == f.tail)
    except OSError:
        return True
    finally:
        os.close(fd)


def read_file(run, name, read_new):
    """Reads what is new in the run's event file `name`, or reports why it cannot (per run:
    ``problem``). A file that is not a regular file is never opened."""
    if is_remote(run.path):
        return _read_remote(run, name, read_new)
    full = os.path.join(run.path, name)
    try:
        st = os.stat(full)
    except OSError as e:
        return run.problem(name, "unreadable_file", _os_error(e))
    if not stat.S_ISREG(st.st_mode):  # a FIFO would block the open: never open one
        return run.problem(name, "not_a_regular_file", _file_type(st.st_mode))
    f = run.files.get(name)
    if f is not None and (st.st_size, st.st_mtime_ns) == (f.size, f.mtime):
        return run.clear_problem(name)
    try:
        fd = _open_regular(full)
    except _NotRegular as e:
        return run.problem(name, "not_a_regular_file", str(e))
    except OSError as e:
        return run.problem(name, "unreadable_file", _os_error(e))
    try:
        fst = os.fstat(fd)
        if f is None:
            f = run.files[name] = FileState(fst.st_dev, fst.st_ino, len(run.files))
        elif (fst.st_dev, fst.st_ino) != (f.dev, f.ino):
            return  # replaced since the check: the next reload reads the run again
        run.clear_problem(name)
        read_new(f, lambda n, at: os.pread(fd, n, at), fst.st_size)
        f.size, f.mtime = fst.st_size, fst.st_mtime_ns
    except OSError as e:
        run.problem(name, "unreadable_file", _os_error(e))
    finally:
        os.close(fd)


def _read_remote(run, name, read_new):
    path = file_path(run.path, name)
    gfile = _gfile()
    try:
        size = gfile.stat(path).length
    except Exception as e:
        return run.problem(name, "unreadable_file", str(e) or type(e).__name__)
    f = run.files.get(name)
    if f is None:
        f = run.files[name] = FileState(number=len(run.files))
    if size <= f.offset:
        return

    def read(n, at):
        return ranged_read(path, n, at)

    try:
        read_new(f, read, size)
        run.clear_problem(name)
    except Exception as e:
        run.problem(name, "unreadable_file", str(e) or type(e).__name__)


def ranged_read(path, count, offset):
    """Up to ``count`` bytes of a remote file from ``offset``, through the file system TensorBoard
    itself uses for the URL: TensorFlow's gfile (its GFile seeks), else TensorBoard's stand-in,
    whose GFile cannot seek but whose file systems (S3, fsspec, local) read a range given a
    continuation token (S3's counts ``byte_offset``, the others' ``opaque_offset``)."""
    gfile = _gfile()
    with gfile.GFile(path, "rb") as fh:
        if hasattr(fh, "seek"):
            fh.seek(offset)
            return fh.read(count)
    from tensorboard.compat.tensorflow_stub.io.gfile import get_filesystem

    data, _ = get_filesystem(path).read(path, binary_mode=True, size=count,
                                        continue_from={"byte_offset": offset, "opaque_offset": offset})
    return data


class RangeReader:
    """Reads byte ranges of one event file (``read(count, offset) -> bytes``; fewer bytes where
    the file ends), locally with pread on a regular file (never opening anything else), else
    through gfile; ``close()`` when done. Raises OSError (or gfile's errors) when it cannot."""

    def __init__(self, path):
        self._fd = self._fh = None
        self._path = path
        if is_remote(path):
            self._fh = _gfile().GFile(path, "rb")
        else:
            self._fd = _open_regular(path)

    def read(self, count, offset):
        if self._fd is not None:
            return os.pread(self._fd, count, offset)
        if not hasattr(self._fh, "seek"):  # TensorBoard's stand-in GFile (no TensorFlow)
            return ranged_read(self._path, count, offset)
        self._fh.seek(offset)
        return self._fh.read(count)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
        elif self._fh is not None:
            self._fh.close()
        self._fd = self._fh = None
