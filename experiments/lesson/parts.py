"""The runs a lesson record was made from (one, or several joined by `--merge`), and which
claims and seeds each ran: read by the page header, the merge and the larger-workload section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

PART_KEYS = ("claims", "seeds", "command", "commit", "date", "duration_s", "machine")


def parts_of(settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs a record was made from, each with its claims, command, commit, date, minutes
    and machine: one unless `--merge` joined several."""
    if "parts" in settings:
        return list(settings["parts"])
    return [{k: settings.get(k) for k in PART_KEYS}]


def covered(part: dict[str, Any], settings: dict[str, Any]) -> set[tuple[int, int]]:
    """The (claim, seed) pairs a part ran (a part recorded before seeds were kept per part ran
    the record's seeds)."""
    seeds = part.get("seeds") or settings["seeds"]
    return {(c, seed) for c in part.get("claims") or [] for seed in seeds}


def seeds_per_claim(settings: dict[str, Any]) -> dict[int, list[int]]:
    """Each claim's seeds over all of the record's parts, in order."""
    found: dict[int, set[int]] = {}
    for part in parts_of(settings):
        for c, seed in covered(part, settings):
            found.setdefault(c, set()).add(seed)
    return {c: sorted(found[c]) for c in sorted(found)}


def claims_and_seeds(settings: dict[str, Any]) -> str:
    """The claims with the seeds they ran: 'claims 1, 3, 4, seeds 0, 1, 2; claim 2, seeds 0, 1'
    (claims that ran the same seeds share one group)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for c, seeds in seeds_per_claim(settings).items():
        groups.setdefault(tuple(seeds), []).append(c)
    return "; ".join(f"{listed('claim', cs)}, {listed('seed', ss)}" for ss, cs in groups.items())


def listed(word: str, items: Sequence[int]) -> str:
    """`claim 2` or `claims 1, 3, 4`."""
    return f"{word}{'s' if len(items) > 1 else ''} {', '.join(map(str, items))}"
