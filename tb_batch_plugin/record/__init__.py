"""The writing side (needs TensorFlow): ``BatchStats``, the traced step it installs, staging and
writing of the event files, step numbering, sample fingerprints and ``summary`` for custom loops.
Imports ``metadata``, and ``read`` only to find where a run directory's steps continue."""
