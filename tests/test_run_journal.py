"""Journal files that a kill tore, that hold garbage, or that are not journals at all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from typer.testing import CliRunner

from automl.cli.app import app
from automl.cli.servers import dashboard_service
from automl.errors import StorageError
from automl.run.journal import TORN_SUFFIX, good_end
from automl.run.storage import open_storage
from tests.processes import environment, finish, start_run, study_file

runner = CliRunner()

# A writer that appends to the journal as fast as it can, with records big enough that a
# kill lands inside one's write now and then.
WRITER = """
import sys
import optuna
from automl.run.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(
    study_name="fast", storage=open_storage(sys.argv[1]), load_if_exists=True
)
print("started", flush=True)
while True:
    trial = study.ask()
    trial.set_user_attr("blob", "x" * 4_000_000)
    study.tell(trial, trial.suggest_float("x", 0, 1))
"""


def _journal(path: Path) -> Path:
    """A real journal: two studies of finished trials, written by Optuna through automl."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(str(path))
    for name in ("kept", "other"):
        study = optuna.create_study(study_name=name, storage=storage)
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    return path


def _numbers(path: Path, name: str) -> list[int]:
    study = optuna.load_study(study_name=name, storage=open_storage(str(path), readonly=True))
    return [t.number for t in study.get_trials() if t.state.name == "COMPLETE"]


def _last_line_start(data: bytes) -> int:
    return data.rstrip(b"\n").rfind(b"\n") + 1


def _torn(tmp_path: Path, cut: str) -> tuple[Path, bytes]:
    """A journal whose last record a write left unfinished; returns it and its good part."""
    path = _journal(tmp_path / "automl.journal")
    data = path.read_bytes()
    start = _last_line_start(data)
    last = data[start:]
    torn = {
        "one byte": last[:1],
        "record start": last[:11],
        "half": last[: len(last) // 2],
        "all but the newline": last[:-1],
        "half and a newline": last[: len(last) // 2] + b"\n",
        "zeros of a full disk": b"\0" * 64,
    }[cut]
    path.write_bytes(data[:start] + torn)
    return path, data[:start]


# Where a write can stop inside the journal's last record (see `_torn`).
CUTS = [
    "one byte",
    "record start",
    "half",
    "all but the newline",
    "half and a newline",
    "zeros of a full disk",
]


@pytest.mark.parametrize("cut", CUTS)
def test_readers_read_a_torn_journal_and_leave_it_as_it_is(tmp_path: Path, cut: str) -> None:
    path, _ = _torn(tmp_path, cut)
    before = path.read_bytes()
    listed = runner.invoke(app, ["studies", "--storage", str(path)])
    assert listed.exit_code == 0, listed.output
    assert "kept" in listed.output and "other" in listed.output
    best = runner.invoke(app, ["best", "kept", "--storage", str(path)])
    assert best.exit_code == 0, best.output
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["automl.journal"]


@pytest.mark.parametrize("cut", CUTS)
def test_a_writer_moves_a_torn_tail_aside_and_the_studies_go_on(
    tmp_path: Path, cut: str, capfd: pytest.CaptureFixture[str]
) -> None:
    path, good = _torn(tmp_path, cut)
    torn = path.read_bytes()[len(good) :]
    kept = _numbers(path, "kept")
    other = _numbers(path, "other")
    study = optuna.load_study(study_name="kept", storage=open_storage(str(path)))
    (warning,) = capfd.readouterr().err.strip().splitlines()
    (backup,) = tmp_path.glob(f"automl.journal{TORN_SUFFIX}*")
    assert warning.startswith(f"warning: storage {path}: its last line was torn")
    assert str(backup) in warning
    assert backup.read_bytes() == torn
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    assert path.read_bytes().startswith(good)
    assert _numbers(path, "kept") == [*kept, len(kept), len(kept) + 1]
    assert _numbers(path, "other") == other
    assert good_end(path) == path.stat().st_size
    listed = runner.invoke(app, ["studies", "--storage", str(path)])
    assert listed.exit_code == 0 and "kept" in listed.output


GARBAGE = {
    "text": b"not a record\n",
    "an empty line": b"\n",
    "a torn record then a newline": b'{"op_code":4,"worker_id\n',
    "JSON that is no record": b'{"name": "x"}\n',
    "bytes that are not UTF-8": b'{"op_code":\xff\xfe}\n',
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_inside_a_journal_is_one_line_naming_it_and_nothing_changes(
    tmp_path: Path, kind: str
) -> None:
    path = _journal(tmp_path / "automl.journal")
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join([*lines[:3], GARBAGE[kind], *lines[3:]]))
    before = path.read_bytes()
    spec = study_file(tmp_path, "kept")
    for command in (["studies"], ["best", "kept"], ["run", str(spec)]):
        result = runner.invoke(app, [*command, "--storage", str(path)])
        assert result.exit_code == 2
        (line,) = result.output.strip().splitlines()
        assert line.startswith(f"error: storage {path}: line 4 is not an Optuna journal record")
    with pytest.raises(StorageError, match="line 4 is not an Optuna journal record"):
        open_storage(str(path))
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["automl.journal", "kept.yaml"]


NOT_JOURNALS = {
    "a PNG": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)),
    "a study file": b"name: digits-quick\ndataset: digits\n",
    "a one-line study file": b"name: digits-quick",
    "a JSON file": b'{"name": "x"}\n',
    "a long binary line": b"\1" * (3 << 20),
}


