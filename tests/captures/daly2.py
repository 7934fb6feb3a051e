"""Real Daly "D2" (Modbus RTU over BLE) frames from public sources: bytes and the values the source states.

Answers are ``D2 03 <byte count> <registers, u16 BE> <CRC-16/MODBUS LE>``; the CRC of every frame here was
verified (CRC over the whole frame is 0). Byte count 0x7C = the 62 real-time registers from 0x0000,
0x52 = the 41 settings registers from 0x80, 0x40 = the 32 version registers from 0xA9.

Each *_EXPECTED dict says which keys the source states ("SRC") and which were decoded here from the
register map of esphome-daly-bms docs/protocol-register-map.md ("DERIVED"). Units: V, A (+ = charging),
%, Ah, °C.

Notes / surprises:
  * aiobmsble's 4S vector has cells of ~4.1 V that sum to 16.6 V while the pack register says 14.0 V, and a
    delta register of 0.321 V against a real cell spread of 0.030 V: a hand-edited test vector.
  * The two sources disagree on the version block: esphome reads two 32-byte strings, aiobmsble two 16-byte
    ones, and aiobmsble's frame has a date ("20240229") glued to the hardware string at byte 32.
"""

# ---------------------------------------------------------------------------
# aiobmsble: github.com/patman15/aiobmsble tests/bms/test_daly_bms.py (MockDalyBleakClient.RESP)
# ---------------------------------------------------------------------------
# Answer to D2 03 0000 003E (CMD_INFO); 4S, 4 temperature sensors.
AIOBMSBLE_STATUS_4S = bytes.fromhex(
    "d2037c"
    "101f10291033103d000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "003c003d003e003f0000000000000000008c754e0384103d101f000000000000"
    "0d80000400040039000100000001102e0141002a0000000000000000"
    "a0df"
)
# SRC (ref_value and the test without the MOS read): voltage 14.0, current 3.0, soc 90.0, cycles 57,
#   charge 345.6, cells 4.127/4.137/4.147/4.157, cell_count 4, temp_sensors 4, temperatures 20/21/22/23,
#   problem_code 0, chrg_mosfet False, dischrg_mosfet True, balancer True.
AIOBMSBLE_STATUS_4S_EXPECTED = {
    "voltage": 14.0,
    "current": 3.0,
    "soc": 90.0,
    "charge_ah": 345.6,
    "cycles": 57,
    "cell_voltages": [4.127, 4.137, 4.147, 4.157],
    "temperatures": [20.0, 21.0, 22.0, 23.0],
    "alarm_code": 0,
    "switches": {"charge": False, "discharge": True, "balance": True},
}

# The same answer with alarm bits set (test_problem_response, "first_bit" / "last_bit").
AIOBMSBLE_STATUS_4S_PROBLEM_FIRST_BIT = bytes.fromhex(
    "d2037c"
    "101f10291033103d000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "003c003d003e003f0000000000000000008c754e0384103d101f000000000000"
    "0d80000400040039000100000001102e0141002a0000000000000001"
    "611f"
)
AIOBMSBLE_STATUS_4S_PROBLEM_LAST_BIT = bytes.fromhex(
    "d2037c"
    "101f10291033103d000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "003c003d003e003f0000000000000000008c754e0384103d101f000000000000"
    "0d80000400040039000100000001102e0141002a8000000000000000"
    "a8bf"
)
# SRC: problem_code == 1 << 0 and 1 << 63 (the four alarm registers read as one big-endian u64).
AIOBMSBLE_PROBLEM_CODES = {"first_bit": 1, "last_bit": 1 << 63}

# Answer to D2 03 00A9 0020 (VER_INFO).
AIOBMSBLE_VERSION = bytes.fromhex(
    "d20340"
    "5430304b5f3332313034325f3131000048322e305f313033525f333039463946"
    "3230323430323239000000000000000000000000000000000000000000000000"
    "5541"
)
# SRC (test_device_info).
AIOBMSBLE_VERSION_EXPECTED = {"sw_version": "T00K_321042_11", "hw_version": "H2.0_103R_309F9F"}

