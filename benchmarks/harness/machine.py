"""The machine and versions a benchmark ran on: a Markdown list, or one line for a record.

python -m benchmarks.harness.machine
"""

from __future__ import annotations

import importlib.metadata
import os
import platform

PACKAGES = (
    "tensorflow-cpu",
    "keras",
    "optuna",
    "optuna-integration",
    "mlflow",
    "keras-tuner",
    "numpy",
    "scikit-learn",
    "py-spy",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def describe() -> str:
    import psutil

    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return "\n".join(
        [
            f"- CPU: {cpu_model()}, {os.cpu_count()} cores (nproc), "
            f"{psutil.virtual_memory().total / 2**30:.0f} GiB RAM",
            f"- OS: {platform.platform()}, Python {platform.python_version()}",
            f"- load average now (1, 5, 15 min): {load}",
            f"- {', '.join(versions)}",
        ]
    )


def summary() -> str:
    """One line: CPU, cores, memory, OS, Python and TensorFlow, for a record's header."""
    import psutil

    def version(name: str) -> str:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            return "-"

    return (
        f"{cpu_model()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}, "
        f"tensorflow-cpu {version('tensorflow-cpu')}, keras {version('keras')}, "
        f"optuna {version('optuna')}, mlflow {version('mlflow')}"
    )


if __name__ == "__main__":
    print(describe())
