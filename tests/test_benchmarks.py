"""The benchmark harness's own pure parts: the data every arm trains on, the study file it hands
automl, and the arithmetic of its tables. No training here (the benchmarks themselves train)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from automl.data.dataset import load_dataset
from automl.search.space import optuna_name
from automl.spec.reading import load_spec
from automl.spec.rules import parse
from benchmarks import compare, parallel
from benchmarks.compare import tables
from benchmarks.harness import profiler, workload
from benchmarks.harness.automl_cli import env_with_repo, write_study
from tests.data_files import mnist_arrays, write_fashion


def _rows(x: np.ndarray) -> set[bytes]:
    return {row.tobytes() for row in x.reshape(len(x), -1)}


def test_automl_trains_on_exactly_the_benchmarks_images_and_never_sees_the_test_set(
    tmp_path: Path,
) -> None:
    data = workload.load(1)
    # What automl reads from the study file the benchmark writes.
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(workload.study_file("b", 1)), encoding="utf-8")
    spec = parse(yaml.safe_load(path.read_text()))
    seen = load_dataset(spec.dataset, spec.seed or 0)
    assert np.array_equal(seen.x_train, data.x_train)
    assert np.array_equal(seen.y_val, data.y_val)
    assert len(data.y_train) + len(data.y_val) + len(data.y_test) == workload.DIGITS_TOTAL
    assert not _rows(data.x_test) & _rows(np.concatenate([data.x_train, data.x_val]))
    # The test set is stratified: every digit appears about equally often.
    counts = np.bincount(data.y_test, minlength=10)
    assert counts.min() >= 30 and counts.max() - counts.min() <= 2


def test_a_keras_data_set_is_automls_split_of_its_training_images_tested_on_its_own(
    keras_home: Path, tmp_path: Path
) -> None:
    write_fashion(keras_home / "datasets" / "fashion-mnist", n_train=60, n_test=20)
    written = mnist_arrays(60, 20)
    data = workload.load(1, workload.dataset_spec("fashion_mnist", max_samples=40))
    # 40 of the 60 training images, stratified; the test images are the files' own, untouched.
    kept = np.concatenate([data.y_train, data.y_val])
    assert np.bincount(kept).tolist() == [4] * 10
    assert _rows(np.concatenate([data.x_train, data.x_val])) <= _rows(written["x_train"])
    assert np.array_equal(data.x_test[..., 0], written["x_test"])
    assert np.array_equal(data.y_test, written["y_test"])
    assert (data.input_shape, data.num_classes, data.input_scale) == ((28, 28, 1), 10, 255.0)

    # automl's arm: the study file compare hands it, read by automl's own parser and loader.
    spec = load_spec(write_study(compare.automl_study(1, data, trials=2, epochs=1), tmp_path))
    assert (spec.dataset.name, spec.dataset.max_samples) == ("fashion_mnist", 40)
    load_dataset.cache_clear()  # automl reads the files afresh, as its worker does
    seen = load_dataset(spec.dataset, spec.seed or 0)
    assert np.array_equal(seen.x_train, data.x_train) and np.array_equal(seen.y_train, data.y_train)
    assert np.array_equal(seen.x_val, data.x_val) and np.array_equal(seen.y_val, data.y_val)


def test_a_generated_set_is_made_at_the_benchmarks_size_and_automl_trains_on_the_same_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOML_DATA_CACHE", str(tmp_path / "cache"))
    data = workload.load(2, workload.dataset_spec("distorted_digits", max_samples=300))
    # 300 images to search on, the validation split among them; its own 2,000 test images.
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (240, 60, 2000)
    assert data.input_shape == (28, 28, 1)

    spec = load_spec(write_study(compare.automl_study(2, data, trials=2, epochs=1), tmp_path))
    load_dataset.cache_clear()  # automl reads the cache afresh, as its worker does
    seen = load_dataset(spec.dataset, spec.seed or 0)
    assert np.array_equal(seen.x_train, data.x_train) and np.array_equal(seen.y_train, data.y_train)
    assert np.array_equal(seen.x_val, data.x_val) and np.array_equal(seen.x_test, data.x_test)


def test_a_data_set_missing_from_the_keras_cache_stops_compare_with_one_line(
    keras_home: Path, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    command = [sys.executable, "-m", "benchmarks.compare", "--dataset", "cifar100"]
    done = subprocess.run(
        [*command, "--arms", "optuna", "--results", str(results)],
        capture_output=True,
        text=True,
        env=env_with_repo(),
        timeout=60,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: cifar100 (CIFAR-100) is not in the Keras cache: put ")
    assert len(done.stderr.splitlines()) == 1
    where = f"cifar-100-python.tar.gz or its extracted cifar-100-python folder in {keras_home}"
    assert f"{where}/datasets (KERAS_HOME moves the cache)" in done.stderr
    assert not results.exists()


def _record(arm: str, seed: int, best_val: float, **fields: Any) -> dict[str, Any]:
    return {
        "arm": arm,
        "seed": seed,
        "seconds": 10.0,
        "epochs": 20,
        "trials": 5,
        "best_val": best_val,
        "test_acc": best_val,
        "curve": [[20, best_val]],
        "load": 1.0,
        **fields,
    }


def test_the_table_keeps_each_data_set_apart_and_shows_every_seeds_ratio() -> None:
    records = [
        _record("optuna", 0, 0.9, dataset="digits", max_samples=workload.KEEP),
        _record("optuna", 1, 0.8, dataset="digits", max_samples=workload.KEEP, seconds=20.0),
        _record("automl", 0, 0.95, dataset="digits", max_samples=workload.KEEP, seconds=5.0),
        _record("automl", 1, 0.85, dataset="digits", max_samples=workload.KEEP, seconds=15.0),
        _record("optuna", 0, 0.5, dataset="fashion_mnist", max_samples=6000),
    ]
    digits, other = compare.table(records).split("Data set: ")[1:]
    assert digits.startswith(f"digits, max_samples {workload.KEEP}\n")
    assert "| optuna | 0,1 | 15.0 [10.0–20.0] |" in digits and "0.5000" not in digits
    assert "| 0.8500 [0.8000–0.9000] |" in digits
    # automl over the script, seed by seed (5/10 and 15/20), and the median of the two
    assert "| automl | 0.62 (0: 0.50, 1: 0.75) |" in digits
    assert other.startswith("fashion_mnist, max_samples 6000\n")
    assert "| optuna | 0 | 10.0 |" in other and "0.9000" not in other


@pytest.mark.slow  # two one-epoch trials in a process that imports TensorFlow
def test_an_arm_runs_on_the_chosen_data_set_and_its_record_says_which(
    keras_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_fashion(keras_home / "datasets" / "fashion-mnist", n_train=60, n_test=20)
    results = tmp_path / "results"
    options = ["--trials", "2", "--epochs", "1", "--dataset", "fashion_mnist", "--max-samples"]
    # automl's arm: it needs nothing beyond automl itself (the others need the bench extra).
    compare.main(["--arms", "automl", "--seeds", "0", *options, "40", "--results", str(results)])
    (record,) = json.loads((results / "compare.json").read_text())["data"]
    assert (record["dataset"], record["max_samples"]) == ("fashion_mnist", 40)
    assert (record["trials"], record["epochs"]) == (2, 2)
    # Scored on the 20 fake test images (not digits' 359): a whole number of them right.
    right = record["test_acc"] * 20
    assert right == pytest.approx(round(right), abs=1e-4)
    assert "Data set: fashion_mnist, max_samples 40\n" in capsys.readouterr().out


def test_the_study_file_searches_the_shared_space_under_the_names_every_tool_uses() -> None:
    spec = parse(workload.study_file("b", 0))
    names = {optuna_name(p, grid=False) for p in spec.searched}
    assert names == {workload.searched_name(d) for d in workload.SPACE} | set(workload.BOOLEAN)
    assert spec.epochs == workload.EPOCHS and spec.trials == workload.TRIALS
    assert spec.pruner.name == "hyperband" and spec.sampler.name == "tpe"


def test_sampled_values_become_automls_hyperparameters() -> None:
    configs = workload.random_configs(50, seed=3)
    assert configs == workload.random_configs(50, seed=3)
    for config in configs:
        hp = workload.hyperparameters(config)
        assert 0.8 <= hp.beta_1 <= 0.99
        assert 1e-4 <= hp.learning_rate <= 1e-1
        assert isinstance(hp.depth, int) and 1 <= hp.depth <= 3
        assert isinstance(hp.width, int) and 8 <= hp.width <= 128
        assert abs(hp.beta_1 - (1 - config["one_minus_beta_1"])) < 1e-12
    assert {c["batch_norm"] for c in configs} == {True, False}


def test_grid_has_every_combination_once() -> None:
    cells = compare.grid_cells()
    assert len(cells) == 3 * 2 * 2 * 2
    assert len({tuple(sorted(c.items())) for c in cells}) == len(cells)


def test_epochs_to_reach_counts_the_compute_spent_until_the_target_is_first_met() -> None:
    ended = [(1, None, 2.0), (12, 0.95, 5.0), (3, None, 6.0), (12, 0.99, 9.0), (12, 0.98, 12.0)]
    points = compare.curve(ended)
    assert [p[:2] for p in points] == [
        (1, float("-inf")),
        (13, 0.95),
        (16, 0.95),
        (28, 0.99),
        (40, 0.99),
    ]
    assert compare.epochs_to_reach([list(p) for p in points], 0.99) == 28
    assert compare.epochs_to_reach([list(p) for p in points], 0.995) is None
    assert tables.seconds_to_reach([list(p) for p in points], 0.99) == 9.0
    assert tables.best_by([list(p) for p in points], 8.0) == 0.95
    assert tables.best_by([list(p) for p in points], 1.0) is None


def test_the_race_table_scores_every_arm_at_the_weakest_best_and_the_quickest_wall() -> None:
    Ended = list[tuple[int, float | None, float]]  # (epochs, value, clock) as each trial ended

    def arm(name: str, seconds: float, curve: Ended) -> dict[str, Any]:
        points = [list(p) for p in compare.curve(curve)]
        best, epochs = max(p[1] for p in points), points[-1][0]
        return {
            "arm": name,
            "seed": 0,
            "seconds": seconds,
            "epochs": epochs,
            "best_val": best,
            "curve": points,
        }

    fast = arm("automl", 10.0, [(3, 0.80, 4.0), (6, 0.86, 10.0)])
    slow = arm("optuna", 30.0, [(6, 0.70, 12.0), (6, 0.84, 20.0), (6, 0.90, 30.0)])
    shown = tables._race({"automl": [fast], "optuna": [slow]})
    assert "| 0 | automl | 0.8600 | 10.0 | 10.0 | 0.8600 |" in shown
    # The slower arm met automl's best (0.86) only with its last trial; at 10 s it had nothing.
    assert "| 0 | optuna | 0.8600 | 30.0 | 10.0 | - |" in shown
    # automl trained 9 epochs to the script's 18 in a third of its wall: 2/3 the cost per epoch.
    assert "| automl | 0: 0.50 × 0.67 = 0.33 |" in tables._parts(
        {"automl": [fast], "optuna": [slow]}
    )


def test_the_all_busy_rate_leaves_out_the_start_and_the_end_where_a_worker_idles() -> None:
    # Worker 1 starts at 0 and ends at 10; worker 2 starts at 1 and ends at 7: both are busy from
    # 1 to 7. Inside that window: trial 0 (0-4, 3 of 4 s), trial 2 (4-8, 3 of 4 s), trials 1
    # (1-4) and 3 (4-7) whole; trial 4 (8-10) lies outside. All of one size: 3.5 trials in 6 s.
    trials = [
        (1, 0, 0.0, 4.0),
        (2, 1, 1.0, 4.0),
        (1, 2, 4.0, 8.0),
        (2, 3, 4.0, 7.0),
        (1, 4, 8.0, 10.0),
    ]  # (worker, trial number, start, end)
    same = dict.fromkeys(range(5), 1.0)
    assert parallel.all_busy_rate(trials, same) == pytest.approx(3.5 / 6 * 3600)
    # Trials 1 and 3 took twice as long as the others when one worker ran them alone: the window
    # holds 0.75 + 2 + 0.75 + 2 = 5.5 trials of average size (sizes from that run: mean 1.4 s).
    alone = [(9, n, 0.0, seconds) for n, seconds in enumerate([1.0, 2.0, 1.0, 2.0, 1.0])]
    weighed = parallel.sizes(alone)
    assert weighed[1] == pytest.approx(2 / 1.4)
    assert parallel.all_busy_rate(trials, weighed) == pytest.approx(5.5 / 1.4 / 6 * 3600)
    # One worker: every trial, first start to last end.
    one = [t for t in trials if t[0] == 1]
    assert parallel.all_busy_rate(one, same) == pytest.approx(3 / 10 * 3600)


def test_profile_samples_go_to_the_deepest_bucket_of_the_worker_main_thread(
    tmp_path: Path,
) -> None:
    sup = 'process 10:"python -m automl run s.yaml"'
    server = sup + ';process 11:"python -c from multiprocessing.forkserver import main"'
    worker = server + ';process 13:"python -c from multiprocessing.forkserver import main"'
    plotter = worker + ';process 15:"python -c from multiprocessing.forkserver import main"'
    trial = "worker_main (w.py:1);Study.optimize (s.py:2);Objective._train (o.py:3)"
    fit = trial + ";TensorFlowTrainer.fit (t.py:4);step (t.py:5)"
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "\n".join(
            [
                f"{sup};thread (10): MainThread;main (cli.py:1) 50",
                f"{server};thread (11): MainThread;main (forkserver.py:1) 30",
                f"{worker};thread (13): MainThread;{fit} 300",
                f"{worker};thread (13): MainThread;{fit};EpochReporter.on_epoch_end (o.py:9) 20",
                f"{worker};thread (13): MainThread;{trial};clear_session (g.py:1) 40",
                f"{worker};thread (14): Telemetry;Thread._bootstrap (t.py:1) 70",
                f"{plotter};thread (15): MainThread;plot_learning_curves (a.py:1) 90",
            ]
        ),
        encoding="utf-8",
    )
    seconds, _ = profiler.parse(raw)
    rate = profiler.RATE
    assert seconds == {
        "fit": 300 / rate,
        "report + prune (in fit)": 20 / rate,
        "clear_session (and waiting for a model save)": 40 / rate,
    }
