"""The study file's `dataset` section: a data set's name and options, checked into a frozen
DatasetSpec (whether its files exist and hold images is `automl.data`'s to check)."""

from __future__ import annotations

import math
from typing import Any

from automl.spec.problems import Problems, as_integer, as_number, choice, quoted, whole_number
from automl.spec.schema import (
    DATASET_OPTIONS,
    DATASETS,
    GENERATED,
    GENERATED_OPTIONS,
    DatasetSpec,
)

# The validation split of a generated set needs an image of each of its 10 classes, and so do
# the images left to train on.
LEAST_PER_SPLIT = 10


def parse_dataset(value: Any, problems: Problems) -> DatasetSpec:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        problems.add("dataset", f"must be a name or a mapping with name:, got {quoted(value)}")
        return DatasetSpec()
    for key in value:
        if key not in DATASET_OPTIONS:
            problems.add(f"dataset.{key}", f"unknown option; known: {', '.join(DATASET_OPTIONS)}")
    name = value.get("name")
    if name not in DATASETS:
        problems.add("dataset.name", f"must be one of {', '.join(DATASETS)}, got {quoted(name)}")
        name = "digits"
    path = _dataset_path(value, name, problems)
    label_mode = _label_mode(value, name, problems)
    color_mode = _color_mode(value, problems)
    image_size = _image_size(value, problems)
    split = _validation_split(value, problems)
    max_samples = whole_number(value, "max_samples", 2, None, problems, "dataset.max_samples")
    difficulty, train_size, test_size = _generated(value, name, split, problems)
    return DatasetSpec(
        name=str(name),
        path=path,
        label_mode=label_mode,
        image_size=image_size,
        color_mode=color_mode,
        validation_split=split,
        max_samples=max_samples,
        difficulty=difficulty,
        train_size=train_size,
        test_size=test_size,
    )


def _dataset_path(value: dict[str, Any], name: str, problems: Problems) -> str | None:
    path = value.get("path")
    if path is not None and (not isinstance(path, str) or not path.strip()):
        problems.add("dataset.path", f"must be a path, got {quoted(path)}")
        path = None
    if name in ("folder", "npz") and path is None:
        problems.add("dataset.path", f"required for dataset {name}")
    if name == "digits" and path is not None:
        problems.add("dataset.path", "digits comes with scikit-learn; it takes no path")
    if name in GENERATED and path is not None:
        problems.add("dataset.path", f"{name} is made from scikit-learn's digits; it takes no path")
    return path


def _generated(
    value: dict[str, Any], name: str, split: float, problems: Problems
) -> tuple[float, int, int]:
    """difficulty, train_size and test_size: options of the generated sets only."""
    default = DatasetSpec()
    if name not in GENERATED:
        for key in GENERATED_OPTIONS:
            if key in value:
                problems.add(
                    f"dataset.{key}", f"only {' and '.join(GENERATED)} take it, not {name}"
                )
        return default.difficulty, default.train_size, default.test_size
    given = value.get("difficulty")
    difficulty = default.difficulty if given is None else as_number(given)
    if difficulty is None or not math.isfinite(difficulty) or difficulty < 0:
        problems.add("dataset.difficulty", f"must be a number >= 0, got {quoted(given)}")
        difficulty = default.difficulty
    train = whole_number(
        value, "train_size", 2 * LEAST_PER_SPLIT, default.train_size, problems, "dataset.train_size"
    )
    test = whole_number(value, "test_size", 0, default.test_size, problems, "dataset.test_size")
    assert train is not None and test is not None  # both have a default
    validation = int(round(train * split))
    if min(validation, train - validation) < LEAST_PER_SPLIT:
        problems.add(
            "dataset.train_size",
            f"{train} images with validation_split {split:g} leave {validation} to validate "
            f"on and {train - validation} to train on; each needs {LEAST_PER_SPLIT} or more "
            "(one per class)",
        )
    return difficulty, train, test


def _label_mode(value: dict[str, Any], name: str, problems: Problems) -> str:
    where = "dataset.label_mode"
    label_mode = choice(value, "label_mode", ("fine", "coarse"), "fine", problems, where)
    if label_mode == "coarse" and name != "cifar100":
        problems.add(where, f"only cifar100 has fine and coarse labels, not {name}")
    return label_mode


def _color_mode(value: dict[str, Any], problems: Problems) -> str | None:
    color_mode = value.get("color_mode")
    if color_mode is not None and color_mode not in ("grayscale", "rgb"):
        problems.add("dataset.color_mode", f"must be grayscale or rgb, got {quoted(color_mode)}")
        return None
    return color_mode


def _image_size(value: dict[str, Any], problems: Problems) -> tuple[int, int] | None:
    """`image_size: 32` or `[height, width]`."""
    image_size = value.get("image_size")
    if image_size is None:
        return None
    sides = image_size if isinstance(image_size, list) else [image_size, image_size]
    ints = [as_integer(s) for s in sides]
    if len(ints) != 2 or any(s is None or s < 1 for s in ints):
        problems.add(
            "dataset.image_size",
            f"must be a size or [height, width] > 0, got {quoted(image_size)}",
        )
        return None
    return (int(ints[0] or 0), int(ints[1] or 0))


def _validation_split(value: dict[str, Any], problems: Problems) -> float:
    split = as_number(value.get("validation_split", 0.2))
    if split is None or not 0 < split < 1:
        problems.add(
            "dataset.validation_split",
            f"must be a fraction between 0 and 1, got {quoted(value.get('validation_split'))}",
        )
        return 0.2
    return split
