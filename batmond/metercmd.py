"""`batmond meters`: print the durable meters (safe while the daemon runs), or set/reset them (daemon stopped)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from batmond import meters
from batmond.config import DEFAULT_PATH, StateConfig, load
from batmond.journal import Journal, JournalLocked, Record, read_state
from batmond.meters import MeterValues

HEADINGS = ("device", "alias", "charged kWh", "discharged kWh", "net kWh", "net Ah", "cycles")
INCREASING = ("energy_charge_kwh", "energy_discharge_kwh", "cycles")


class MeterCommandError(Exception):
    """One line for the user; exit status 1."""


def add_parser(sub: Any) -> None:
    # Options on the command and on each action, so they work before or after the action's name.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--state-dir",
        default=argparse.SUPPRESS,
        help="state directory (default: [state] dir of the config, else /var/lib/batmond)",
    )
    common.add_argument("--config", default=argparse.SUPPRESS, help=f"config file (default {DEFAULT_PATH})")
    command = sub.add_parser(
        "meters", parents=[common], help="print, set or reset the energy meters",
        description="Print the durable meter values of every device (also while the daemon runs, and right "
        "after a crash). 'set' and 'reset' change them, e.g. after replacing a battery; stop the daemon first.",
    )  # fmt: skip
    command.add_argument("--json", action="store_true", help="print JSON for scripts")
    actions = command.add_subparsers(dest="action", metavar="ACTION")
    change = actions.add_parser("set", parents=[common], help="set one meter of one device",
                                description="Set one meter of one device (daemon stopped).")  # fmt: skip
    change.add_argument("device", help="stable id (MAC without colons), alias or MAC address")
    change.add_argument("meter", choices=MeterValues.names())
    change.add_argument("value", type=float)
    reset = actions.add_parser("reset", parents=[common], help="set every meter of one device to zero",
                               description="Set every meter of one device to zero (daemon stopped).")  # fmt: skip
    reset.add_argument("device", help="stable id (MAC without colons), alias or MAC address")
    command.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        directory = state_dir(args)
        if args.action is None:
            return show(directory, getattr(args, "json", False))
        return change(directory, args)
    except MeterCommandError as exc:
        print(f"batmond meters: {exc}", file=sys.stderr)
        return 1


def state_dir(args: argparse.Namespace) -> Path:
    if getattr(args, "state_dir", None):
        return Path(args.state_dir)
    config = getattr(args, "config", None)
    if config is not None or Path(DEFAULT_PATH).exists():
        return Path(load(config or DEFAULT_PATH).state.dir)
    return Path(StateConfig().dir)


def _read(directory: Path) -> dict[str, tuple[str, MeterValues]]:
    if not directory.is_dir():
        raise MeterCommandError(f"{directory}: no such state directory (see --state-dir)")
    try:
        recovery = read_state(directory)
    except PermissionError:
        raise MeterCommandError(f"{directory}: permission denied (run as root or as the batmond user)") from None
    except OSError as exc:  # a read error of the card
        raise MeterCommandError(f"{exc.filename or directory}: {exc.strerror or exc}") from None
    for problem in recovery.problems:
        print(f"note: {problem}", file=sys.stderr)
    found, unreadable = meters.from_state(recovery.state)
    for key in unreadable:
        print(f"note: the meters of {key} could not be read", file=sys.stderr)
    return found


def show(directory: Path, as_json: bool) -> int:
    found = _read(directory)
    if as_json:
        devices = [{"id": key, "alias": alias, "meters": values.to_dict()} for key, (alias, values) in found.items()]
        print(json.dumps({"devices": devices}, indent=2))
        return 0
    if not found:
        print(f"no meters recorded in {directory} yet")
        return 0
    rows = [HEADINGS]
    for key, (alias, values) in sorted(found.items(), key=lambda item: item[1][0]):
        v = values
        rows.append((key, alias, f"{v.energy_charge_kwh:.3f}", f"{v.energy_discharge_kwh:.3f}",
                     f"{v.energy_net_kwh:.3f}", f"{v.charge_net_ah:.2f}", f"{v.cycles:.2f}"))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADINGS))]
    for row in rows:
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    return 0


def resolve(found: dict[str, tuple[str, MeterValues]], device: str) -> str:
    """The stable id for what the user typed: an id, an alias, or a MAC address."""
    wanted = device.strip().lower()
    for key, (alias, _) in found.items():
        if wanted in (key, alias.lower()):
            return key
    mac = wanted.replace(":", "")
    if len(mac) == 12 and all(c in "0123456789abcdef" for c in mac):
        return mac  # a device the journal has not seen yet
    known = ", ".join(f"{alias} ({key})" for key, (alias, _) in found.items()) or "none"
    raise MeterCommandError(f"unknown device {device!r} (known: {known})")


def change(directory: Path, args: argparse.Namespace) -> int:
    if not directory.is_dir():
        raise MeterCommandError(f"{directory}: no such state directory (see --state-dir)")
    try:
        journal = Journal.open(directory)
    except JournalLocked as exc:
        raise MeterCommandError(f"{exc}; stop it first (sudo systemctl stop batmond)") from None
    except PermissionError:
        raise MeterCommandError(f"{directory}: permission denied (run as root or as the batmond user)") from None
    except OSError as exc:  # e.g. a directory in place of the lock file
        raise MeterCommandError(f"{exc.filename or directory}: {exc.strerror or exc}") from None
    try:
        found, _ = meters.from_state(journal.state)
        key = resolve(found, args.device)
        alias, before = found.get(key, ("", MeterValues()))
        after = MeterValues()
        if args.action == "set":
            if not math.isfinite(args.value) or (args.meter in INCREASING and args.value < 0):
                raise MeterCommandError(f"{args.meter} must be a finite number" + (
                    " >= 0" if args.meter in INCREASING else ""))  # fmt: skip
            after = before.copy()
            setattr(after, args.meter, args.value)
        journal.commit([Record(meters.KIND, key, meters.record_data(alias, after))])
    finally:
        journal.close()
    name = f"{alias} ({key})" if alias else key
    for meter in MeterValues.names():
        old, new = getattr(before, meter), getattr(after, meter)
        if old != new:
            print(f"{name}: {meter} {old:g} -> {new:g}")
    return 0
