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

# ---------------------------------------------------------------------------
# esphome-daly-bms: 80-register status answers ("blue series"), tests/components/daly_bms_ble/common.h
#   (STATUS_FRAME_80_REG_1/2, from docs/pdus/daly_bms_blue_series_80_registers.txt, its issue #55), expected
#   values from daly_bms_ble_test.cpp (DalyBmsBleStatus80RegTest, frame 2). Same layout as the 62 registers,
#   continued: balance current at 0x40, MOSFET temperature at 0x42.
# ---------------------------------------------------------------------------
ESPHOME_STATUS_80REG_1 = bytes.fromhex(
    "d203a00cd10cd20cd30cd30cd30cd20cd30cd30cd30cd30cd30cd30cd30cd30cd30cd300000000000000000000000000"
    "0000000000000000000000000000000000000000350035003500350000000000000000020d751702310cd30cd1003500"
    "350002049a00100004003c0000000100010cd20002008300000000000000000000000075300000003700000000000000"
    "000000000000000000000000000000000000005455"
)
ESPHOME_STATUS_80REG_2 = bytes.fromhex(
    "d203a00ccf0cd10cd10cd10cd10cd10cd20cd20cd20cd20cd00cd10cd20cd20cd20cd100000000000000000000000000"
    "0000000000000000000000000000000000000000370037003700370000000000000000020d751102120cd20ccf003700"
    "37000204590010000400390000000100010cd1000300a200000000000000000000000075300000003700000000000000"
    "000000000000000000000000000000000000004482"
)
# SRC (the gtest expectations): 52.5 V, -3.1 A, SoC 53.0 %, remaining 111.3 Ah, 16 cells (C1 3.279, C2 3.281,
#   C7 3.282, C11 3.280, C16 3.281), 4 temperatures 15.0 °C, cycles 57, balancing off, charging and discharging
#   on, balance current 0.0 A, MOSFET temperature 15.0 °C, no alarms. The remaining cells are DERIVED.
ESPHOME_STATUS_80REG_2_EXPECTED = {
    "voltage": 52.5,
    "current": -3.1,
    "soc": 53.0,
    "charge_ah": 111.3,
    "cycles": 57,
    "cell_voltages": [3.279, 3.281, 3.281, 3.281, 3.281, 3.281, 3.282, 3.282, 3.282, 3.282, 3.280, 3.281,
                      3.282, 3.282, 3.282, 3.281],
    "temperatures": [15.0, 15.0, 15.0, 15.0],
    "alarm_code": 0,
    "switches": {"charge": True, "discharge": True, "balance": False},
    "mosfet_temperature": 15.0,
    "balance_current": 0.0,
}  # fmt: skip
# Frame 1's comment in common.h says "current=+0.7A", but its register 0x29 holds 0x7517 (29975 = -2.5 A) and
# its status register says discharging: the comment is wrong, the register map decides (-2.5 A, DERIVED).
ESPHOME_STATUS_80REG_1_CURRENT = -2.5

# ---------------------------------------------------------------------------
# aiobmsble tests/bms/test_daly_bms.py: the answer to D2 03 003E 0009 (MOS_INFO; balance mask, balance current,
#   MOSFET and board temperature). SRC: the MOSFET sensor reads 38.0 °C (raw 0x4E); aiobmsble turns the read off
#   when the first answer holds 0x0000 or 0xFFFF there.
# ---------------------------------------------------------------------------
AIOBMSBLE_MOS = bytes.fromhex("d203120000000075300000004effffffffffffffff0b4e")
AIOBMSBLE_MOS_EXPECTED = {"mosfet_temperature": 38.0, "balance_current": 0.0}
AIOBMSBLE_REQUEST_MOS = bytes.fromhex("d203003e0009f7a3")

