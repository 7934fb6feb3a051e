"""Real Supervolt v1 / E&J Technology ASCII-protocol frames from public sources (facts only: bytes and the
values the source states).

A frame is ``:`` + hex digits + ``~``; its checksum (the last two hex digits) is the low byte of the sum of the
characters between ``:`` and the checksum, inverted. It was verified for every frame here. No raw Supervolt-branded
capture is public (batmon-ha's own test synthesises its frame, batmon-ha bmslib/test/data/SOURCES.md says so);
the frames below come from E&J-protocol batteries, which aiobmsble serves with the same module as "Supervolt v1
(SV12V…)".

Each *_EXPECTED dict says which keys the source states ("SRC") and which were decoded here ("DERIVED").
Units: V, A (+ = charging), Ah, °C.

Notes / surprises:
  * The length field counts characters, ``:`` and ``~`` included (0x80 = 128, 0x1E = 30, 0x8C = 140).
  * Cell values are mV (batmon-ha issue #139: an early decoder showed 0.003322 V cells and a 0.013 V pack).
  * Of the four temperature bytes only the first is a sensor (aiobmsble); in the Chins frame the other three read
    0x28 (0 °C).
  * Chins/Metrisun answer the realtime request with a 140-character frame that already holds the capacities and
    do not need the capacity request.
  * BMS_BLE-HA's vendor BLE module sends ``AT\\r\\n`` in between (aiobmsble's mock injects it before each answer).
"""

# Requests. Source: github.com/fl4p/batmon-ha bmslib/models/supervolt.py (requestRealtimeData, requestCapacity);
#   the same bytes are sent by aiobmsble's ej_bms (_query_bms).
REQUEST_REALTIME = b":000250000E03~"
REQUEST_CAPACITY = b":001031000E05~"

# ---------------------------------------------------------------------------
# aiobmsble tests/bms/test_ej_bms.py
# ---------------------------------------------------------------------------
# Source: github.com/patman15/aiobmsble tests/bms/test_ej_bms.py (MockEJBleakClient._response, command 0x02 and
#   0x10). Its mock sends every answer in 20-byte notifications after ``AT\r\n`` and ``AT\r\nillegal``.
REALTIME_10S = (
    b":0082310080000101C00000880F540F3C0F510FD70F310F2C0F340F3A0FED0FED0000000000000000"
    b"000000000000000248424242F0000000000000000001AB~"
)
CAPACITY_10S = b":009031001E00000002000A000AD8~"
# SRC (test_update): voltage 39.517, current -0.02, battery_level 1, cycles 0, cycle_charge 0.2, cells 3.924/3.900/
#   3.921/4.055/3.889/3.884/3.892/3.898/4.077/4.077, temperature 32, problem_code 0, chrg/dischrg MOSFET on.
#   DERIVED: design capacity 1.0 Ah (the capacity frame's third value).
REALTIME_10S_EXPECTED = {
    "voltage": 39.517,
    "current": -0.02,
    "soc": 1,
    "cycles": 0,
    "charge_ah": 0.2,
    "capacity_ah": 1.0,
    "cell_voltages_mv": [3924, 3900, 3921, 4055, 3889, 3884, 3892, 3898, 4077, 4077],
    "temperatures": [32.0],
    "switches": {"charge": True, "discharge": True},
    "alarm_code": 0,
}

# Source: same file, MockEJsfBleakClient._response: the single-frame (140-character) variant.
REALTIME_SINGLE_FRAME_4S = (
    b":008231008C000000000000000CBF0CC00CEA0CD50000000000000000000000000000000000000000"
    b"00000000008C000041282828F000000000000100004B044C05DC05DCB2~"
)
# SRC (MockEJsfBleakClient.values): voltage 13.118, current 1.4, battery_level 75, cycles 1, cycle_charge 110.0,
#   cells 3.263/3.264/3.306/3.285, temperature 25, design_capacity 150, problem_code 0, MOSFETs on.
REALTIME_SINGLE_FRAME_4S_EXPECTED = {
    "voltage": 13.118,
    "current": 1.4,
    "soc": 75,
    "cycles": 1,
    "charge_ah": 110.0,
    "capacity_ah": 150.0,
    "cell_voltages_mv": [3263, 3264, 3306, 3285],
    "temperatures": [25.0],
    "switches": {"charge": True, "discharge": True},
    "alarm_code": 0,
}

# Source: same file, prb_response: the single-frame capture with a protection bit set (checksums recomputed by
#   the source). SRC: problem_code 0x4 ("first_bit") and 0x800 ("last_bit").
REALTIME_PROBLEM_FIRST_BIT = (
    b":008231008C000000000000000CBF0CC00CEA0CD50000000000000000000000000000000000000000"
    b"00000000008C000041282828F004000000000100004B044C05DC05DCAE~"
)
REALTIME_PROBLEM_LAST_BIT = (
    b":008231008C000000000000000CBF0CC00CEA0CD50000000000000000000000000000000000000000"
    b"00000000008C000041282828F800000000000100004B044C05DC05DCAA~"
)

# Source: same file, wrong_response "wrong CRC": the capacity frame with its checksum off by one.
CAPACITY_WRONG_CHECKSUM = b":009031001E00000002000A000AD9~"