# Request frames (HEAD_READ + CMD_INFO / VER_INFO), SRC.
AIOBMSBLE_REQUEST_STATUS = bytes.fromhex("d2030000003ed7b9")
AIOBMSBLE_REQUEST_VERSION = bytes.fromhex("d20300a900208791")

# ---------------------------------------------------------------------------
# esphome-daly-bms: github.com/syssi/esphome-daly-bms tests/components/daly_bms_ble/common.h
#   ("Real frames from esp32-ble-example-faker.yaml" / "tests/esp32-ble-alarms-faker.yaml"),
#   expected values from daly_bms_ble_test.cpp.
# ---------------------------------------------------------------------------
ESPHOME_VERSION_1 = bytes.fromhex(
    "d20340"
    "3430313031320000000000000000000000000000000000000000000000000000"
    "424d530000000000000000000000000000000000000000000000000000000000"
    "6513"
)
ESPHOME_VERSION_1_EXPECTED = {"sw_version": "401012", "hw_version": "BMS"}  # SRC
ESPHOME_VERSION_2 = bytes.fromhex(
    "d20340"
    "3230343031320000000000000000000000000000000000000000000000000000"
    "5348333946303033000000000000000000000000000000000000000000000000"
    "b8f5"
)
ESPHOME_VERSION_2_EXPECTED = {"sw_version": "204012", "hw_version": "SH39F003"}  # SRC

# Settings block (41 registers from 0x80).
ESPHOME_SETTINGS = bytes.fromhex(
    "d20352"
    "041a0c80000100040000000000010000000000001c200dac0dac0a280a28008c"
    "008c0068006874cc74cc749075d00055005500280028006e006e0027002700ff"
    "00ff00ff00ff0c8000140001000102a80057"
    "7f8b"
)
# SRC: rated capacity 105.0 Ah (register 0x80), charging / discharging MOS switch on (0xA5 / 0xA6).
ESPHOME_SETTINGS_EXPECTED = {"rated_capacity_ah": 105.0}

# 62-register status, 8S, no alarms.
ESPHOME_STATUS_8S_NO_ALARMS = bytes.fromhex(
    "d2037c"
    "0d6e0d690d590dd70d0b0d0b0d0c0d0b00000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "003d0028002800000000000000000000010f753003e80dd70d0b003d003d0000"
    "00fa0008000100000000000100010d4600cc00000000000000000000"
    "0ee1"
)
# SRC (common.h comment + Status62Reg tests): 8 cells 3.438/3.433/3.417/3.543/3.339/3.339/3.340/3.339 V,
#   1 temperature 21.0 °C, total voltage 27.1 V, current 0.0 A, SoC 100.0 %, status idle, remaining 25.0 Ah,
#   cycles 0, balancing off, charging on, discharging on, no alarms.
ESPHOME_STATUS_8S_EXPECTED = {
    "voltage": 27.1,
    "current": 0.0,
    "soc": 100.0,
    "charge_ah": 25.0,
    "cycles": 0,
    "cell_voltages": [3.438, 3.433, 3.417, 3.543, 3.339, 3.339, 3.340, 3.339],
    "temperatures": [21.0],
    "alarm_code": 0,
    "switches": {"charge": True, "discharge": True, "balance": False},
}

# The same status with one alarm bit each (register 0x3A = 0x0100 and 0x0001).
ESPHOME_STATUS_8S_WARN_CHARGE_TEMPERATURE = bytes.fromhex(
    "d2037c"
    "0d6e0d690d590dd70d0b0d0b0d0c0d0b00000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "003d0028002800000000000000000000010f753003e80dd70d0b003d003d0000"
    "00fa0008000100000000000100010d4600cc00000100000000000000"
    "cf2d"
)
ESPHOME_STATUS_8S_WARN_CELL_VOLTAGE = bytes.fromhex(
    "d2037c"
    "0d6e0d690d590dd70d0b0d0b0d0c0d0b00000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "003d0028002800000000000000000000010f753003e80dd70d0b003d003d0000"
    "00fa0008000100000000000100010d4600cc00000001000000000000"
    "1e21"
)
# SRC: "Warning: Charging temperature too high" / "Warning: Cell voltage too high".
# DERIVED: the big-endian u64 of registers 0x3A..0x3D.
ESPHOME_ALARM_CODES = {"charge_temperature": 1 << 56, "cell_voltage": 1 << 48}