# ---------------------------------------------------------------------------
# esphome-daly-bms: the 0x81 ("p81", DL series) firmware, tests/components/daly_bms_ble/frames_p81_ess_dl_bms.h
#   (traffic from docs/pdus/ess-dl-bms-41_260321_0323.txt, an ESS-DL-BMS), expected values from
#   daly_bms_ble_p81_ess_dl_bms_test.cpp. Requests go to slave 0x81, answers come from 0x51. The cells answer is
#   the 133-byte frame batmond used to drop as junk.
# ---------------------------------------------------------------------------
P81_CELLS = bytes.fromhex(
    "5103800cf40cf00cf30cf20cf30cf10cf30cf30cf00cf30cf30cf40cf30cf30cf30cf500000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000003e003e003e003e0000000000000000021274d7036000b6001000040cf5001099ef"
)
P81_STATUS = bytes.fromhex(
    "51037c00090005003e0004003e000100000002000000000a98000700070000000000000000000100010000000000000c"
    "f201d700000040004600000000ffff000075301a06021402210b4b0402000000000080000074be0011035f0000000000"
    "000080000000000000ffffffffffffffffffffffffffffffff00ffffff0002b8ac"
)
# "Constructed from PDU data (SW/HW strings) padded to full 153-byte frame" (the source says so).
P81_VERSION = bytes.fromhex(
    "51039434315f3236303332315f303332334553532d444c2d424d530000000045535334315f3033323300000000323130"
    "4c4332313039303030303500000000000000000000202020203230323630333236000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000002695"
)
# SRC: 53.0 V, -8.9 A, SoC 86.4 %, 16 cells, 4 temperatures 22.0 °C, remaining 271.2 Ah, cycles 7, balancing
#   (register 0x4D = 7), charging and discharging MOSFET on, MOSFET 24.0 °C, board 30.0 °C.
P81_EXPECTED = {
    "voltage": 53.0,
    "current": -8.9,
    "soc": 86.4,
    "charge_ah": 271.2,
    "cycles": 7,
    "cell_voltages": [3.316, 3.312, 3.315, 3.314, 3.315, 3.313, 3.315, 3.315, 3.312, 3.315, 3.315, 3.316,
                      3.315, 3.315, 3.315, 3.317],
    "temperatures": [22.0, 22.0, 22.0, 22.0],
    "switches": {"charge": True, "discharge": True, "balance": True},
    "mosfet_temperature": 24.0,
}  # fmt: skip
P81_VERSION_EXPECTED = {"sw_version": "41_260321_0323ESS-DL-BMS", "hw_version": "ESS41_0323"}  # SRC
# Request frames, SRC (daly_bms_ble_p81_ess_dl_bms_test.cpp, "CRCs verified against" the PDU log).
P81_REQUEST_CELLS = bytes.fromhex("8103000000405bfa")
P81_REQUEST_STATUS = bytes.fromhex("81030041003e8bce")
P81_REQUEST_VERSION = bytes.fromhex("81030178004a5a18")
P81_REQUEST_SETTINGS = bytes.fromhex("8103010000519a0a")

# ---------------------------------------------------------------------------
# aiobmsble tests/bms/test_daly_bms.py (_PROTO_DEFS[0x81]): a second p81 BMS, 4S, answering 81 03 0000 0040,
#   81 03 0041 003E and 81 03 0178 004A. SRC (_DEV_DEFS[0x81]): hw_version "DL_HKMS_3.2.E", serial_number
#   "221LD011111111", sw_version "12_260120_K00TH2.1_103E_30XF". The source states no values for the real-time
#   answers: DERIVED with esphome-daly-bms's register map. Its eight temperature registers read 0xFF (215 °C: no
#   sensor, dropped by the physical limits) although the count register says 2; the board temperature reads 0xFF
#   too; the balance current register holds 30000 (0 A) where esphome's capture holds 0.
# ---------------------------------------------------------------------------
AIOBMSBLE_P81_CELLS = bytes.fromhex(
    "5103800cd10c900ca30cd400000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000ff00ff00ff00ff00ff00ff00ff00ff0082752800700048000400020cd400047201"
)
AIOBMSBLE_P81_STATUS = bytes.fromhex(
    "51037c0002004400ff000000ff0000000000000000000000c9000000007530000000000000000100010000000000000c"
    "ba00090000004500ff000000000000000075301a06050922104aec000000000000000000007530003000700000000000"
    "00000200008000000075300b7dfffefffe00007ff6ffffffffffffffff0002307a"
)
AIOBMSBLE_P81_VERSION = bytes.fromhex(
    "51039431325f3236303132305f4b30305448322e315f313033455f33305846444c5f484b4d535f332e322e4500323231"
    "4c4430313131313131313100000000000000000000000000003230323630353330000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000b1cb"
)
AIOBMSBLE_P81_VERSION_EXPECTED = {
    "sw_version": "12_260120_K00TH2.1_103E_30XF",
    "hw_version": "DL_HKMS_3.2.E",
    "serial": "221LD011111111",
}
AIOBMSBLE_P81_EXPECTED = {
    "voltage": 13.0,
    "current": -0.8,
    "soc": 11.2,
    "charge_ah": 20.1,
    "cycles": 0,
    "cell_voltages": [3.281, 3.216, 3.235, 3.284],
    "temperatures": [],
    "mosfet_temperature": 29.0,
    "balance_current": 0.0,
    "switches": {"charge": True, "discharge": True, "balance": False},
}
# esphome-daly-bms's p81 version frame: its serial field, DERIVED from the same fixed fields.
P81_SERIAL = "210LC210900005"
