"""The journal: durable commits, compaction, recovery from torn, garbled and lost files, and `batmond meters`."""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import batmond.journal as journal_module
from batmond.cli import main
from batmond.config import parse
from batmond.daemon import Daemon, StartupError
from batmond.journal import (
    FRAME,
    JOURNAL_MAGIC,
    Journal,
    JournalLocked,
    Record,
    read_state,
    recover,
)
from batmond.meters import KIND, MeterValues, record_data


def meter_record(key: str, energy: float, alias: str = "b1") -> Record:
    values = MeterValues(energy_charge_kwh=energy, energy_net_kwh=energy, cycles=energy / 10)
    return Record(KIND, key, record_data(alias, values))


def frame_ends(path: Path) -> list[int]:
    """Where each record of a journal file ends."""
    data = path.read_bytes()
    ends, offset = [], len(JOURNAL_MAGIC)
    while offset + FRAME.size <= len(data):
        offset += FRAME.size + struct.unpack_from("<I", data, offset)[0]
        ends.append(offset)
    return ends


def write_history(directory: Path, commits: int = 40, seed: int = 3) -> list[dict]:
    """Commit a random history; return the expected state after each record (index 0: before any)."""
    rng = random.Random(seed)
    journal = Journal.open(directory)
    states = [{}]
    current: dict = {}
    for _ in range(commits):
        batch = [meter_record(key, rng.uniform(0, 100)) for key in rng.sample(["a", "b", "c"], rng.randint(1, 3))]
        journal.commit(batch)
        for record in batch:
            current = current | {(record.kind, record.key): record.data}
            states.append(current)
    journal.close()
    return states


def test_committed_records_survive_a_reopen(tmp_path):
    journal = Journal.open(tmp_path)
    journal.commit([meter_record("a", 1.5), Record("algorithm", "a", {"phase": "absorb", "since": 12})])
    journal.commit([meter_record("a", 2.5)])
    journal.close()
    state = Journal.open(tmp_path)
    assert state.state[(KIND, "a")]["energy_charge_kwh"] == 2.5
    assert state.state[("algorithm", "a")] == {"phase": "absorb", "since": 12}
    assert state.seq == 3
    state.close()


def test_one_writer_at_a_time_and_readers_need_no_lock(tmp_path):
    journal = Journal.open(tmp_path)
    journal.commit([meter_record("a", 1.0)])
    with pytest.raises(JournalLocked, match="in use by another batmond"):
        Journal.open(tmp_path)
    assert read_state(tmp_path).state[(KIND, "a")]["energy_charge_kwh"] == 1.0
    journal.close()
    Journal.open(tmp_path).close()


def test_compaction_keeps_two_generations_and_the_whole_state(tmp_path):
    journal = Journal.open(tmp_path, compact_bytes=2000)
    for i in range(200):
        journal.commit([meter_record("a", float(i)), meter_record("b", float(-i))])
    assert journal.generation > 10
    names = sorted(p.name for p in tmp_path.iterdir())
    gen = journal.generation
    assert names == [f"journal-{gen - 1:08d}", f"journal-{gen:08d}", "lock",
                     f"snapshot-{gen - 1:08d}", f"snapshot-{gen:08d}"]  # fmt: skip
    journal.close()
    recovered = read_state(tmp_path)
    assert recovered.state[(KIND, "a")]["energy_charge_kwh"] == 199.0
    assert recovered.state[(KIND, "b")]["energy_charge_kwh"] == -199.0
    assert recovered.seq == 400 and recovered.problems == []


def count_syncs(monkeypatch) -> list[str]:
    """Record every fsync/fdatasync (they still happen)."""
    calls: list[str] = []
    for name in ("fsync", "fdatasync"):
        real = getattr(os, name)

        def counted(fd, real=real, name=name):
            calls.append(name)
            return real(fd)

        monkeypatch.setattr(os, name, counted)
    return calls


