"""`batmond scan` suggests aiobmsble's types from real advertisements, with aiobmsble's own matchers."""

from __future__ import annotations

import asyncio
import json
import sys
from importlib import resources

import pytest

from batmond.aio import installed_plugins
from batmond.protocols import codec_types
from batmond.scan import Seen

from .conftest import NEEDS_EXTRA, add_replay

pytest.importorskip("aiobmsble", reason=NEEDS_EXTRA)

from .test_replay import RECORDINGS


def advertisements() -> list[tuple[str, dict]]:
    """Every advertisement in aiobmsble's test data (aiobmsble/test_data/<plugin>.json, real devices, each with
    its source), with the plugin it belongs to."""
    found = []
    for path in sorted(resources.files("aiobmsble.test_data").iterdir(), key=lambda p: p.name):
        if path.name.endswith("_bms.json"):
            found += [(path.name.removesuffix("_bms.json"), entry) for entry in json.loads(path.read_text())]
    return found


def seen_from(entry: dict) -> Seen:
    advertisement = entry["advertisement"]
    return Seen(
        address=(advertisement.get("platform_data") or ["00:00:00:00:00:00"])[0],
        name=advertisement.get("local_name") or "",
        services={uuid.lower() for uuid in advertisement.get("service_uuids", [])},
        manufacturer={int(k): bytes.fromhex(v) for k, v in advertisement.get("manufacturer_data", {}).items()},
        service_data={k.lower(): bytes.fromhex(v) for k, v in advertisement.get("service_data", {}).items()},
    )


def test_every_recorded_advertisement_suggests_its_type():
    entries = advertisements()
    assert len({plugin for plugin, _ in entries}) >= 45
    native = set(codec_types()) & (installed_plugins() or set())  # jbd, daly, ant: batmond has these names
    for plugin, entry in entries:
        types = seen_from(entry).suggested_types
        # Where batmond has the name, its own type is offered and <name>_ble is not, unless only aiobmsble matched.
        assert (plugin in types or f"{plugin}_ble" in types) if plugin in native else plugin in types, (
            plugin, entry["_comments"], types,
        )  # fmt: skip


def test_batmonds_own_type_comes_first_and_hides_the_forced_one():
    # A JBD advertisement (aiobmsble/test_data/jbd_bms.json): batmond's jbd codec matches it by service FF00.
    jbd = next(
        entry for plugin, entry in advertisements() if plugin == "jbd" and "service_uuids" in entry["advertisement"]
    )
    types = seen_from(jbd).suggested_types
    assert types[0] == "jbd" and "jbd_ble" not in types


async def test_scan_lists_replayed_bms_with_their_type(simulator):
    for key, (recording, address, _) in RECORDINGS.items():
        await add_replay(simulator, recording, address, key)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "batmond", "scan", "--transport", f"tcp-client:127.0.0.1:{simulator.port}",
        "--seconds", "1.5", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    rows = {line.split()[0]: line for line in out.decode().splitlines()[1:]}
    for recording, address, _ in RECORDINGS.values():
        assert recording.type_name in rows[address].split(None, 3)[-1], rows[address]
