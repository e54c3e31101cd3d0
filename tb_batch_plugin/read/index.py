"""The index of a log directory: ``LogdirIndex`` reloads what changed in its event files and
publishes an immutable ``IndexSnapshot`` after each run it read; ``load`` is the public reader.

Design: docs/backend.md ("Index design"); the query API: ``snapshot.IndexQueries``."""

import functools
import threading

import numpy as np

from tb_batch_plugin.read import decode, files, remote, tfrecord
from tb_batch_plugin.read.dynamics import Kept
from tb_batch_plugin.read.classify import Classifier, SeriesClass, Skip
from tb_batch_plugin.read.snapshot import IndexQueries, IndexSnapshot, RunView, SeriesView
from tb_batch_plugin.read.store import SeriesStore

__all__ = ["load", "LogdirIndex", "release_freed_memory"]


def load(logdir):
    """Indexes every tb_batch summary under `logdir` (local path or a URL TensorBoard's gfile
    supports) and returns the LogdirIndex; call ``.reload()`` later to read what was appended."""
    return LogdirIndex(logdir).reload()


def release_freed_memory():
    """Gives heap pages freed by a large read back to the OS (glibc keeps them otherwise, and
    the process would stay at its peak size); no-op elsewhere."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class LogdirIndex(IndexQueries):
    """Index of every scalar and tb_batch summary under a log directory (docs/backend.md).

    ``reload()`` reads what is new and publishes a new IndexSnapshot; the query methods (those of
    IndexQueries) read the latest snapshot, and ``snapshot()`` gives one to hold for several
    consistent reads. Reads never wait for a reload; one reload runs at a time."""

    # Read at most this many new bytes of one file at a time.
    chunk_bytes = 256 << 20
    # After a reload that read this many bytes, give freed heap pages back to the OS.
    trim_after_bytes = 32 << 20

    def __init__(self, logdir):
        self.logdir = logdir
        self._run_states = {}  # name -> _Run (the reload side's state of each run)
        self._classify = Classifier()
        self._reload_lock = threading.Lock()
        self._version = 0
        self._snap = IndexSnapshot({}, [], True, 0)
        self.bytes_read = 0  # by the last reload
        # Runs the reload under way listed and has not published yet (None until the first
        # listing of the logdir is done): what a server answers "indexing" for, not "unknown".
        self.unpublished = None

    def snapshot(self):
        """The latest published IndexSnapshot."""
        return self._snap

    def reload(self, published=None):
        """Finds new, deleted and changed runs and files, reads the bytes appended since the last
        reload, and publishes each run as soon as it is read. A run with a file that was deleted,
        replaced (another inode), truncated or rewritten is read again from the start, and
        published when complete (until then the previous snapshot of it is served).
        ``published(snapshot, run)``, if given, is called after each run is published."""
        with self._reload_lock:
            self.bytes_read = 0
            try:
                found, problems = files.discover(self.logdir)
            except remote.ListingError as e:  # e.g. S3 unreachable for a moment: keep what was read
                if self._snap.problems != [e.problem] or self._snap.loading:
                    self._publish(self._snap._runs, [e.problem], False)
                return self
            views = dict(self._snap._runs)
            self.unpublished = frozenset(name for name, _, _ in found if name not in views)
            for name, path, names in found:
                r = self._run_states.get(name)
                if r is None or r.path != path or files.rewritten(r, names):
                    r = self._run_states[name] = _Run(path)
                read_new = functools.partial(self._read_new, r)
                for file_name, listed in names.items():
                    files.read_file(r, file_name, read_new, listed)
                for gone in [f for f in r.problems if f not in names]:
                    r.clear_problem(gone)
                if r.changed or name not in views:
                    views[name] = self._run_view(r)
                    r.changed = False
                    self._publish(views, self._snap.problems, self._snap.loading)
                    self.unpublished = self.unpublished - {name}
                    if published is not None:
                        published(self._snap, name)
            found_names = {name for name, _, _ in found}
            for name in [n for n in self._run_states if n not in found_names]:
                del self._run_states[name]
                views.pop(name, None)
            if (len(views) != len(self._snap._runs) or problems != self._snap.problems
                    or self._snap.loading):
                self._publish(views, problems, False)
            self.unpublished = frozenset()
            if self.bytes_read >= self.trim_after_bytes:
                release_freed_memory()
        return self

    def _publish(self, views, problems, loading):
        self._version += 1
        self._snap = IndexSnapshot(dict(views), problems, loading, self._version)

    def _run_view(self, r):
        series = {key: SeriesView(st) for key, st in r.stores.items() if st.n}
        skipped = dict(r.skipped)
        if r.corrupt:
            skipped["corrupt_records"] = r.corrupt
        problem_files = []
        for name, (reason, error) in sorted(r.problems.items()):
            skipped[reason] = skipped.get(reason, 0) + 1
            problem_files.append({"file": files.display_name(name), "reason": reason, "error": error})
        self._version += 1
        return RunView(series, skipped, problem_files, r.corrupt, self._version, r.paths(), r.kept)

    def _read_new(self, r, f, read, size):
        """Reads and indexes the complete records of the files.FileState `f` of run `r` between
        f.offset and `size` (read(count, offset) -> bytes)."""
        offset = f.offset
        want = self.chunk_bytes
        while offset < size:
            buf = read(min(want, size - offset), offset)
            if not buf:
                break
            self.bytes_read += len(buf)
            if offset == 0:
                f.head = bytes(buf[:16])
            arr = np.frombuffer(buf, dtype=np.uint8)
            offs, lens, end, bad, implausible, f.lost = tfrecord.frame(buf, arr, f.lost)
            r.corrupt += bad
            r.count("implausible_length", implausible)
            if offs.size:
                pieces = decode.decode(buf, arr, offs, lens, (f.number, offset))
                r.corrupt += pieces.corrupt
                r.add(pieces, self._classify, f.number)
            if end or bad:
                r.changed = True
                f.tail = (f.tail + bytes(buf[max(0, end - 16):end]))[-16:]
            offset += end
            f.offset = offset
            if offset >= size:
                break
            if end == 0 or (offs.size == 0 and not bad and not implausible):
                if len(buf) < want or want >= size:
                    break  # an incomplete record at the end of the file: retry next reload
                want *= 2  # a record larger than the chunk
            else:
                want = self.chunk_bytes


class _Run:
    """What the reload side knows of one run (a directory holding event files)."""

    def __init__(self, path):
        self.path = path
        self.files = {}  # file name -> files.FileState
        self.tag_class = {}  # tag -> SeriesClass of its first metadata (for events without metadata)
        self.stores = {}  # (kind, name, source) -> SeriesStore
        self.corrupt = 0
        self.skipped = {}  # reason -> number of values (or headers) skipped for it
        self.problems = {}  # file name -> (reason, error) of a file not read now
        self.changed = True  # something not published yet
        self.kept = Kept()  # dynamics() state, shared by the run's views (dropped with them)

    def paths(self):
        """The paths of the run's event files by number (FileState.number: what locators name)."""
        return tuple(files.file_path(self.path, name)
                     for name, _ in sorted(self.files.items(), key=lambda item: item[1].number))

    def count(self, reason, n=1):
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n
            self.changed = True

    def problem(self, name, reason, error):
        if self.problems.get(name) != (reason, error):
            self.problems[name] = (reason, error)
            self.changed = True

    def clear_problem(self, name):
        if self.problems.pop(name, None) is not None:
            self.changed = True

    def add(self, pieces, classify, writer=None):
        """Appends decoded points (decode.Pieces) of the run's file number `writer` to the run's
        series, each to the series its metadata names (``classify(tag, metadata bytes)``);
        counts what is skipped."""
        for tag, (_rec, meta_bytes) in pieces.meta.items():
            if tag not in self.tag_class:
                self.tag_class[tag] = classify(tag, meta_bytes)
        by_store = {}
        for (tag, meta), plist in pieces.points.items():
            if meta is decode.SIMPLE_VALUE:
                c = SeriesClass("scalar", tag, "simple_value")
            elif meta is not None:
                c = classify(tag, meta)
            else:  # TensorBoard's rule: the tag's first metadata says what it is
                c = self.tag_class.get(tag)
            if isinstance(c, Skip):
                self.skipped[c.reason] = self.skipped.get(c.reason, 0) + sum(len(p[0]) for p in plist)
            elif c is not None:
                by_store.setdefault(c.key, (c, []))[1].extend(plist)
        for key, (c, plist) in by_store.items():
            store = self.stores.get(key)
            if store is None:
                store = self.stores[key] = SeriesStore(c)
            good = [p for p in plist if p[3].shape[1] == store.width]
            bad = sum(len(p[0]) for p in plist if p[3].shape[1] != store.width)
            if bad:
                self.skipped["bad_shape"] = self.skipped.get("bad_shape", 0) + bad
            if good:
                store.append(*_concatenate(good, store.kind), writer=writer)


def _concatenate(pieces, kind):
    """(steps, walls, values) of several decoded pieces [(recs, steps, walls, values)] of one
    series, in record (file) order; scalar values as one column."""
    recs = np.concatenate([p[0] for p in pieces])
    steps = np.concatenate([p[1] for p in pieces])
    walls = np.concatenate([p[2] for p in pieces])
    if kind == "scalar":
        dtype = np.result_type(*[p[3].dtype for p in pieces])
        vals = np.concatenate([p[3][:, 0].astype(dtype, copy=False) for p in pieces])
    else:
        vals = np.concatenate([p[3].astype(np.float64, copy=False) for p in pieces])
    if len(pieces) > 1:
        order = np.argsort(recs, kind="stable")
        steps, walls, vals = steps[order], walls[order], vals[order]
    return steps, walls, vals