@pytest.mark.parametrize("kind", sorted(NOT_JOURNALS))
def test_a_file_that_is_not_a_journal_is_refused_before_anything_is_written(
    workdir: Path, kind: str
) -> None:
    path = workdir / "notes.txt"
    path.write_bytes(NOT_JOURNALS[kind])
    spec = study_file(workdir, "s")
    for command in (["run", str(spec)], ["studies"]):
        result = runner.invoke(app, [*command, "--storage", str(path)])
        assert result.exit_code == 2
        (line,) = result.output.strip().splitlines()
        assert line == (
            f"error: storage {path}: is not an Optuna journal (its first line is not a journal "
            "record); name a journal file, or a new one"
        )
    assert path.read_bytes() == NOT_JOURNALS[kind]
    assert sorted(p.name for p in workdir.iterdir()) == ["notes.txt", "s.yaml"]


@pytest.mark.parametrize("where", ["a folder", "a folder with a journal's name", "a FIFO"])
def test_a_path_that_is_not_a_file_is_refused(workdir: Path, where: str) -> None:
    path = workdir / ("store" if where == "a folder" else "automl.journal")
    if where == "a FIFO":
        os.mkfifo(path)
    else:
        path.mkdir()
    spec = study_file(workdir, "s")
    result = runner.invoke(app, ["run", str(spec), "--storage", str(path)])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line in (
        f"error: storage {path}: is a folder, not a file",
        f"error: storage {path}: is not a regular file",
    )
    listed = runner.invoke(app, ["studies", "--storage", str(path)])
    assert listed.exit_code == 2
    assert listed.output.startswith(f"error: storage {path}: is ")
    assert sorted(p.name for p in workdir.iterdir()) == sorted([path.name, "s.yaml"])


def test_a_journal_torn_by_a_killed_writer_is_repaired_by_the_next_one(tmp_path: Path) -> None:
    """Real kills mid-append: each leaves the journal readable, and the next writer goes on."""
    path = tmp_path / "automl.journal"
    torn = 0
    for attempt in range(6):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path)],
            env=environment(tmp_path),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert writer.stdout is not None and writer.stdout.readline() == "started\n"
        time.sleep(0.3 + 0.07 * attempt)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        # The kill may also leave Optuna's lock behind, which the next writer waits out.
        Path(f"{path}.lock").unlink(missing_ok=True)
        size = path.stat().st_size
        torn += good_end(path) < size
        before = _numbers(path, "fast")  # a reader reads it as it is
        assert path.stat().st_size == size
        study = optuna.load_study(study_name="fast", storage=open_storage(str(path)))
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
        assert len(_numbers(path, "fast")) == len(before) + 1
    assert good_end(path) == path.stat().st_size
    print(f"{torn} of 6 kills tore the journal's last line")


# A writer that a full disk stops inside a record: the file may grow only to a byte inside
# the next record's line (RLIMIT_FSIZE, the kernel's own cut), and the write fails there.
FULL_DISK_WRITER = """
import resource, sys
import optuna
from automl.run.storage import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="kept", storage=open_storage(sys.argv[1]))
limit = int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
"""


