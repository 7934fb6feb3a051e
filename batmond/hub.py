"""Where pollers leave samples and the publisher picks them up: per-device state, calibration, averaging."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from batmond.config import DeviceConfig
from batmond.groups import GroupConfig, aggregate
from batmond.meters import MIN_MAX_GAP, MeterBook, MeterValues
from batmond.protocols.base import FrameStats
from batmond.sample import DeviceInfo, Sample, average

log = logging.getLogger("batmond")


@dataclass(frozen=True, slots=True)
class Reading:
    """What sinks receive: one device's sample for one publish period, with identity and diagnostics."""

    device: DeviceConfig | GroupConfig
    sample: Sample
    info: DeviceInfo | None
    diagnostics: dict[str, int | float | str]
    meters: MeterValues | None = None  # durable values only: what a crash cannot take back
    writable: frozenset[str] = frozenset()  # switches the daemon accepts commands for


@dataclass(slots=True)
class DeviceState:
    device: DeviceConfig
    info: DeviceInfo | None = None
    stats: FrameStats | None = None
    pending: list[Sample] = field(default_factory=list)
    latest: Sample | None = None
    last_sample_at: float | None = None  # monotonic
    connected: bool = False
    reconnects: int = 0
    last_error: str = ""
    writable: frozenset[str] = frozenset()
    publish_due: float | None = None  # monotonic: when the next reading is due (see Hub.take_due)
    link: dict[str, int | float | str] = field(default_factory=dict)  # the transport's word: adapter, RSSI, ...
    sample_interval: float | None = None  # s between the last two samples: what rotation achieves

    def fresh(self, max_age: float, now: float | None = None) -> bool:
        if self.last_sample_at is None:
            return False
        return (now if now is not None else time.monotonic()) - self.last_sample_at <= max_age

    def link_lost(self, reason: str) -> bool:
        """Record a lost link; True when that is news worth a log line, not the same failure once more."""
        news = self.connected or self.last_error != reason
        self.connected = False
        self.last_error = reason
        self.reconnects += 1
        return news

    def diagnostics(self) -> dict[str, int | float | str]:
        stats = self.stats or FrameStats()
        found: dict[str, int | float | str] = {
            "frames": stats.frames,
            "bad_frames": stats.bad_checksum,
            "junk_bytes": stats.junk_bytes,
            "unplaced_frames": stats.unplaced,
            "reconnects": self.reconnects,
            **self.link,
        }
        if self.sample_interval is not None:
            found["sample_interval"] = round(self.sample_interval, 2)
        return found


class Hub:
    def __init__(
        self,
        devices: tuple[DeviceConfig, ...],
        max_gap: float = MIN_MAX_GAP,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.states = {device.alias: DeviceState(device) for device in devices}
        self.clock = clock  # monotonic: a wall-clock step must not reach the meters
        self.meters = MeterBook({}, max_gap)
        # Called after every recorded sample: the daemon publishes from there as soon as a reading is due.
        self.on_sample: Callable[[DeviceConfig], None] | None = None

    def restore_meters(self, recovered: Mapping[str, tuple[str, MeterValues]]) -> None:
        """Continue from the journal's values; only done before the first sample."""
        self.meters = MeterBook(recovered, self.meters.max_gap)

    def state(self, device: DeviceConfig) -> DeviceState:
        return self.states[device.alias]

    def record_info(self, device: DeviceConfig, info: DeviceInfo) -> None:
        self.states[device.alias].info = info

    def record(self, device: DeviceConfig, sample: Sample, info: DeviceInfo | None, stats: FrameStats) -> None:
        state = self.states[device.alias]
        sample = sample.completed().calibrated(device.current_factor)
        state.pending.append(sample)
        state.latest = sample
        now = self.clock()
        if state.last_sample_at is not None:
            state.sample_interval = now - state.last_sample_at
        state.last_sample_at = now
        gap = self.meters.update(device.stable_id, device.alias, now, sample.power, sample.current, sample.soc)
        if gap is not None:
            log.info("%s: no sample for %.0f s; the meters do not guess across that gap", device.alias, gap)
        state.stats = stats
        if info is not None:
            state.info = info
        if self.on_sample is not None:
            self.on_sample(device)

    def take(self, device: DeviceConfig) -> Reading | None:
        """The averaged sample since the last call, or ``None`` if nothing new arrived."""
        state = self.states[device.alias]
        if not state.pending:
            return None
        sample = average(state.pending)
        state.pending.clear()
        durable = self.meters.durable.get(device.stable_id)
        meters = durable.copy() if durable else None
        return Reading(device, sample, state.info, state.diagnostics(), meters, state.writable)

    def take_due(self, device: DeviceConfig, period: float, slack: float) -> Reading | None:
        """Like :meth:`take`, but only once the device's publish period is over.

        A reading may go ``slack`` seconds early (a sample that arrives a little before its time must not wait
        a whole extra period); a negative slack means only once it is that late. Due times follow a grid of
        ``period`` so early and late samples do not shift the rhythm; after a gap the grid restarts from now.
        """
        state = self.states[device.alias]
        now = self.clock()
        if not state.pending or (state.publish_due is not None and now < state.publish_due - slack):
            return None
        due = state.publish_due if state.publish_due is not None else now
        state.publish_due = max(due + period, now + period - abs(slack))
        return self.take(device)

    def take_group(self, group: GroupConfig, max_age: float) -> Reading | None:
        """The group's reading from its members' latest fresh samples; ``None`` when no member is fresh."""
        now = self.clock()
        members = [self.states[alias] for alias in group.members]
        fresh = [m for m in members if m.latest is not None and m.fresh(max_age, now)]
        if not fresh:
            return None
        sample = aggregate([m.latest for m in fresh if m.latest is not None])
        self.meters.update(group.stable_id, group.alias, now, sample.power, sample.current, sample.soc)
        stale = [m.device.alias for m in members if m not in fresh]
        diagnostics: dict[str, int | float | str] = {
            "members_online": len(fresh),
            "stale_members": ", ".join(stale) or "none",
        }
        durable = self.meters.durable.get(group.stable_id)
        writable = frozenset.intersection(*(m.writable for m in members))
        info = DeviceInfo(manufacturer="batmond", model=f"battery group of {len(members)}")
        return Reading(group, sample, info, diagnostics, durable.copy() if durable else None, writable)
