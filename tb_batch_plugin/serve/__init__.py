"""The TensorBoard plugin: its route table and reload thread, HTTP bodies and parameters, one
module per route family. Imports ``read`` and ``reduce``; never TensorFlow."""
