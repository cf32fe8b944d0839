"""Where a data set's images come from: one module per file format, each a `Source`.

`base` holds the `Source` protocol and what the formats share; `digits` (scikit-learn's),
`npz`, `folder` (one subfolder of images per class), `idx` (Fashion-MNIST) and `cifar` each
read one format; `keras_cache` finds Keras's data sets and has Keras download them;
`distorted` serves the sets that `distortion` generates from digits (numpy and scipy) and keeps
them in a cache; `locate` picks the source a `DatasetSpec` names. Every source checks its files
without decoding pixels and without TensorFlow (numpy and PIL only), so `automl validate` stays
light.
"""
