"""The binned data map (reduce/datamap.py) against a per-sample loop."""

import math

import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from tb_batch_plugin.reduce import datamap

values = st.one_of(st.floats(-0.2, 1.2), st.sampled_from([0.0, 0.5, 1.0, np.nan, np.inf]))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 120).flatmap(lambda n: st.tuples(
    hnp.arrays(np.float64, n, elements=values), hnp.arrays(np.float64, n, elements=values),
    hnp.arrays(np.float64, n, elements=st.one_of(st.floats(-10, 10), st.just(np.nan))),
    hnp.arrays(np.float64, n, elements=st.integers(0, 9).map(float)))), st.integers(1, 9))
def test_data_map_matches_a_loop(args, bins):
    var, conf, aum, forgetting = args
    m = datamap.data_map(var, conf, aum, forgetting, bins)
    assert m.variability.tolist() == np.linspace(0, 0.5, bins + 1).tolist()
    assert m.confidence.tolist() == np.linspace(0, 1, bins + 1).tolist()
    count = np.zeros((bins, bins), np.int64)
    sums, finite = {}, {}
    for v, c, a, f in zip(var, conf, aum, forgetting):
        if not (math.isfinite(v) and math.isfinite(c) and 0 <= v <= 0.5 and 0 <= c <= 1):
            continue
        i, j = min(bins - 1, int(v / 0.5 * bins)), min(bins - 1, int(c * bins))
        count[i, j] += 1
        for name, x in (("aum", a), ("forgetting", f)):
            if math.isfinite(x):
                sums[name, i, j] = sums.get((name, i, j), 0.0) + x
                finite[name, i, j] = finite.get((name, i, j), 0) + 1
    np.testing.assert_array_equal(m.count, count)
    for name in ("aum", "forgetting"):
        got = getattr(m, name)
        for i in range(bins):
            for j in range(bins):
                if (name, i, j) in finite:
                    assert math.isclose(got[i, j], sums[name, i, j] / finite[name, i, j], rel_tol=1e-12, abs_tol=1e-12)
                else:
                    assert math.isnan(got[i, j])


def test_edges_are_in_the_last_bin():
    m = datamap.data_map([0.5, 0.0, 0.25], [1.0, 0.0, 0.5], [-1.0, 2.0, 0.5], [3, 0, 1], 4)
    assert m.count[3, 3] == 1 and m.count[0, 0] == 1 and m.count[2, 2] == 1 and m.count.sum() == 3
    assert m.aum[3, 3] == -1.0 and m.forgetting[3, 3] == 3.0


def test_bin_index():
    np.testing.assert_array_equal(datamap.bin_index([-0.1, 0, 0.24, 0.25, 1, 1.1, np.nan], 0, 1, 4),
                                  [-1, 0, 0, 1, 3, -1, -1])
