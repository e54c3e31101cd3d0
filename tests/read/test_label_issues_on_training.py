"""The mislabelled samples of a real Keras run, from the run itself: digits with labels flipped at
known rows, trained with BatchStats at its defaults; ``label_issues`` ranks the flipped rows first,
and ``dynamics`` agrees with numpy on what it aggregates (each sample once per epoch).

(bench/label_noise.py measures the same against the ``aum`` package and cleanlab over several
settings; this test only pins that the path from a fit to the ranking works.)
"""

import keras
import numpy as np
from sklearn.datasets import load_digits

import tb_batch_plugin as tbb

EPOCHS, BATCH, FLIPPED = 12, 32, 60


def _noisy_digits(seed=0):
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(x), FLIPPED, replace=False))
    y = digits.target.copy()
    y[rows] = (y[rows] + rng.integers(1, 10, FLIPPED)) % 10  # another digit, uniformly
    return x, y, rows


def test_label_issues_of_a_fit_rank_the_flipped_labels_first(tmp_path):
    x, y, flipped = _noisy_digits()
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])
    model.compile(keras.optimizers.Adam(0.003), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=BATCH, epochs=EPOCHS, shuffle=True, verbose=0,
              callbacks=[tbb.BatchStats(tmp_path)])
    data = tbb.load(str(tmp_path))

    dynamics = data.dynamics("train")
    assert len(dynamics) == len(np.unique(tbb.fingerprint(x)))
    assert (dynamics.presentations[dynamics.presentations > 0] % EPOCHS == 0).all()  # duplicates: a multiple
    rows = tbb.find(x, ["%016x" % int(f) for f in dynamics.fingerprint])
    np.testing.assert_array_equal(dynamics.label, y[rows])

    issues = data.label_issues("train", top=FLIPPED)
    found = tbb.find(x, [issue["fingerprint"] for issue in issues])
    precision = np.isin(found, flipped).mean()
    assert precision >= 0.8, precision  # 0.93 when written
    assert issues[0]["aum"] < 0 and issues[0]["label"] != issues[0]["predicted"]
    # Flagged (AUM < 0, wrong in most presentations): most of the flipped rows, few others.
    every = data.label_issues("train")
    flagged_rows = tbb.find(x, [issue["fingerprint"] for issue in every if issue["flagged"]])
    assert np.isin(flipped, flagged_rows).mean() >= 0.8 and np.isin(flagged_rows, flipped).mean() >= 0.5