def test_a_commit_syncs_once_and_a_compaction_twice_and_says_so(tmp_path, monkeypatch):
    journal = Journal.open(tmp_path, compact_bytes=2000)
    syncs = count_syncs(monkeypatch)
    reported = []
    for i in range(60):
        before = len(syncs)
        generation = journal.generation
        reported.append(journal.commit([meter_record("a", float(i)), meter_record("b", float(-i))]))
        assert len(syncs) - before == reported[-1]
        assert reported[-1] == (2 if journal.generation > generation else 1)
    assert reported.count(2) >= 5
    # A compacting commit's records live in the new snapshot, not in any journal.
    assert journal.commit([]) == 0
    journal.close()
    assert read_state(tmp_path).state[(KIND, "a")]["energy_charge_kwh"] == 59.0


def test_a_power_cut_during_compaction_keeps_every_committed_record(tmp_path):
    journal = Journal.open(tmp_path / "live", compact_bytes=2000)
    i = 0
    while journal.commit([meter_record("a", float(i))]) == 1:
        i += 1
    gen = journal.generation
    journal.close()  # the compacting commit (value i) returned: it must survive whatever follows
    new_journal = f"journal-{gen:08d}"
    for cut in (0, 5, len(JOURNAL_MAGIC)):  # the new journal's header is only synced with its first records
        copy = tmp_path / f"cut-{cut}"
        shutil.copytree(tmp_path / "live", copy)
        (copy / new_journal).write_bytes(JOURNAL_MAGIC[:cut])
        recovered = recover(copy, repair=True)
        assert recovered.state[(KIND, "a")]["energy_charge_kwh"] == float(i), cut
        assert not recovered.damaged
        # Without its header the journal cannot tell a power cut from a truncation: one line says so.
        empty = [f"{copy / new_journal}: empty ({cut} bytes, no header): nothing replayed from it"]
        assert [p[: len(empty[0])] for p in recovered.problems] == (empty if cut < len(JOURNAL_MAGIC) else [])


def test_a_compaction_that_fails_after_its_snapshot_loses_nothing(tmp_path, monkeypatch, caplog):
    """The disk fails the directory sync once the new snapshot is in place: the writer goes on appending to the
    old journal, which recovery must then read after that snapshot; the compaction is tried again later."""
    journal = Journal.open(tmp_path, compact_bytes=8000)
    real = journal_module._fsync_directory
    failures = []

    def failing(directory):
        failures.append(directory)
        raise OSError(5, "EIO")

    monkeypatch.setattr(journal_module, "_fsync_directory", failing)
    caplog.set_level(logging.INFO, logger="batmond.journal")
    i = -1  # the value last committed
    while not failures:
        i += 1
        assert journal.commit([meter_record("a", float(i))]) == 1
    for _ in range(3):  # not tried again at once: each try costs a sync
        i += 1
        assert journal.commit([meter_record("a", float(i))]) == 1
    assert len(failures) == 1 and journal.generation == 1
    assert (tmp_path / "snapshot-00000002").exists()  # the failed generation's snapshot, one value behind
    assert read_state(tmp_path).state[(KIND, "a")]["energy_charge_kwh"] == float(i)
    monkeypatch.setattr(journal_module, "_fsync_directory", real)
    while journal.commit([meter_record("a", float(i + 1))]) == 1:
        i += 1
        assert read_state(tmp_path).state[(KIND, "a")]["energy_charge_kwh"] == float(i)
    assert journal.generation == 2 and len(failures) == 1
    journal.close()
    assert read_state(tmp_path).state[(KIND, "a")]["energy_charge_kwh"] == float(i + 1)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("compaction failed ([Errno 5] EIO)" in m for m in messages) == 1
    assert sum("compaction works again" in m for m in messages) == 1


def test_a_torn_tail_is_cut_at_the_last_good_record_and_reported_once(tmp_path, caplog):
    journal = Journal.open(tmp_path)
    journal.commit([meter_record("a", 1.0)])
    journal.commit([meter_record("a", 2.0)])
    path = tmp_path / f"journal-{journal.generation:08d}"
    journal.close()
    good = frame_ends(path)[0]
    with path.open("r+b") as handle:
        handle.truncate(good + 7)  # the power went in the middle of the second record
    size = path.stat().st_size
    caplog.set_level(logging.INFO, logger="batmond.journal")
    journal = Journal.open(tmp_path)
    assert journal.state[(KIND, "a")]["energy_charge_kwh"] == 1.0
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    assert f"cut {size - good} bytes of a torn or corrupted tail at byte {good}" in warnings[0]
    assert path.stat().st_size == good
    journal.commit([meter_record("a", 3.0)])
    journal.close()
    assert read_state(tmp_path).state[(KIND, "a")]["energy_charge_kwh"] == 3.0


