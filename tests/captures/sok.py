"""Real SOK / ABC-BMS captures from public sources (facts only: bytes and the values the source states).

Every answer is one 20-byte notification ``CC <type> <17 data bytes> <crc8>``; the CRC-8/Maxim over the first 19
bytes was verified for every frame here.

Each *_EXPECTED dict says which keys the source states ("SRC") and which were decoded here ("DERIVED").
Units: V, A (+ = charging), Ah, °C.

Notes / surprises:
  * The pack voltage in F0 (27.554 V) is not the sum of the cells in F4 (27.442 V); both are reported as sent.
  * Cell frames carry their own cell numbers (``<index> <mV u16 LE> 00`` ×4), so a pack's cells arrive in
    several F4 frames.
  * batmon-ha's ``sok`` driver computed this CRC but did not append it and waited for a ``w`` terminator; the
    current firmware never sends one (batmon-ha issues #178, #222, #390), which is why batmon-ha routes ``sok``
    to aiobmsble's abc_bms since 2.09.
"""

# Commands. Source: github.com/fl4p/batmon-ha bmslib/models/sok.py (docstring: cmd_name ee c0 00 00 00, cmd_info
#   ee c1 …, cmd_detail ee c2 …, cmd_protection ee c4 …; minicrc = CRC-8 with reflected polynomial 0x8C).
#   DERIVED: the appended CRC byte (aiobmsble abc_bms appends it).
COMMAND_NAME = bytes.fromhex("eec000000041")
COMMAND_INFO = bytes.fromhex("eec1000000ce")
COMMAND_DETAIL = bytes.fromhex("eec200000046")
COMMAND_PROTECTION = bytes.fromhex("eec40000004f")

# Source: github.com/patman15/aiobmsble tests/bms/test_abc_bms.py (MockABCBleakClient.RESP). The mock answers
#   0xC0 with F1, 0xC1 with F0 + F2, 0xC2 with F0 + F3 + two F4, 0xC3 with F5..F8 + FA.
PACK = bytes.fromhex("ccf0a26b00000000a08601409e01070063000021")
NAME = bytes.fromhex("ccf1534f4b2d424d530d00000000000000000040")
STATUS = bytes.fromhex("ccf201010114000000000000000200000000007f")
DETAIL = bytes.fromhex("ccf3170312006400000100000000000000000036")
CELLS_1_4 = bytes.fromhex("ccf401720d0002a80d00032f0d0004880d00008b")
CELLS_5_8 = bytes.fromhex("ccf405810d0006650d00071f0d00085c0d000033")
SETTINGS_FRAMES = [
    bytes.fromhex("ccf5420e100ec409f609a08601a0860100000055"),
    bytes.fromhex("ccf6107200807000370032000000050000000023"),
    bytes.fromhex("ccf7204e004051004b004600ecfff1ff0000008f"),
    bytes.fromhex("ccf800640080570080700010270000000000003e"),
    bytes.fromhex("ccfa480d14000f270000000000000000000000d6"),
]
# SRC (test_update): temp_sensors 1, voltage 27.554, current 0.0, battery_level 99, cycle_charge 106.048, cycles 7,
#   cell_count 8, cells 3.442/3.496/3.375/3.464/3.457/3.429/3.359/3.42, temp_values [20], design_capacity 100,
#   chrg_mosfet and dischrg_mosfet on, balancer off, heater off; test_device_info: model "SOK-BMS".
#   DERIVED: design capacity in Ah before aiobmsble's integer division (100.0).
EXPECTED = {
    "voltage": 27.554,
    "current": 0.0,
    "soc": 99,
    "charge_ah": 106.048,
    "capacity_ah": 100.0,
    "cycles": 7,
    "cell_voltages_mv": [3442, 3496, 3375, 3464, 3457, 3429, 3359, 3420],
    "temperatures": [20.0],
    "switches": {"charge": True, "discharge": True, "heater": False, "balance": False},
    "model": "SOK-BMS",
}

# Source: same file, prb_response (protection answers to 0xC4, CRC recomputed by the source).
#   SRC: problem_code 0x1 ("first_bit") and 0x8000 ("last_bit").
PROTECTION_FIRST_BIT = bytes.fromhex("ccf969000000000000000000000000000000001d")
PROTECTION_LAST_BIT = bytes.fromhex("ccf9000000000000000000000000000000690005")
# Source: same file, wrong_response "wrong_CRC": the F0 frame with its CRC off by one.
PACK_WRONG_CRC = bytes.fromhex("ccf0a26b00000000a08601409e01070063000020")
