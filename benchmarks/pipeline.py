"""Seconds per epoch on the generated set at its full size, by input pipeline, and what a trial
pays before its first batch there.

`distorted_digits` at its default size (60,000 images: 48,000 to train, 12,000 to validate,
uint8 28x28) in one process whose TensorFlow threads use every core, as one worker's do. Each
model is fitted for `--epochs` epochs (validation included) on each feed, the feeds taking turns
in an order reversed from round to round (a drift in the machine's load then falls on each in
turn). Every feed trains the same model (automl's: fused Adam, its training state made before
`fit`), so the feeds differ in how batches reach it and in nothing else:

- automl: automl's pipelines (shuffled indices; each batch gathered from the uint8 arrays by
  `tf.numpy_function` and cast to float32; tf.data's autotuner off; prefetched);
- automl+autotune: the same with tf.data's autotuner on (TensorFlow's default);
- automl, 1 thread: the same with tf.data's private thread pool of one thread;
- tf.data cache: `from_tensor_slices((x, y)).cache().shuffle(n).batch(b)`, cast, prefetched, as
  tf.data's guide writes it (the arrays copied into tensors and cached);
- tf.data cache, no prefetch: the same without `prefetch`;
- numpy: the arrays handed to `fit` with `batch_size` (Keras's own adapter; the compare
  script's way).

Beside each epoch: the same feed alone (one pass over its training batches, no model), so its
share of an epoch shows. And a trial's fixed cost at this size: reading the set from the cache,
building and compiling the model with its training state, and the first epoch's extra seconds
(its tracing: the first epoch minus the median later one).

    python -m benchmarks.pipeline                      # 2 models, 3 epochs, 2 rounds
    python -m benchmarks.pipeline --train-size 3000 --epochs 2 --rounds 1   # a quick check
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from automl.spec.schema import DatasetSpec
from benchmarks.harness import records, stats
from benchmarks.hot_path.training import epoch_timer

QUESTION = (
    "At the generated set's full size, how many seconds does an epoch take on automl's input "
    "pipeline against tf.data's cache idiom and NumPy arrays, how much of it is the pipeline, "
    "and what does a trial pay before its first batch?"
)
MODELS = (
    {"depth": 2, "width": 16, "batch_norm": False, "batch_size": 64},
    {"depth": 2, "width": 32, "batch_norm": True, "batch_size": 128},
)
FEEDS = (
    "automl",
    "automl+autotune",
    "automl, 1 thread",
    "tf.data cache",
    "tf.data cache, no prefetch",
    "numpy",
)


def options(feed: str) -> Any:
    """The tf.data options a variant of automl's pipelines runs with (None: as automl sets)."""
    import tensorflow as tf

    if feed == "automl+autotune":
        chosen = tf.data.Options()
        chosen.autotune.enabled = True
        return chosen
    if feed == "automl, 1 thread":
        chosen = tf.data.Options()
        chosen.threading.private_threadpool_size = 1
        return chosen
    return None


def cached_idiom(x: Any, y: Any, batch_size: int, seed: int | None, prefetch: bool) -> Any:
    """tf.data's guide: slices of the arrays, cached, shuffled each epoch, batched, cast."""
    import tensorflow as tf

    data = tf.data.Dataset.from_tensor_slices((x, y.astype("int64"))).cache()
    if seed is not None:
        data = data.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    data = data.batch(batch_size).map(
        lambda xb, yb: (tf.cast(xb, tf.float32), yb), num_parallel_calls=tf.data.AUTOTUNE
    )
    return data.prefetch(tf.data.AUTOTUNE) if prefetch else data


def fit_inputs(feed: str, data: Any, batch_size: int, seed: int) -> dict[str, Any]:
    """What `model.fit` is given for `feed`: its training and validation inputs."""
    if feed == "numpy":
        return {
            "x": data.x_train,
            "y": data.y_train,
            "validation_data": (data.x_val, data.y_val),
            "batch_size": batch_size,
        }
    if feed.startswith("tf.data cache"):
        prefetch = feed == "tf.data cache"
        train = cached_idiom(data.x_train, data.y_train, batch_size, seed, prefetch)
        val = cached_idiom(data.x_val, data.y_val, max(batch_size, 256), None, prefetch)
        return {"x": train, "validation_data": val, "shuffle": False}
    from automl.data.pipeline import pipelines

    train, val = pipelines(data, batch_size, seed)
    chosen = options(feed)
    if chosen is not None:
        train, val = train.with_options(chosen), val.with_options(chosen)
    return {"x": train, "validation_data": val, "shuffle": False}


def feed_alone(feed: str, data: Any, batch_size: int, seed: int) -> float | None:
    """Seconds of one pass over the feed's training batches with no model (None for numpy:
    Keras makes its adapter inside `fit`)."""
    if feed == "numpy":
        return None
    train = fit_inputs(feed, data, batch_size, seed)["x"]
    for _ in train:  # the first pass fills a cache: the timed one is an epoch after it
        pass
    t0 = time.perf_counter()
    for _ in train:
        pass
    return time.perf_counter() - t0