# Request frames, "golden values from github.com/syssi/esphome-daly-bms/issues/9" (SRC).
ESPHOME_REQUEST_STATUS = bytes.fromhex("d2030000003ed7b9")
ESPHOME_REQUEST_SETTINGS = bytes.fromhex("d20300800029965f")
ESPHOME_REQUEST_VERSION = bytes.fromhex("d20300a900208791")

# MOSFET switch writes, logged by the esphome component: github.com/syssi/esphome-daly-bms issue #5
#   ("Send command … D2.06.00.A5.00.01.4B.8A"); batmon-ha models/daly2.py says an HCI snoop of the official
#   app (fl4p/batmon-ha issue #356) wrote the same registers. SRC.
SWITCH_FRAMES = {
    ("charge", True): bytes.fromhex("d20600a500014b8a"),
    ("charge", False): bytes.fromhex("d20600a500008a4a"),
    ("discharge", True): bytes.fromhex("d20600a60001bb8a"),
    ("discharge", False): bytes.fromhex("d20600a600007a4a"),
}

# ---------------------------------------------------------------------------
# 24S pack: github.com/syssi/esphome-daly-bms docs/pdus/daly_bms_24cells.txt (from its issue #60)
# ---------------------------------------------------------------------------
ISSUE60_STATUS_24S_1 = bytes.fromhex(
    "d2037c"
    "0cdc0cdb0cdc0cdc0cdc0cdc0cde0cdc0cdc0cdc0cdc0cdc0cdc0cdc0cde0cdc"
    "0cdc0cdc0cdc0cdc0cdc0cde0cdc0cdc00000000000000000000000000000000"
    "0038003600380038000000000000000003167530014d0cde0cdb003800360000"
    "04150018000400000000000100010cdc000300000000000000000000"
    "4967"
)
ISSUE60_STATUS_24S_2 = bytes.fromhex(
    "d2037c"
    "0cdc0cdc0cdc0cdc0cdc0cdc0cde0cdc0cdc0cdc0cdc0cdc0cdc0cdc0cde0cdc"
    "0cdc0cdc0cdc0cdc0cdc0cdc0cdc0cdc00000000000000000000000000000000"
    "0038003600380038000000000000000003167530014d0cde0cdc003800360000"
    "04150018000400000000000100010cdc000200000000000000000000"
    "60f9"
)
# The source states no values: all DERIVED (cells sum to 79.013 / 79.012 V, the pack register says 79.0 V).
ISSUE60_STATUS_24S_1_EXPECTED = {
    "voltage": 79.0,
    "current": 0.0,
    "soc": 33.3,
    "charge_ah": 104.5,
    "cycles": 0,
    "cell_voltages": [3.292, 3.291, 3.292, 3.292, 3.292, 3.292, 3.294, 3.292, 3.292, 3.292, 3.292, 3.292,
                      3.292, 3.292, 3.294, 3.292, 3.292, 3.292, 3.292, 3.292, 3.292, 3.294, 3.292, 3.292],
    "temperatures": [16.0, 14.0, 16.0, 16.0],
    "alarm_code": 0,
    "switches": {"charge": True, "discharge": True, "balance": False},
}  # fmt: skip
ISSUE60_STATUS_24S_2_EXPECTED = {
    **ISSUE60_STATUS_24S_1_EXPECTED,
    "cell_voltages": [3.292] * 6 + [3.294] + [3.292] * 7 + [3.294] + [3.292] * 9,
}