@pytest.mark.parametrize("into", [1, 9, 40, 90])
def test_a_write_that_a_full_disk_cut_short_is_repaired_by_the_next_writer(
    tmp_path: Path, into: int
) -> None:
    path = _journal(tmp_path / "automl.journal")
    good = path.read_bytes()
    kept = _numbers(path, "kept")
    writer = subprocess.run(
        [sys.executable, "-c", FULL_DISK_WRITER, str(path), str(len(good) + into)],
        env=environment(tmp_path),
        capture_output=True,
        text=True,
    )
    assert writer.returncode != 0 and "File too large" in writer.stderr
    data = path.read_bytes()
    assert len(data) == len(good) + into and good_end(path) == len(good)  # torn, for real
    assert _numbers(path, "kept") == kept  # readers read it
    assert path.read_bytes() == data
    study = optuna.load_study(study_name="kept", storage=open_storage(str(path)))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    (backup,) = tmp_path.glob(f"automl.journal{TORN_SUFFIX}*")
    assert backup.read_bytes() == data[len(good) :]
    assert _numbers(path, "kept") == [*kept, len(kept)]
    assert good_end(path) == path.stat().st_size


def test_an_empty_journal_is_a_new_one(workdir: Path) -> None:
    path = workdir / "automl.journal"
    path.touch()
    listed = runner.invoke(app, ["studies", "--storage", str(path)])
    assert listed.exit_code == 0, listed.output
    study = optuna.create_study(study_name="new", storage=open_storage(str(path)))
    assert study.study_name == "new" and good_end(path) == path.stat().st_size


@pytest.mark.slow
def test_automl_run_goes_on_from_a_torn_journal(tmp_path: Path) -> None:
    """`automl run` itself, on a journal whose last record a write left unfinished."""
    spec = study_file(tmp_path, "tiny", trials=2)
    code, out = finish(start_run(tmp_path, spec, "--trials", "1"))
    assert code == 0, out
    path = tmp_path / "automl.journal"
    data = path.read_bytes()
    cut = _last_line_start(data) + 20
    path.write_bytes(data[:cut])
    code, out = finish(start_run(tmp_path, spec))
    assert code == 0, out
    assert "warning: storage automl.journal: its last line was torn" in out
    (backup,) = tmp_path.glob(f"automl.journal{TORN_SUFFIX}*")
    assert backup.read_bytes() == data[_last_line_start(data) : cut]
    assert _numbers(path, "tiny") == [0, 1]
    best = runner.invoke(app, ["best", "tiny", "--storage", str(path)])
    assert best.exit_code == 0, best.output


def test_the_dashboard_which_can_delete_studies_repairs_a_torn_journal_first(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path, good = _torn(tmp_path, "half")
    dashboard_service(str(path), "127.0.0.1", 0, None)
    assert "its last line was torn" in capfd.readouterr().err
    assert path.read_bytes() == good
    assert len(list(tmp_path.glob(f"automl.journal{TORN_SUFFIX}*"))) == 1


# A writer whose records are large enough that one write takes tens of milliseconds: a kill
# aimed while the file ends inside a record lands inside that record's write.
BIG_WRITER = WRITER.replace("4_000_000", "64_000_000")


def _kill_mid_record(path: Path, tmp_path: Path) -> bool:
    """Start a writer and SIGKILL it while the journal ends inside a record; True if it did."""
    writer = subprocess.Popen(
        [sys.executable, "-c", BIG_WRITER, str(path)],
        env=environment(tmp_path),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdout.readline() == "started\n"
    end = time.time() + 20.0
    aimed = False
    while time.time() < end and writer.poll() is None:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() > 0:
                f.seek(-1, os.SEEK_END)
                aimed = f.read(1) != b"\n"
        if aimed:
            break
        time.sleep(0.001)
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    Path(f"{path}.lock").unlink(missing_ok=True)  # the kill may leave Optuna's lock behind
    return aimed


def test_a_kill_inside_a_write_tears_the_journal_and_the_next_writer_repairs_it(
    tmp_path: Path,
) -> None:
    """A real SIGKILL inside a record's write leaves a torn last line; readers read the rest as
    it is, the next writer moves the torn bytes aside, and no finished trial is lost."""
    path = _journal(tmp_path / "automl.journal")
    kept = _numbers(path, "kept")
    for _ in range(5):
        if _kill_mid_record(path, tmp_path) and good_end(path) < path.stat().st_size:
            break
    size = path.stat().st_size
    assert good_end(path) < size, "no kill landed inside a write in 5 tries"
    assert _numbers(path, "kept") == kept and path.stat().st_size == size  # read, unchanged
    study = optuna.load_study(study_name="kept", storage=open_storage(str(path)))
    assert good_end(path) == path.stat().st_size  # the writer cut the torn tail off
    assert list(tmp_path.glob(f"automl.journal{TORN_SUFFIX}*")), "the torn bytes were kept aside"
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=1)
    assert _numbers(path, "kept") == [*kept, max(kept) + 1]
