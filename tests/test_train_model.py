"""The CNN: blocks of the asked depth and width, BN on the pre-activation, raw inputs in."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from automl.search.space import Hyperparameters
from automl.train.model import block_filters, build_model, build_training_state


def kinds(model) -> list[str]:  # type: ignore[no-untyped-def]
    return [type(layer).__name__ for layer in model.layers]


def test_batch_norm_sits_between_a_bias_free_conv_and_the_activation() -> None:
    model = build_model(Hyperparameters(depth=2, width=8, batch_norm=True), (8, 8, 1), 10, 16.0)
    names = kinds(model)
    for i, name in enumerate(names):
        if name == "BatchNormalization":
            assert names[i - 1] == "Conv2D" and names[i + 1] == "Activation"
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert [c.use_bias for c in convs] == [False, False]
    bns = [layer for layer in model.layers if isinstance(layer, layers.BatchNormalization)]
    assert len(bns) == 2 and all(bn.momentum == 0.9 for bn in bns)


def test_without_batch_norm_convs_keep_their_bias() -> None:
    model = build_model(Hyperparameters(depth=3, width=4), (8, 8, 1), 10, 16.0)
    assert "BatchNormalization" not in kinds(model)
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert all(c.use_bias for c in convs)


def test_depth_and_width_set_the_blocks() -> None:
    hp = Hyperparameters(depth=3, width=16)
    assert block_filters(hp) == [16, 32, 64]
    model = build_model(hp, (8, 8, 1), 10, 16.0)
    convs = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    assert [c.filters for c in convs] == [16, 32, 64]
    assert block_filters(Hyperparameters(depth=6, width=64))[-1] == 256  # capped


def test_a_depth_deeper_than_the_image_stops_pooling_instead_of_crashing() -> None:
    model = build_model(Hyperparameters(depth=6, width=4), (8, 8, 1), 10, 16.0)
    pools = [layer for layer in model.layers if isinstance(layer, layers.MaxPooling2D)]
    assert len(pools) == 3  # 8 -> 4 -> 2 -> 1, then no more
    out = model.predict(np.zeros((2, 8, 8, 1), np.float32), verbose=0)
    assert out.shape == (2, 10)


def test_the_model_rescales_raw_inputs_itself() -> None:
    model = build_model(Hyperparameters(depth=1, width=4), (8, 8, 1), 10, 16.0)
    rescale = model.get_layer("rescale")
    assert float(rescale.scale) == 1 / 16
    probs = model.predict(np.full((1, 8, 8, 1), 16.0, np.float32), verbose=0)
    assert np.isclose(probs.sum(), 1.0, atol=1e-5)


def test_l2_dropout_and_augmentation_layers() -> None:
    hp = Hyperparameters(depth=2, width=4, l2=1e-3, dropout=0.25, augment="flip_translate")
    model = build_model(hp, (8, 8, 1), 10, 16.0)
    names = kinds(model)
    assert names.count("Dropout") == 2
    assert "RandomFlip" in names and "RandomTranslation" in names
    conv = model.get_layer("conv1")
    assert conv.kernel_regularizer is not None and np.isclose(conv.kernel_regularizer.l2, 1e-3)


def test_optimizers_get_the_lessons_hyperparameters() -> None:
    hp = Hyperparameters(learning_rate=0.01, beta_1=0.8, beta_2=0.9995, epsilon=1e-7)
    opt = build_model(hp, (8, 8, 1), 10, 16.0).optimizer
    assert type(opt).__name__ == "Adam"
    assert np.isclose(float(opt.learning_rate), 0.01)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.8, 0.9995, 1e-7)
    sgd = build_model(Hyperparameters(optimizer="sgd", momentum=0.5), (8, 8, 1), 10, 16.0)
    assert type(sgd.optimizer).__name__ == "SGD" and sgd.optimizer.momentum == 0.5


def _fit_counting_traces(prebuild: bool) -> tuple[int, dict[str, list[float]]]:
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    hp = Hyperparameters(depth=2, width=8, batch_norm=True, dropout=0.2, l2=1e-3)
    model = build_model(hp, (8, 8, 1), 10, 16.0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, (96, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 10, 96)
    if prebuild:
        build_training_state(model, x[:2], y[:2])
    traces = 0
    train_step = model.train_step

    def counted(data):  # type: ignore[no-untyped-def]
        nonlocal traces
        traces += 1  # Python runs only while TensorFlow traces the step
        return train_step(data)

    model.train_step = counted
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    return traces, history.history


def test_training_state_built_first_spares_fit_its_second_trace() -> None:
    keras_traces, keras_history = _fit_counting_traces(prebuild=False)
    traces, history = _fit_counting_traces(prebuild=True)
    # Keras alone traces twice (its variables are created in the first trace): if a Keras
    # release stops doing that, build_training_state has no reason left to exist.
    assert keras_traces == 2
    assert traces == 1
    assert history == keras_history  # the same training, to the last digit
