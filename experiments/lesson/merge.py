"""Two records of the same data set joined into one (`--merge`): the claims and seeds of a page
measured in several runs, each run's command, commit, date and machine kept as a part."""

from __future__ import annotations

from typing import Any

from experiments.lesson.parts import covered, parts_of

# What two runs must share to sit on one page: the data and every `automl run` override.
SHARED = ("dataset", "sets")


def merged(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any] | str:
    """`new`'s runs in place of `old`'s runs of the same claim and seed, the others kept; or
    the settings the two differ in."""
    differ = [k for k in SHARED if old["settings"][k] != new["settings"][k]]
    if differ:
        return ", ".join(differ)
    replaced = {(r["claim"], r["seed"]) for r in new["runs"]}
    runs = [r for r in old["runs"] if (r["claim"], r["seed"]) not in replaced] + new["runs"]
    left = {(r["claim"], r["seed"]) for r in runs} - replaced
    parts = [p for p in parts_of(old["settings"]) if covered(p, old["settings"]) & left]
    parts.append(parts_of(new["settings"])[-1])
    settings = {
        **new["settings"],
        "claims": sorted({r["claim"] for r in runs}),
        "seeds": sorted({r["seed"] for r in runs}),
        "duration_s": sum(p["duration_s"] for p in parts),
        "parts": parts,
    }
    return {"settings": settings, "runs": runs}
