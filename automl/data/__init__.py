"""The data a study trains on: found and checked, loaded once per process, split, and fed.

`dataset` checks a study's data set (for `automl validate` and before `automl run` starts a
worker) and loads it into a `Dataset` (subset, colours, size, split); it and `sources` (one
module per file format) import neither TensorFlow nor Keras. `pipeline` turns a `Dataset` into
tf.data pipelines and imports TensorFlow: only the training code imports it.
"""
