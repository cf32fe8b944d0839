"""The errors automl raises on purpose: each one is a user's mistake with a message to show."""


class AutomlError(Exception):
    """A problem the user can fix; the CLI prints it as one line and exits with code 2."""

    def lines(self) -> list[str]:
        return [str(self)]


class SpecError(AutomlError):
    """A study file (or an override of it) breaks one or more rules; one line per problem."""

    def __init__(self, problems: list[str], source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        prefix = f"{self.source}: " if self.source else ""
        return [f"{prefix}{p}" for p in self.problems]


class DataError(AutomlError):
    """A data set cannot be loaded as the study file describes it."""


class StorageError(AutomlError):
    """The Optuna storage or the study in it is not what the command needs."""


class MissingExtraError(AutomlError):
    """An optional dependency is needed for what the study file asks for."""


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
