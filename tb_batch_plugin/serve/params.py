"""Query parameters of the routes, parsed and validated: a malformed or out-of-range one is a 400
naming it, an unknown run or tag a 404 (docs/http_api.md, Errors and Common parameters).
"""

import re

from tb_batch_plugin.read import SOURCES
from tb_batch_plugin.reduce import columns
from tb_batch_plugin.serve.http import InvalidParameter, NotFound, NotIndexedYet

MAX_WIDTH = 20000
MAX_TEXT = 4096
_INT_RE = re.compile(r"^-?[0-9]{1,19}$")
_INT64 = (-(2**63), 2**63 - 1)
_FLOAT_RE = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def text(request, name, required=True):
    """The parameter's value; None when it is absent or empty and not required."""
    v = request.args.get(name)
    if v is None or v == "":
        if required:
            raise InvalidParameter(name, "missing parameter %r" % name)
        return None
    if len(v) > MAX_TEXT:
        raise InvalidParameter(name, "parameter %r is too long" % name)
    return v


def integer(request, name, required=True, lo=_INT64[0], hi=_INT64[1], default=None):
    """A plain decimal integer in [lo, hi] (1.5, 1e3, NaN are 400)."""
    return _checked(request, name, required, default, _INT_RE, "an integer", int, lo, hi, "%d")


def number(request, name, lo, hi, default):
    """An optional finite decimal number in [lo, hi] (nan, inf and hex are 400)."""
    return _checked(request, name, False, default, _FLOAT_RE, "a number", float, lo, hi, "%g")


def _checked(request, name, required, default, pattern, what, convert, lo, hi, bound):
    """The parameter matching `pattern`, converted, in [lo, hi] (`bound`: their format)."""
    v = text(request, name, required)
    if v is None:
        return default
    if not pattern.match(v.strip()):
        raise InvalidParameter(name, "parameter %r must be %s" % (name, what))
    x = convert(v.strip())
    if not lo <= x <= hi:
        raise InvalidParameter(name, ("parameter %r must be between " + bound + " and " + bound) % (name, lo, hi))
    return x


def width(request):
    """The pixel columns of a chart (`width`, 1..MAX_WIDTH)."""
    return integer(request, "width", lo=1, hi=MAX_WIDTH)


def bounds(request, first, last):
    """The inclusive step range of `start` and `end` over data from step `first` to `last`."""
    start = integer(request, "start", required=False)
    end = integer(request, "end", required=False)
    if start is not None and end is not None and start > end:
        raise InvalidParameter("start", "start must be <= end")
    # A missing bound defaults to the data's first/last step, but never crosses the given one
    # (start=20000 on data ending at 9999 is the empty range [20000, 20000]).
    if start is None:
        start = first if end is None else min(first, end)
    if end is None:
        end = max(last, start)
    return start, end


def step_range(request, steps):
    """The columns.StepRange of `start` and `end` in the (non-empty, sorted) `steps`."""
    start, end = bounds(request, int(steps[0]), int(steps[-1]))
    return columns.step_range(steps, start, end)


def run(request, src):
    """The `run`, one the source lists (else 202 "indexing" for one being indexed, 404)."""
    name = text(request, "run")
    if name not in src.runs():
        if src.not_indexed_yet(name):
            raise NotIndexedYet(name)
        raise NotFound("unknown run %r" % name)
    return name


def series_tag(request, src, run_name, kind):
    """(tag, source, kind) of the series a request names with ``tag`` and, where two writers
    wrote the tag, ``source``; ``kind`` None accepts either kind."""
    tag = text(request, "tag")
    source = text(request, "source", required=False)
    if source is not None and source not in SOURCES:
        raise InvalidParameter("source", "source must be one of %s" % ", ".join(SOURCES))
    matches = [i for i in src.series(run_name) if i.tag == tag and (source is None or i.source == source)]
    if not matches:
        raise NotFound("unknown tag %r in run %r" % (tag, run_name))
    if kind is not None:
        of_kind = [i for i in matches if i.kind == kind]
        if not of_kind:
            raise NotFound("tag %r in run %r is a %s, not a %s" % (tag, run_name, matches[0].kind, kind))
        matches = of_kind
    return tag, matches[0].source, matches[0].kind
