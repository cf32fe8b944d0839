"""The command line's short syntax for fields of a study file: `--param` and `--set`.

Each value becomes the raw fragment a study file would hold (`learning_rate=1e-4..1e-1:log`
is `{low: 0.0001, high: 0.1, log: true}`), so `automl.spec.rules.parse` applies the same rules
and the same messages to a file and to its overrides. Only the syntax is checked here; whether
a value suits its field is for the rules to say.

    name=value                    a fixed value: depth=2, batch_norm=true
    name=a,b,c                    a list: learning_rate=0.1,0.01,0.001
    name=low..high[:log|:log1m][:num=N|:step=S]
                                  a range: beta_2=0.99..0.9995:log1m

and `--dataset` (`--set dataset=`) takes a data set's name, an .npz file or a folder.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from automl.errors import SpecError
from automl.spec.problems import quoted
from automl.spec.reading import load_yaml
from automl.spec.schema import DATASETS

FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SUFFIXES = ":log, :log1m, :num=N, :step=S"


def parse_param(text: str) -> tuple[str, Any]:
    """`--param NAME=VALUE` -> (NAME, the raw value a study file's params: would hold)."""
    where = f"--param {quoted(text)}"
    name, value = _split(text, where, "learning_rate=1e-4..1e-1:log")
    if not NAME.fullmatch(name):
        raise SpecError(
            [f"{where}: {quoted(name)} is not a hyperparameter name (learning_rate, ...)"]
        )
    return name, param_value(value, where)


def parse_set(text: str) -> tuple[str, Any]:
    """`--set KEY=VALUE` -> (dotted KEY, raw value); `params.NAME` takes the --param syntax."""
    where = f"--set {quoted(text)}"
    key, value = _split(text, where, "epochs=3")
    if not FIELD.fullmatch(key):
        raise SpecError(
            [f"{where}: {quoted(key)} is not a field (epochs, sampler.seed, params.l2, ...)"]
        )
    parts = key.split(".")
    if parts[0] == "params" and len(parts) == 2:
        return key, param_value(value, where)
    if key == "dataset":
        return key, dataset_field(value)
    return key, scalar(value)


def parse_sets(texts: Iterable[str]) -> dict[str, Any]:
    """Every --set of a command, in order: a key given twice keeps its last value."""
    return dict(parse_set(t) for t in texts)


def dataset_field(value: str) -> str | dict[str, str]:
    """--dataset: a data set's name, an .npz file, or a folder of one folder per class."""
    if value not in DATASETS and value.endswith(".npz"):
        return {"name": "npz", "path": value}
    if value not in DATASETS and Path(value).is_dir():
        return {"name": "folder", "path": value}
    return value  # a name; spec.parse lists the known ones if it is not one of them


def param_value(text: str, where: str) -> Any:
    """A hyperparameter's value in the --param syntax -> a scalar, a list or a range mapping."""
    body, *suffixes = text.split(":")
    if ".." in body:
        return _range(body, suffixes, where)
    if suffixes:
        raise SpecError([f"{where}: suffixes ({SUFFIXES}) only follow a range low..high"])
    if "," in body:
        items = body.split(",")
        if any(not item.strip() for item in items):
            raise SpecError([f"{where}: a list a,b,c has an empty item"])
        return [scalar(item) for item in items]
    return scalar(body)


def scalar(text: str) -> Any:
    """A value as a study file reads it: numbers (1e-4 too), true/false, null; else the text.

    Only scalars: `a: b` or `[1, 2]` stay text, so a --set value never grows structure.
    """
    text = text.strip()
    try:
        value = load_yaml(text, "")
    except SpecError:
        return text
    return value if value is None or isinstance(value, bool | int | float | str) else text


def _split(text: str, where: str, example: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key or not value:
        raise SpecError([f"{where}: expected KEY=VALUE, e.g. {example}"])
    return key, value


def _range(body: str, suffixes: list[str], where: str) -> dict[str, Any]:
    low_text, _, high_text = body.partition("..")
    if not low_text.strip() or not high_text.strip() or ".." in high_text:
        raise SpecError([f"{where}: a range needs both ends, low..high, got {quoted(body)}"])
    out: dict[str, Any] = {"low": _number(low_text, "low", where)}
    out["high"] = _number(high_text, "high", where)
    for suffix in suffixes:
        option, _, value = suffix.partition("=")
        if suffix in ("log", "log1m"):
            if "log" in out or "scale" in out:
                raise SpecError([f"{where}: give one of :log and :log1m, once"])
            out.update({"log": True} if suffix == "log" else {"scale": "log1m"})
        elif option in ("num", "step"):
            if option in out:
                raise SpecError([f"{where}: :{option}= is given twice"])
            number = _number(value, f":{option}=", where)
            if option == "num" and not isinstance(number, int):
                raise SpecError([f"{where}: :num= must be a whole number, got {quoted(value)}"])
            out[option] = number
        else:
            raise SpecError([f"{where}: unknown suffix :{quoted(suffix)[1:-1]}; known: {SUFFIXES}"])
    return out


def _number(text: str, what: str, where: str) -> int | float:
    value = scalar(text)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError([f"{where}: {what} must be a number, got {quoted(text.strip())}"])
    return value