def test_power_cut_at_any_byte_recovers_a_valid_prefix(tmp_path):
    states = write_history(tmp_path / "original")
    journal_file = next((tmp_path / "original").glob("journal-*"))
    ends = frame_ends(journal_file)
    assert len(ends) == len(states) - 1
    rng = random.Random(11)
    size = journal_file.stat().st_size
    offsets = sorted({0, size - 1, *ends[:3], *(rng.randrange(size) for _ in range(120))})
    for offset in offsets:
        copy = tmp_path / f"cut-{offset}"
        shutil.copytree(tmp_path / "original", copy)
        target = copy / journal_file.name
        with target.open("r+b") as handle:
            handle.truncate(offset)
        complete = sum(end <= offset for end in ends)
        recovered = recover(copy, repair=True)
        assert recovered.state == states[complete], offset
        assert recovered.seq == complete
        assert not recovered.damaged
        # Repaired: a second look finds nothing to cut (a journal cut inside its header is still said empty).
        assert recover(copy).problems == ([] if offset >= len(JOURNAL_MAGIC) else recovered.problems)


def test_a_garbled_byte_anywhere_recovers_the_prefix_before_it(tmp_path):
    states = write_history(tmp_path / "original", seed=5)
    journal_file = next((tmp_path / "original").glob("journal-*"))
    ends = frame_ends(journal_file)
    data = journal_file.read_bytes()
    rng = random.Random(17)
    for offset in sorted({0, len(JOURNAL_MAGIC), *(rng.randrange(len(data)) for _ in range(120))}):
        copy = tmp_path / f"garbled-{offset}"
        shutil.copytree(tmp_path / "original", copy)
        garbled = bytearray(data)
        garbled[offset] ^= rng.randrange(1, 256)
        (copy / journal_file.name).write_bytes(bytes(garbled))
        intact = sum(end <= offset for end in ends)
        recovered = recover(copy)
        assert recovered.state == states[intact], offset
        assert len(recovered.problems) == 1


