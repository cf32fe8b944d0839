"""`automl new`: a study file written from a few options, checked by spec's rules before it exists.

Without --param the file holds the lesson's space: the learning rate on a log scale, β1 and
β2 on a log scale of 1 − β (1/(1 − β) is what changes), λ on a log scale, depth, width on a
log scale and batch normalization on or off, with ranges sized for the data set's images. A
grid over all of that would be thousands of trials, so `--sampler grid` alone writes the
lesson's grid instead: α ∈ {0.1, 0.01, 0.001} × β1 ∈ {0.8, 0.88, 0.9}, 9 trials.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from automl.data.dataset import check_dataset
from automl.errors import AutomlError, SpecError
from automl.search.factories import check_requirements
from automl.search.space import describe
from automl.spec.overrides import dataset_field, parse_param
from automl.spec.reading import load_yaml
from automl.spec.rules import parse
from automl.spec.schema import PARAMS, StudySpec


@dataclass(frozen=True)
class Suited:
    """What suits a data set: epochs a trial may train, trials, and the model's size ranges."""

    epochs: int
    trials: int
    depth: tuple[int, int]
    width: tuple[int, int]


# Each block halves the image, so 8x8 digits run out of pixels after 3 blocks; 28x28 and 32x32
# images take one more. Only digits' row has been run as a study; the others are starting
# points: more images per epoch need fewer epochs, harder classes wider models.
SUITED: dict[str, Suited] = {
    "digits": Suited(epochs=10, trials=20, depth=(1, 3), width=(8, 64)),
    "mnist": Suited(epochs=5, trials=20, depth=(1, 3), width=(16, 128)),
    "fashion_mnist": Suited(epochs=8, trials=20, depth=(1, 3), width=(16, 128)),
    "cifar10": Suited(epochs=15, trials=30, depth=(2, 4), width=(16, 128)),
    "cifar100": Suited(epochs=20, trials=30, depth=(2, 4), width=(32, 128)),
    "distorted_digits": Suited(epochs=8, trials=20, depth=(1, 3), width=(16, 128)),
    "distorted_digits_rgb": Suited(epochs=10, trials=20, depth=(1, 3), width=(16, 128)),
}
# A folder or an .npz file: its image size is unknown until it is loaded.
ANY_IMAGES = Suited(epochs=10, trials=20, depth=(1, 4), width=(8, 128))

# Batch-normalized models can score near chance in their first epoch while BN's moving averages
# settle, so the median pruner waits two epochs and five trials before it judges: on digits
# with the default space, plain `median` pruned at its first epoch the BN trial that, given
# this warm-up, became the study's best.
DEFAULT_PRUNER: dict[str, Any] = {"name": "median", "n_startup_trials": 5, "n_warmup_steps": 2}

# The longest file name most file systems take (ext4, APFS, NTFS: 255 bytes).
MAX_FILE_NAME = 255

LESSON_GRID: dict[str, Any] = {"learning_rate": [0.1, 0.01, 0.001], "beta_1": [0.8, 0.88, 0.9]}


def default_params(dataset: str, grid: bool) -> dict[str, Any]:
    """The lesson's search space for a data set (its 3x3 grid under the grid sampler)."""
    if grid:
        return dict(LESSON_GRID)
    suited = SUITED.get(dataset, ANY_IMAGES)
    return {
        "learning_rate": {"low": 1e-4, "high": 1e-1, "log": True},
        "beta_1": {"low": 0.8, "high": 0.99, "scale": "log1m"},
        "beta_2": {"low": 0.99, "high": 0.9995, "scale": "log1m"},
        "l2": {"low": 1e-6, "high": 1e-2, "log": True},
        "depth": {"low": suited.depth[0], "high": suited.depth[1]},
        "width": {"low": suited.width[0], "high": suited.width[1], "log": True},
        "batch_norm": [True, False],
    }


