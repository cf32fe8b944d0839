"""What a supervisor tells whoever watches the run, as a protocol: the CLI's live view
(`automl.cli.progress.Progress`) implements it, and `run` never imports the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

    from automl.spec.schema import StudySpec


class ProgressView(Protocol):
    def start(self, spec: StudySpec, total: int) -> None: ...

    def update(self, trials: Sequence[FrozenTrial]) -> None: ...

    def stop(self) -> None: ...