def test_a_corrupted_snapshot_falls_back_to_the_previous_one(tmp_path, caplog):
    for round_ in range(3):
        journal = Journal.open(tmp_path)
        journal.commit([meter_record("a", float(round_)), meter_record(f"k{round_}", 1.0)])
        journal.close()
    expected = read_state(tmp_path).state
    newest = max(tmp_path.glob("snapshot-*"))
    raw = bytearray(newest.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    newest.write_bytes(bytes(raw))
    assert read_state(tmp_path).state == expected
    caplog.set_level(logging.WARNING, logger="batmond.journal")
    journal = Journal.open(tmp_path)
    assert journal.state == expected
    assert any("corrupted snapshot, falling back" in r.getMessage() for r in caplog.records)
    assert (tmp_path / (newest.name + ".corrupt")).exists()
    journal.close()


def test_nothing_readable_is_an_error_and_the_files_are_kept(tmp_path, caplog):
    journal = Journal.open(tmp_path)
    journal.commit([meter_record("a", 5.0)])
    journal.close()
    for path in [*tmp_path.glob("journal-*"), *tmp_path.glob("snapshot-*")]:
        path.write_bytes(b"\x00" * path.stat().st_size)
    caplog.set_level(logging.WARNING, logger="batmond.journal")
    journal = Journal.open(tmp_path)
    assert journal.state == {}
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("nothing could be recovered" in message for message in errors)
    assert len(list(tmp_path.glob("*.corrupt"))) == 2
    journal.close()


def test_a_reader_never_changes_a_file_being_written(tmp_path):
    journal = Journal.open(tmp_path)
    journal.commit([meter_record("a", 1.0)])
    path = tmp_path / f"journal-{journal.generation:08d}"
    with path.open("ab") as handle:
        handle.write(b"\x40\x00\x00\x00half a rec")  # what a reader may see in the middle of an append
    before = path.read_bytes()
    recovered = read_state(tmp_path)
    assert recovered.state[(KIND, "a")]["energy_charge_kwh"] == 1.0
    assert "ignored (being written, or damaged)" in recovered.problems[0]
    assert path.read_bytes() == before
    journal.close()


def test_a_leftover_temporary_snapshot_is_ignored_and_removed(tmp_path):
    Journal.open(tmp_path).close()
    (tmp_path / "snapshot-00000009.tmp").write_bytes(b"half")
    journal = Journal.open(tmp_path)
    assert not list(tmp_path.glob("*.tmp"))
    journal.close()


# -- batmond meters ------------------------------------------------------------------------------------------


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_meters_json_lists_every_device(tmp_path, capsys):
    journal = Journal.open(tmp_path)
    journal.commit([meter_record("c8478ce4540d", 1.25, "garage"), meter_record("a4c138001234", 0.5, "van")])
    code, out, _ = run_cli(capsys, "meters", "--state-dir", str(tmp_path), "--json")
    journal.close()
    assert code == 0
    devices = {d["id"]: d for d in json.loads(out)["devices"]}
    assert devices["c8478ce4540d"]["alias"] == "garage"
    assert devices["c8478ce4540d"]["meters"] == {
        "energy_charge_kwh": 1.25, "energy_discharge_kwh": 0.0, "energy_net_kwh": 1.25, "charge_net_ah": 0.0,
        "cycles": 0.125,
    }  # fmt: skip
    code, out, _ = run_cli(capsys, "meters", "--state-dir", str(tmp_path))
    assert code == 0
    assert out.splitlines()[0].split()[:2] == ["device", "alias"]
    assert "garage" in out and "1.250" in out


def test_meters_set_and_reset_need_the_daemon_stopped(tmp_path, capsys):
    journal = Journal.open(tmp_path)
    journal.commit([meter_record("c8478ce4540d", 1.25, "garage")])
    code, _, err = run_cli(capsys, "meters", "set", "garage", "cycles", "3", "--state-dir", str(tmp_path))
    assert code == 1 and "stop it first" in err
    journal.close()
    code, out, _ = run_cli(capsys, "meters", "--state-dir", str(tmp_path), "set", "C8:47:8C:E4:54:0D", "cycles", "3")
    assert code == 0 and "garage (c8478ce4540d): cycles 0.125 -> 3" in out
    values = read_state(tmp_path).state[(KIND, "c8478ce4540d")]
    assert values["cycles"] == 3.0 and values["energy_charge_kwh"] == 1.25
    code, _, err = run_cli(capsys, "meters", "set", "garage", "energy_charge_kwh", "-1", "--state-dir", str(tmp_path))
    assert code == 1 and ">= 0" in err
    code, _, err = run_cli(capsys, "meters", "reset", "nobody", "--state-dir", str(tmp_path))
    assert code == 1 and "unknown device 'nobody' (known: garage (c8478ce4540d))" in err
    code, out, _ = run_cli(capsys, "meters", "reset", "garage", "--state-dir", str(tmp_path))
    assert code == 0
    assert read_state(tmp_path).state[(KIND, "c8478ce4540d")] == record_data("garage", MeterValues())


def test_meters_on_a_missing_directory_says_so(tmp_path, capsys):
    code, _, err = run_cli(capsys, "meters", "--state-dir", str(tmp_path / "nope"))
    assert code == 1 and "no such state directory" in err


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to another user")
def test_files_written_by_root_belong_to_the_state_directory_owner(tmp_path):
    # `sudo batmond meters set` must not leave files the daemon's own user cannot take over.
    os.chown(tmp_path, 65534, 65534)
    journal = Journal.open(tmp_path)
    journal.commit([meter_record("a", 1.0)])
    journal.close()
    assert {(p.stat().st_uid, p.stat().st_gid) for p in tmp_path.iterdir()} == {(65534, 65534)}


def test_an_unusable_or_busy_state_directory_stops_the_daemon_with_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    daemon = Daemon(parse(f'[state]\ndir = "{tmp_path / "file" / "state"}"\n'))
    with pytest.raises(StartupError, match=r"state directory .*/file/state: Not a directory \(set \[state\] dir"):
        daemon._open_journal()
    holder = Journal.open(tmp_path / "busy")
    daemon = Daemon(parse(f'[state]\ndir = "{tmp_path / "busy"}"\n'))
    with pytest.raises(StartupError, match=rf"busy is in use by another batmond \(pid {os.getpid()}\)"):
        daemon._open_journal()
    holder.close()


# -- files replaced by something else, as a user's mistake or a broken card leaves them ----------------------


def two_generations(directory: Path) -> None:
    """snapshot-1 and journal-1 (a = 1.0), snapshot-2 (a = 1.0) and journal-2 (a = 2.0)."""
    for energy in (1.0, 2.0):
        journal = Journal.open(directory)
        journal.commit([meter_record("c8478ce4540d", energy, "garage")])
        journal.close()


def batmond_cli(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "batmond", *argv], capture_output=True, text=True, timeout=60)


