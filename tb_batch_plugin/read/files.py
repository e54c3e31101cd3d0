"""Event files under a log directory: finding runs, telling a file rewritten since it was read, and
reading new bytes of regular files only (a FIFO is never opened), locally or through TensorBoard's
gfile for URLs.

Design: docs/backend.md ("Runs", "Only regular files are opened", "Deleted, replaced and
rewritten files")."""

import os
import stat

from tb_batch_plugin.read import remote


class FileState:
    """One event file of a run: where reading goes on (``offset``), and what tells that the file
    was replaced or rewritten since (device and inode, size and mtime seen at the last read, its
    first bytes and the 16 bytes before ``offset``; for a remote file, the version its listing
    gave); ``number``: its place among the run's files (what locators name, see decode)."""

    __slots__ = ("offset", "dev", "ino", "size", "mtime", "version", "head", "tail", "lost", "number")

    def __init__(self, dev=None, ino=None, number=0):
        self.offset, self.dev, self.ino, self.number = 0, dev, ino, number
        self.lost = False  # reading stopped inside a corrupt stretch (see tfrecord.frame)
        self.size, self.mtime, self.version = -1, None, None
        self.head = self.tail = b""


def is_remote(path):
    return "://" in path


def file_path(run_path, name):
    """The path of the event file `name` of the run directory `run_path` (local or a URL)."""
    return run_path.rstrip("/") + "/" + name if is_remote(run_path) else os.path.join(run_path, name)


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
    """([(run name, directory, {event file name: remote.Listed, None for a local file})],
    [logdir problems])."""
    if is_remote(logdir):
        return remote.discover(logdir)
    found, problems = _discover_local(logdir)
    return [(name, path, dict.fromkeys(names)) for name, path, names in found], problems


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
    files there now (discover's {name: listed})."""
    if any(name not in names for name in run.files):
        return True
    if is_remote(run.path):
        return any(_rewritten_remote(run.path, name, f, names[name]) for name, f in run.files.items())
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


def _rewritten_remote(run_path, name, f, listed):
    """From the listing alone where it can tell: shorter than what was read, or another version
    of the same size (objects are written whole: another ETag or generation at that size is other
    content). A longer new version is an append only if the bytes read are still there (two
    ranged reads of 16 bytes, only for objects that changed)."""
    if listed.size is None:
        return False  # not listed: cannot tell, keep what was read
    if listed.size < f.offset:
        return True
    if f.version is None or listed.version == f.version:
        return False
    if listed.size == f.size:
        return True
    path = file_path(run_path, name)
    try:
        return (remote.ranged_read(path, len(f.head), 0) != f.head
                or remote.ranged_read(path, len(f.tail), f.offset - len(f.tail)) != f.tail)
    except Exception:
        return True


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


def read_file(run, name, read_new, listed=None):
    """Reads what is new in the run's event file `name`, or reports why it cannot (per run:
    ``problem``). A file that is not a regular file is never opened. `listed`: what discover
    listed of a remote file (remote.Listed), whose size and version say whether to read."""
    if is_remote(run.path):
        return _read_remote(run, name, read_new, listed)
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


def _read_remote(run, name, read_new, listed):
    if listed is None or listed.size is None:
        return run.problem(name, "unreadable_file", listed.error if listed else "not listed")
    f = run.files.get(name)
    if f is not None and (listed.size, listed.version) == (f.size, f.version):
        return run.clear_problem(name)  # unchanged since the last reload: no request
    if f is None:
        f = run.files[name] = FileState(number=len(run.files))
    path = file_path(run.path, name)
    try:
        if listed.size > f.offset:
            read_new(f, lambda n, at: remote.ranged_read(path, n, at), listed.size)
    except Exception as e:
        return run.problem(name, "unreadable_file", str(e) or type(e).__name__)
    f.size, f.version = listed.size, listed.version
    run.clear_problem(name)


class RangeReader:
    """Reads byte ranges of one event file (``read(count, offset) -> bytes``; fewer bytes where
    the file ends), locally with pread on a regular file (never opening anything else), else
    through gfile; ``close()`` when done. Raises OSError (or gfile's errors) when it cannot."""

    def __init__(self, path):
        self._fd = self._fh = None
        self._path = path
        if is_remote(path):
            self._fh = remote.gfile().GFile(path, "rb")
        else:
            self._fd = _open_regular(path)

    def read(self, count, offset):
        if self._fd is not None:
            return os.pread(self._fd, count, offset)
        if not hasattr(self._fh, "seek"):  # TensorBoard's stand-in GFile (no TensorFlow)
            return remote.ranged_read(self._path, count, offset)
        self._fh.seek(offset)
        return self._fh.read(count)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
        elif self._fh is not None:
            self._fh.close()
        self._fd = self._fh = None