def one_fit(feed: str, values: dict[str, Any], data: Any, epochs: int, seed: int) -> dict:
    """Build the model and fit it on `feed`; the seconds of each part."""
    import keras

    from automl.search.space import Hyperparameters
    from automl.train.model import build_model, build_training_state

    hp = Hyperparameters.from_dict(values)
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    t0 = time.perf_counter()
    model = build_model(hp, data.input_shape, data.num_classes, data.input_scale)
    build_training_state(model, data.x_train[:2], data.y_train[:2])
    built = time.perf_counter() - t0
    inputs = fit_inputs(feed, data, hp.batch_size, seed)
    timer, seconds = epoch_timer()
    model.fit(**inputs, epochs=epochs, callbacks=[timer], verbose=0)
    later = statistics.median(seconds[1:]) if len(seconds) > 1 else None
    return {
        "build_s": built,
        "epochs_s": seconds,
        "later_epoch_s": later,
        "first_extra_s": seconds[0] - later if later is not None else None,
        "feed_alone_s": feed_alone(feed, data, hp.batch_size, seed),
    }


def table(rows: list[dict[str, Any]], spec: DatasetSpec, load_s: float, epochs: int) -> str:
    """Per model and feed: seconds per later epoch over the rounds, ÷ automl's, the feed alone
    and the first epoch's extra."""
    train = int(spec.train_size * (1 - spec.validation_split))
    lines = [
        f"distorted_digits at {spec.train_size:,} images ({train:,} to train, "
        f"{spec.train_size - train:,} to validate, 28x28), one process on every core; "
        f"{epochs} epochs per fit; spread over {len({r['round'] for r in rows})} rounds. "
        f"Reading the set from the cache: {load_s:.2f} s.",
        "",
        "| model | feed | s per later epoch | ÷ automl | feed alone s | first epoch extra s "
        "| build s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m, values in enumerate(MODELS):
        model = (
            f"depth {values['depth']}, width {values['width']}, BN "
            + ("on" if values["batch_norm"] else "off")
            + f", batch {values['batch_size']}"
        )
        mine = [r for r in rows if r["model"] == m]
        base = {r["round"]: r["later_epoch_s"] for r in mine if r["feed"] == "automl"}
        for feed in dict.fromkeys(r["feed"] for r in mine):
            got = [r for r in mine if r["feed"] == feed]
            ratios = [r["later_epoch_s"] / base[r["round"]] for r in got if r["round"] in base]
            lines.append(
                f"| {model} | {feed} | {stats.spread(r['later_epoch_s'] for r in got)} "
                f"| {stats.spread(ratios)} | {stats.spread(r['feed_alone_s'] for r in got)} "
                f"| {stats.spread(r['first_extra_s'] for r in got)} "
                f"| {stats.spread(r['build_s'] for r in got)} |"
            )
    return "\n".join(lines)


def run_rounds(
    feeds: list[str], data: Any, epochs: int, rounds: int, report: Callable[[list], None]
) -> list[dict[str, Any]]:
    """Every model on every feed, round after round; `report` sees the rows after each fit."""
    rows: list[dict[str, Any]] = []
    for r in range(rounds):
        order = feeds if r % 2 == 0 else feeds[::-1]
        for m, values in enumerate(MODELS):
            for feed in order:
                found = one_fit(feed, values, data, epochs, seed=r)
                rows.append({"round": r, "model": m, "feed": feed, **found})
                print(f"round {r} model {m} {feed}: {found['later_epoch_s']:.2f} s", flush=True)
                report(rows)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipeline", description=QUESTION)
    parser.add_argument(
        "--train-size", type=int, default=DatasetSpec(name="distorted_digits").train_size
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--feeds", nargs="+", choices=FEEDS, default=list(FEEDS))
    parser.add_argument(
        "--results", type=Path, default=records.RESULTS, help="folder of the record pipeline.json"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from automl.backend import load_keras
    from automl.data.dataset import load_dataset

    load_keras()
    spec = DatasetSpec(name="distorted_digits", train_size=args.train_size)
    load_dataset(spec, 0)  # made and cached once, off the clock
    load_dataset.cache_clear()
    t0 = time.perf_counter()
    data = load_dataset(spec, 0)
    load_s = time.perf_counter() - t0

    def report(rows: list[dict[str, Any]]) -> None:
        shown = table(rows, spec, load_s, args.epochs)
        found = {"train_size": args.train_size, "load_s": load_s, "rows": rows}
        records.save("pipeline", shown, found, QUESTION, started, argv, folder=args.results)

    rows = run_rounds(args.feeds, data, args.epochs, args.rounds, report)
    print(table(rows, spec, load_s, args.epochs))


if __name__ == "__main__":
    main()