def energy_shown(result: subprocess.CompletedProcess) -> float:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["devices"][0]["meters"]["energy_charge_kwh"]


@pytest.mark.parametrize(("name", "energy"), [("journal-00000002", 1.0), ("snapshot-00000002", 2.0)])
def test_meters_json_reads_past_a_journal_or_snapshot_replaced_by_a_directory(tmp_path, name, energy):
    two_generations(tmp_path)
    (tmp_path / name).unlink()
    (tmp_path / name).mkdir()
    result = batmond_cli("meters", "--json", "--state-dir", str(tmp_path))
    assert "Traceback" not in result.stderr
    assert energy_shown(result) == energy  # the snapshot alone, or the older generation and both journals
    assert f"note: {tmp_path / name}: is a directory, not a {name.split('-')[0]} file; ignored" in result.stderr
    assert (tmp_path / name).is_dir()  # a reader changes nothing


def test_the_daemon_sets_a_directory_in_place_of_its_journal_aside_and_names_it(tmp_path, caplog):
    two_generations(tmp_path)
    (tmp_path / "journal-00000002").unlink()
    (tmp_path / "journal-00000002").mkdir()
    with caplog.at_level(logging.WARNING, "batmond.journal"):
        journal = Journal.open(tmp_path)
    assert journal.state[(KIND, "c8478ce4540d")]["energy_charge_kwh"] == 1.0
    journal.commit([meter_record("c8478ce4540d", 3.0, "garage")])
    journal.close()
    assert [r.getMessage() for r in caplog.records] == [
        f"journal: {tmp_path / 'journal-00000002'}: is a directory, not a journal file; set aside as "
        "journal-00000002.corrupt"
    ]
    assert (tmp_path / "journal-00000002.corrupt").is_dir()
    assert read_state(tmp_path).state[(KIND, "c8478ce4540d")]["energy_charge_kwh"] == 3.0


def test_run_names_a_lock_file_replaced_by_a_directory(tmp_path):
    (tmp_path / "state" / "lock").mkdir(parents=True)
    config = tmp_path / "batmon.toml"
    config.write_text(f'[mqtt]\nenabled = false\n[state]\ndir = "{tmp_path / "state"}"\n'
                      '[[device]]\naddress = "dummy"\ntype = "dummy"\n')  # fmt: skip
    result = batmond_cli("run", "--duration", "1", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().endswith(
        f"{tmp_path / 'state' / 'lock'}: Is a directory (batmond's own file in [state] dir: move what is there away)"
    ), result.stderr


def test_an_empty_journal_is_said_so(tmp_path):
    two_generations(tmp_path)
    (tmp_path / "journal-00000002").write_bytes(b"")
    result = batmond_cli("meters", "--json", "--state-dir", str(tmp_path))
    assert energy_shown(result) == 1.0
    assert f"note: {tmp_path / 'journal-00000002'}: empty (0 bytes, no header): nothing replayed from it" in (
        result.stderr
    )


def test_meters_set_names_a_lock_file_replaced_by_a_directory(tmp_path, capsys):
    two_generations(tmp_path)
    (tmp_path / "lock").unlink()
    (tmp_path / "lock").mkdir()
    code, _, err = run_cli(capsys, "meters", "reset", "garage", "--state-dir", str(tmp_path))
    assert (code, err) == (1, f"batmond meters: {tmp_path / 'lock'}: Is a directory\n")
