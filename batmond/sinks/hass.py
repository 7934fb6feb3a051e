"""Home Assistant MQTT discovery payloads, built from a reading. Pure: no MQTT here.

Device discovery (one retained message per BMS, ``<prefix>/device/<id>/config`` with ``dev``, ``o``, ``cmps``)
by default; per-entity topics for HA < 2024.11 and other consumers. Entities pick their value out of the
one JSON state message per BMS with a value template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from batmond import __version__
from batmond.hub import Reading

PROJECT_URL = "https://github.com/batmond/batmond"
DIAGNOSTIC = "diagnostic"


@dataclass(frozen=True, slots=True)
class Entity:
    key: str  # component id, stable: part of the unique_id
    name: str
    template: str
    platform: str = "sensor"
    device_class: str | None = None
    unit: str | None = None
    state_class: str | None = "measurement"
    category: str | None = None
    precision: int | None = None
    icon: str | None = None
    command_topic: str | None = None


SCALAR_ENTITIES = (
    Entity("voltage", "Voltage", "voltage", device_class="voltage", unit="V", precision=2),
    Entity("current", "Current", "current", device_class="current", unit="A", precision=2),
    Entity("power", "Power", "power", device_class="power", unit="W", precision=0),
    Entity("soc", "State of charge", "soc", device_class="battery", unit="%", precision=0),
    Entity("soh", "State of health", "soh", unit="%", precision=0, category=DIAGNOSTIC, icon="mdi:heart-pulse"),
    Entity("charge", "Remaining charge", "charge", unit="Ah", precision=2, icon="mdi:battery-50"),
    Entity("capacity", "Capacity", "capacity", unit="Ah", precision=1, category=DIAGNOSTIC, icon="mdi:battery"),
    Entity("cycles", "Cycles", "cycles", state_class="total_increasing", category=DIAGNOSTIC, icon="mdi:counter"),
    Entity("mosfet_temperature", "MOSFET temperature", "mosfet_temperature", device_class="temperature",
           unit="°C", precision=1, category=DIAGNOSTIC),
    Entity("balance_current", "Balance current", "balance_current", device_class="current", unit="A",
           precision=3, category=DIAGNOSTIC),
    Entity("consumed", "Consumed", "consumed", unit="Ah", precision=1, icon="mdi:battery-minus-variant"),
    Entity("time_to_go", "Time to go", "time_to_go", device_class="duration", unit="min", precision=0),
    Entity("alarm_code", "Alarm code", "alarm_code", state_class=None, category=DIAGNOSTIC, icon="mdi:alert"),
    Entity("cell_min", "Cell voltage min", "cell_min", device_class="voltage", unit="V", precision=3),
    Entity("cell_max", "Cell voltage max", "cell_max", device_class="voltage", unit="V", precision=3),
    Entity("cell_average", "Cell voltage average", "cell_average", device_class="voltage", unit="V",
           precision=3, category=DIAGNOSTIC),
    Entity("cell_delta", "Cell voltage delta", "cell_delta", device_class="voltage", unit="V", precision=3),
    Entity("cell_min_index", "Cell min index", "cell_min_index", state_class=None, category=DIAGNOSTIC),
    Entity("cell_max_index", "Cell max index", "cell_max_index", state_class=None, category=DIAGNOSTIC),
)  # fmt: skip
DIAGNOSTIC_ENTITIES = (
    Entity("bad_frames", "Bad frames", "diagnostics.bad_frames", state_class="total_increasing",
           category=DIAGNOSTIC, icon="mdi:alert-circle-outline"),
    Entity("unplaced_frames", "Unplaced frames", "diagnostics.unplaced_frames", state_class="total_increasing",
           category=DIAGNOSTIC, icon="mdi:help-circle-outline"),
    Entity("reconnects", "Reconnects", "diagnostics.reconnects", state_class="total_increasing",
           category=DIAGNOSTIC, icon="mdi:connection"),
    # The Bluetooth link: which adapter serves the BMS, how well it hears it, how long a connect takes, and how
    # often a sample arrives (longer than the sample period when the BMS takes turns for an adapter's slot).
    Entity("adapter", "Bluetooth adapter", "diagnostics.adapter", state_class=None, category=DIAGNOSTIC,
           icon="mdi:bluetooth"),
    Entity("rssi", "Signal strength", "diagnostics.rssi", device_class="signal_strength", unit="dBm",
           category=DIAGNOSTIC),
    Entity("connect_time", "Connect time", "diagnostics.connect_time", device_class="duration", unit="s",
           precision=2, category=DIAGNOSTIC),
    Entity("sample_interval", "Sample interval", "diagnostics.sample_interval", device_class="duration", unit="s",
           precision=1, category=DIAGNOSTIC),
    # Battery groups: which members the group's values stand on right now.
    Entity("members_online", "Members online", "diagnostics.members_online", category=DIAGNOSTIC,
           icon="mdi:battery-sync"),
    Entity("stale_members", "Stale members", "diagnostics.stale_members", state_class=None, category=DIAGNOSTIC,
           icon="mdi:battery-alert"),
)  # fmt: skip

# The daemon's own meters (batmond/meters.py), published under "meters" once they are durable. Charged and
# discharged energy are what the HA Energy dashboard takes as "energy going in/out of the battery".
METER_ENTITIES = (
    Entity("energy_charge", "Energy charged", "meters.energy_charge_kwh", device_class="energy", unit="kWh",
           state_class="total_increasing", precision=3),
    Entity("energy_discharge", "Energy discharged", "meters.energy_discharge_kwh", device_class="energy",
           unit="kWh", state_class="total_increasing", precision=3),
    Entity("energy_net", "Net energy", "meters.energy_net_kwh", device_class="energy", unit="kWh",
           state_class="total", precision=3),
    Entity("charge_net", "Net charge", "meters.charge_net_ah", unit="Ah", state_class="total", precision=2,
           icon="mdi:battery-sync"),
    Entity("meter_cycles", "Full cycles", "meters.cycles", state_class="total_increasing", precision=2,
           icon="mdi:battery-sync-outline"),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Topics:
    base: str
    discovery_prefix: str
    instance: str

    @property
    def daemon_status(self) -> str:
        return f"{self.base}/daemon/{self.instance}/status"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    def state(self, alias: str) -> str:
        return f"{self.base}/{alias}/state"

    def command(self, alias: str, switch: str) -> str:
        return f"{self.base}/{alias}/switch/{switch}/set"

    def availability(self, alias: str) -> str:
        return f"{self.base}/{alias}/availability"

    def device_config(self, device_id: str) -> str:
        return f"{self.discovery_prefix}/device/{device_id}/config"

    def entity_config(self, platform: str, unique_id: str) -> str:
        return f"{self.discovery_prefix}/{platform}/{unique_id}/config"


def device_id(reading: Reading) -> str:
    return f"batmond_{reading.device.stable_id}"


def entities(reading: Reading, state: dict[str, Any], topics: Topics) -> list[Entity]:
    """The entities this reading can fill: a value the BMS does not report gets no entity."""
    found = [e for e in SCALAR_ENTITIES if e.key in state]
    if "meters" in state:
        found += METER_ENTITIES
    found += [
        Entity(f"cell_{i:02d}", f"Cell {i} voltage", f"cell_voltages[{i - 1}]", device_class="voltage",
               unit="V", precision=3, category=DIAGNOSTIC)
        for i in range(1, len(state.get("cell_voltages", ())) + 1)
    ]  # fmt: skip
    found += [
        Entity(f"temperature_{i}", f"Temperature {i}", f"temperatures[{i - 1}]", device_class="temperature",
               unit="°C", precision=1)
        for i in range(1, len(state.get("temperatures", ())) + 1)
    ]  # fmt: skip
    for name in state.get("switches", {}):
        label = f"{name.replace('_', ' ').capitalize()} switch"
        if name in reading.writable:
            command = topics.command(reading.device.alias, name)
            found.append(Entity(f"{name}_switch", label, f"switches.{name}", platform="switch", state_class=None,
                                device_class="switch", category="config", command_topic=command))  # fmt: skip
        else:
            found.append(Entity(f"{name}_switch", label, f"switches.{name}", platform="binary_sensor",
                                state_class=None, device_class="power"))  # fmt: skip
    diagnostics = state.get("diagnostics", {})
    found += [e for e in DIAGNOSTIC_ENTITIES if e.template.split(".", 1)[1] in diagnostics]
    return found


def component(entity: Entity, reading: Reading, expire_after: float) -> dict[str, Any]:
    unique_id = f"{device_id(reading)}_{entity.key}"
    object_id = f"{reading.device.alias}_{entity.key}".lower()
    config: dict[str, Any] = {
        "p": entity.platform,
        "name": entity.name,
        "uniq_id": unique_id,
        "def_ent_id": f"{entity.platform}.{object_id}",
        "obj_id": object_id,
        "val_tpl": f"{{{{ value_json.{entity.template} }}}}",
    }
    if entity.platform == "binary_sensor":
        config.update(pl_on="ON", pl_off="OFF")
    elif entity.platform == "switch":
        # Not optimistic: HA shows the state the BMS reports back, not the one it asked for.
        config.update(cmd_t=entity.command_topic, pl_on="ON", pl_off="OFF", stat_on="ON", stat_off="OFF")
    else:
        config["exp_aft"] = round(expire_after)
    for key, value in (
        ("dev_cla", entity.device_class),
        ("unit_of_meas", entity.unit),
        ("stat_cla", entity.state_class),
        ("ent_cat", entity.category),
        ("sug_dsp_prc", entity.precision),
        ("ic", entity.icon),
    ):
        if value is not None:
            config[key] = value
    return config


def device_block(reading: Reading) -> dict[str, Any]:
    info = reading.info
    block: dict[str, Any] = {"ids": [device_id(reading)], "name": reading.device.alias}
    if reading.device.is_mac:
        block["cns"] = [["bluetooth", reading.device.address.upper()]]
    if info is not None:
        for key, value in (
            ("mf", info.manufacturer),
            ("mdl", info.model),
            ("sw", info.sw_version),
            ("hw", info.hw_version),
            ("sn", info.serial),
        ):
            if value:
                block[key] = value
    return block


def shared_block(reading: Reading, topics: Topics) -> dict[str, Any]:
    """Keys every entity of the device shares: device, origin, availability, state topic."""
    return {
        "dev": device_block(reading),
        "o": {"name": "batmond", "sw": __version__, "url": PROJECT_URL},
        "avty": [{"t": topics.daemon_status}, {"t": topics.availability(reading.device.alias)}],
        "avty_mode": "all",
        "stat_t": topics.state(reading.device.alias),
        "qos": 0,
    }


def device_discovery(
    reading: Reading, state: dict[str, Any], topics: Topics, expire_after: float, removed: dict[str, str]
) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The single device-discovery message; returns (topic, payload, {component key: platform})."""
    components = {e.key: component(e, reading, expire_after) for e in entities(reading, state, topics)}
    platforms = {key: c["p"] for key, c in components.items()}
    payload = shared_block(reading, topics) | {"cmps": components}
    for key, platform in removed.items():  # HA removes a component that is reduced to its platform
        payload["cmps"].setdefault(key, {"p": platform})
    return topics.device_config(device_id(reading)), payload, platforms


def entity_discovery(
    reading: Reading, state: dict[str, Any], topics: Topics, expire_after: float
) -> list[tuple[str, dict[str, Any]]]:
    """One retained config per entity, each with the device and availability blocks."""
    shared = shared_block(reading, topics)
    out = []
    for entity in entities(reading, state, topics):
        config = component(entity, reading, expire_after)
        platform = config.pop("p")
        out.append((topics.entity_config(platform, config["uniq_id"]), shared | config))
    return out
