"""Real LiTime / Redodo captures from public sources (facts only: bytes and the values the source states).

Frames are ``00 00 <len> 01 <cmd> 55 AA <data> <sum>`` (total ``len`` + 4 bytes); the checksum (low byte of the sum
of all bytes before it) was verified for every frame here.

Each *_EXPECTED dict says which keys the source states ("SRC") and which were decoded here ("DERIVED").
Units: V, A (+ = charging), Ah, °C.

Notes / surprises:
  * Two voltages: bytes 8..11 (26.182 V / 13.559 V) and 12..15, which is exactly the sum of the cells. aiobmsble,
    batmon-ha and pq_bms_bluetooth all report 12..15 as the battery voltage; so does this codec.
  * aiobmsble reads up to five temperatures from byte 52 (its frame: 23, 22, -2 °C, then two unfitted zeros);
    batmon-ha, calledit and pq_bms_bluetooth call 52 the cell temperature and 54 the MOSFET temperature. The codec
    follows the latter for 52 and 54 and reports 56, 58, 60 as further sensors like aiobmsble (up to the last
    one not reading 0): no source names what they measure.
  * Bytes 88..89 ("battery state") read 4 while charging is blocked by the cold (BMS_BLE-HA issue #597, -1 °C);
    the issue's reporter infers 1 = charging, 0 = idle. No source maps it to MOSFETs, so it is not decoded.
"""

# Request. Source: github.com/calledit/LiTime_BMS_bluetooth index.html (commands.query_battery_status); the same
#   bytes in aiobmsble redodo_bms, batmon-ha litime.py and pq_bms_bluetooth battery.py (GET_BATTERY_INFO).
REQUEST_STATUS = bytes.fromhex("000004011355aa17")

# Source: github.com/patman15/aiobmsble tests/bms/test_redodo_bms.py (MockRedodoBleakClient._RESP), also pinned by
#   batmon-ha bmslib/test/data/litime_fixtures.py (REDODO_8S). An 8S Redodo pack.
STATUS_8S = bytes.fromhex(
    "000065019355aa0046660000bc670000f50cf70cfc0cfb0cf80cf20cfa0cf50c0000000000000000000000000000000065faffff"
    "17001600feff00000000e91a042900000000000000000000000000000000000000000000000041006400000003000000"
    "5f010000a2"
)
# SRC (aiobmsble _RESULT_DEFS and the comment "26.182V, cellVS 26.556V, 65%, 68.89Ah, 3 cycles"): voltage 26.556,
#   current -1.435, cells 3.317/3.319/3.324/3.323/3.320/3.314/3.322/3.317, battery_level 65, battery_health 100,
#   cycle_charge 68.89, design_capacity 105, cycles 3, problem_code 0. batmon-ha (litime_fixtures.py): temperature
#   23, MOSFET temperature 22. aiobmsble temp_values [23, 22, -2], temp_sensors 3: the third, signed (-2 °C), is
#   the sensor at byte 56.
STATUS_8S_EXPECTED = {
    "voltage": 26.556,
    "current": -1.435,
    "cell_voltages_mv": [3317, 3319, 3324, 3323, 3320, 3314, 3322, 3317],
    "temperatures": [23.0, -2.0],
    "mosfet_temperature": 22.0,
    "charge_ah": 68.89,
    "capacity_ah": 105.0,
    "soc": 65,
    "soh": 100,
    "cycles": 3,
    "alarm_code": 0,
}

# Source: github.com/patman15/BMS_BLE-HA issue #597 (a LiTime 4S pack logged with calledit's page, charging blocked
#   at low temperature). The source states no decoded values except battery_state 0x0004: DERIVED.
STATUS_4S_COLD = bytes.fromhex(
    "000065019355aa00f73400006f340000130d1d0d260d190d00000000000000000000000000000000000000000000000000000000"
    "ffffffff0000000000006c396c39000048000100040000000000000000000000000000000400640068000000040000009502"
    "000067"
)
STATUS_4S_COLD_EXPECTED = {
    "voltage": 13.423,
    "current": 0.0,
    "cell_voltages_mv": [3347, 3357, 3366, 3353],
    "temperatures": [-1.0],
    "mosfet_temperature": -1.0,
    "charge_ah": 147.0,
    "capacity_ah": 147.0,
    "soc": 100,
    "soh": 104,
    "cycles": 4,
    "alarm_code": 0,
}

# Source: aiobmsble tests/bms/test_redodo_bms.py prb_response (protection bits set, checksum recomputed by the
#   source). SRC: problem_code 1 << 0 ("first_bit") and 1 << 63 ("last_bit").
STATUS_8S_PROBLEM_FIRST_BIT = bytes.fromhex(
    "000065019355aa0046660000bc670000f50cf70cfc0cfb0cf80cf20cfa0cf50c0000000000000000000000000000000065faffff"
    "17001600feff00000000e91a042900000000000000000000010000000000000000000000000041006400000003000000"
    "5f010000a3"
)
STATUS_8S_PROBLEM_LAST_BIT = bytes.fromhex(
    "000065019355aa0046660000bc670000f50cf70cfc0cfb0cf80cf20cfa0cf50c0000000000000000000000000000000065faffff"
    "17001600feff00000000e91a042900000000000000000000000000000000008000000000000041006400000003000000"
    "5f01000022"
)
# Source: same file, wrong_response "wrong CRC" (its temperature bytes differ too; the checksum is 0xff).
STATUS_8S_WRONG_CHECKSUM = bytes.fromhex(
    "000065019355aa0046660000bc670000f50cf70cfc0cfb0cf80cf20cfa0cf50c0000000000000000000000000000000065faffff"
    "17001600170000000000e91a042900000000000000000000000000000000000000000000000041006400000003000000"
    "5f010000ff"
)
