"""Every hyperparameter default lives in PARAMS: the trial's Hyperparameters and a built model
use exactly those values.

`batch_size` is the one default no model holds: the objective hands `hp.batch_size` to the
training pipelines, so the dataclass check below is what ties it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import keras
import numpy as np
import pytest
from keras import layers, optimizers

from automl.search.space import Hyperparameters
from automl.spec.rules import parse
from automl.spec.schema import PARAMS
from automl.train.model import build_model

DEFAULTS = {name: definition.default for name, definition in PARAMS.items()}
KIND_TYPES = {"float": float, "int": int, "bool": bool, "choice": str}

# Digits: 8x8 grayscale images, values 0..16, ten classes.
DIGITS_SHAPE = (8, 8, 1)
DIGITS_CLASSES = 10
DIGITS_SCALE = 16.0

OPTIMIZERS = {
    "adam": optimizers.Adam,
    "adamw": optimizers.AdamW,
    "sgd": optimizers.SGD,
    "rmsprop": optimizers.RMSprop,
}
# The hyperparameters each optimizer takes, besides the learning rate.
OPTIMIZER_PARAMS = {
    "adam": ("beta_1", "beta_2", "epsilon"),
    "adamw": ("beta_1", "beta_2", "epsilon"),
    "sgd": ("momentum",),
    "rmsprop": ("momentum", "epsilon"),
}
AUGMENT_LAYERS = {
    "none": [],
    "flip": [layers.RandomFlip],
    "translate": [layers.RandomTranslation],
    "flip_translate": [layers.RandomFlip, layers.RandomTranslation],
}


def build(**changes: Any) -> keras.Model:
    """A model for digits from the default hyperparameters, with `changes` only."""
    hp = dataclasses.replace(Hyperparameters(), **changes)
    return build_model(hp, DIGITS_SHAPE, DIGITS_CLASSES, DIGITS_SCALE)


def layers_of(model: keras.Model, kind: type) -> list[Any]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_hyperparameters_default_to_the_schema() -> None:
    hp = Hyperparameters()
    assert [f.name for f in dataclasses.fields(hp)] == list(PARAMS)
    assert hp.as_dict() == DEFAULTS
    for name, value in hp.as_dict().items():
        assert type(value) is KIND_TYPES[PARAMS[name].kind], name
    # A study that fixes nothing trains on the same values, and each passes its own rules.
    assert Hyperparameters.from_dict(parse({"name": "s"}).fixed) == hp
    assert parse({"name": "s", "params": DEFAULTS}).fixed == DEFAULTS


def test_a_model_built_from_the_defaults_uses_them() -> None:
    model = build()
    depth = DEFAULTS["depth"]
    convs = layers_of(model, layers.Conv2D)
    assert len(convs) == depth
    assert convs[0].filters == DEFAULTS["width"]

    norms = layers_of(model, layers.BatchNormalization)
    assert len(norms) == (depth if DEFAULTS["batch_norm"] else 0)
    momentums = [bn.momentum for bn in layers_of(build(batch_norm=True), layers.BatchNormalization)]
    assert momentums == [DEFAULTS["bn_momentum"]] * depth

    rate = DEFAULTS["dropout"]
    assert [d.rate for d in layers_of(model, layers.Dropout)] == ([rate] * depth if rate else [])

    l2 = DEFAULTS["l2"]
    for layer in [*convs, *layers_of(model, layers.Dense)]:
        regularizer = layer.kernel_regularizer
        if l2:
            assert regularizer is not None and np.isclose(regularizer.l2, l2), layer.name
        else:
            assert regularizer is None, layer.name

    augmentations = AUGMENT_LAYERS["flip_translate"]
    found = [type(layer) for layer in model.layers if type(layer) in augmentations]
    assert found == AUGMENT_LAYERS[str(DEFAULTS["augment"])]

    assert type(model.optimizer) is OPTIMIZERS[str(DEFAULTS["optimizer"])]


@pytest.mark.parametrize("name", PARAMS["optimizer"].choices)
def test_each_optimizer_takes_the_default_learning_rate_and_its_own_defaults(name: str) -> None:
    optimizer = build(optimizer=name).optimizer
    assert type(optimizer) is OPTIMIZERS[name]
    assert np.isclose(float(optimizer.learning_rate), DEFAULTS["learning_rate"])
    for param in OPTIMIZER_PARAMS[name]:
        assert getattr(optimizer, param) == DEFAULTS[param], param