def study_raw(
    name: str,
    dataset: str = "digits",
    sampler: str = "tpe",
    pruner: str | None = None,
    trials: int | None = None,
    epochs: int | None = None,
    params: list[str] | None = None,
) -> dict[str, Any]:
    """The raw mapping of a new study file, as spec.parse reads one."""
    data = dataset_field(dataset)
    kind = data if isinstance(data, str) else data["name"]
    suited = SUITED.get(kind, ANY_IMAGES)
    raw: dict[str, Any] = {
        "name": name,
        "dataset": data,
        "metric": "val_accuracy",
        "epochs": epochs if epochs is not None else suited.epochs,
        "sampler": sampler,
        "pruner": pruner if pruner is not None else dict(DEFAULT_PRUNER),
    }
    if trials is not None or sampler != "grid":  # a grid's budget is its size
        raw["trials"] = trials if trials is not None else suited.trials
    raw["seed"] = 0
    if not params:
        raw["params"] = default_params(kind, sampler == "grid")
        return raw
    raw["params"] = {}
    for text in params:
        pname, value = parse_param(text)
        if pname in raw["params"]:
            raise SpecError([f"--param '{text}': {pname} is given twice"])
        raw["params"][pname] = value
    return raw


def render(raw: dict[str, Any], spec: StudySpec, path: Path) -> str:
    """The file's text: plain YAML (numbers as plain YAML reads them), a comment per parameter."""
    how = dict(line.split(": ", 1) for line in describe(spec))
    lines = [
        "# Written by `automl new`. The comment above each parameter says what it means.",
        f"# Check it: automl validate {path}    Run it: automl run {path}",
        f"# A variant, without a copy: automl run {path} --set name=NEW_NAME --set epochs=3",
    ]
    notes = {
        "epochs": "the most epochs a trial trains",
        "trials": "in total, counted across all workers",
        "seed": "seeds the data split and the sampler",
    }
    for key, value in raw.items():
        if key == "params":
            continue
        note = f"  # {notes[key]}" if key in notes else ""
        lines.append(f"{key}: {_flow(value)}{note}")
    if "trials" not in raw:
        lines.append("# trials: the grid's size (every combination once)")
    lines.append("params:")
    for pname, value in raw["params"].items():
        lines.append(f"  # {PARAMS[pname].doc}; {how[pname]}")
        lines.append(f"  {pname}: {_flow(value)}")
    return "\n".join(lines) + "\n"


def new_study(
    name: str,
    dataset: str,
    sampler: str,
    pruner: str | None,
    trials: int | None,
    epochs: int | None,
    params: list[str] | None,
    out: Path | None,
    force: bool,
) -> tuple[Path, StudySpec]:
    """`automl new`: write the study file (to studies/NAME.yaml unless `out` names another)."""
    if out is None:
        check_file_name(name)
    path = out if out is not None else Path("studies") / f"{name}.yaml"
    raw = study_raw(name, dataset, sampler, pruner, trials, epochs, params)
    return path, write_study(path, raw, force=force)


def check_file_name(name: str) -> None:
    """A name that becomes studies/NAME.yaml: one plain file name, inside studies/."""
    size = len(f"{name}.yaml".encode("utf-8", "surrogatepass"))
    if any(c in "/\\" or ord(c) < 32 for c in name):
        problem = "a file name, without '/', '\\' or control characters (NUL, newline, ...)"
    elif size > MAX_FILE_NAME:
        problem = f"at most {MAX_FILE_NAME - len('.yaml')} bytes, got {size - len('.yaml')}"
    else:
        return
    raise AutomlError(
        f"name: {name[:80]!r}{'...' if len(name) > 80 else ''}: the file studies/NAME.yaml "
        f"needs {problem}; pick another name, or give --out"
    )


def write_study(path: Path, raw: dict[str, Any], force: bool = False) -> StudySpec:
    """Check the study and its data set and write it; nothing is written when a rule is broken."""
    if path.exists() and not force:
        raise AutomlError(f"{path} exists; add --force to overwrite it")
    spec = parse(raw)
    check_requirements(spec)  # as `automl validate` does: the file must pass it
    check_dataset(spec.dataset, fetch=False)  # and so must its data set
    text = render(raw, spec, path)
    # What is written is what was checked: the text itself goes through spec's rules.
    spec = parse(load_yaml(text, str(path)), str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise AutomlError(f"cannot write {path}: {exc.strerror or exc}") from None
    return spec


def _flow(value: Any) -> str:
    """One value in YAML flow style; PyYAML writes 1e-05 as 1.0e-05, which plain YAML reads."""
    text: str = yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=10_000, allow_unicode=True
    )
    return text.removesuffix("\n").removesuffix("\n...")
