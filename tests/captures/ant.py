"""Real ANT BMS (2021+ ``7E A1`` protocol) captures from public sources (facts only: bytes and the values the
source states).

Every answer frame is ``7E A1 <func> <addr u16 LE> <len> <data> <CRC16-Modbus LE> AA 55``; the CRC (over
bytes 1 .. 5 + len) was verified for every frame here. Register-read answers (func 0x12 and 0x42) carry six
more bytes between the CRC and ``AA 55`` in every capture (``FF 0B 00 00 41 F2`` / ``FF 0A 00 00 10 32``).

Each *_EXPECTED dict says which keys the source states ("SRC") and which were decoded here ("DERIVED").
Units: V, A (+ = charging), Ah, W, °C.

Notes / surprises:
  * Charge vs discharge MOSFET byte: esphome-ant-bms (from the vendor PDF) and aiobmsble read the charge
    MOSFET status at 46+off and discharge at 47+off; batmon-ha reads them the other way round. Two real
    captures (model2021 and batmon-ha's inline frame) have ``01 02`` there on full packs, which fits
    batmon-ha's order better (0x02 = "overcharge protection" in the charge table). The codec follows
    esphome/aiobmsble; this is the one doubtful fact here.
  * A temperature of exactly -40 °C (raw 0xFFD8) is an unplugged sensor: batmon-ha maps it to NaN, and the
    model2021 capture has one among three 28 °C readings.
  * Cycles: the status frame has no cycle counter. esphome-ant-bms names the u32 mAh at 58+off "total battery
    cycles capacity"; aiobmsble reads it as total_charge (whole Ah) and derives cycles = total_charge //
    design_capacity (its test states 190 for STATUS_22S). In every capture below that field is the mean of the
    accumulated charged (100+off) and discharged (96+off) Ah, e.g. 16S: (5822.651 + 3902.649) / 2 = 4862.65 Ah,
    so the quotient counts equivalent full cycles. The other frames' "cycles" are DERIVED the same way.
  * ASCII version strings contain 0x55 ('U'): a frame end must be found by length, not by a lone 0x55
    (esphome-ant-bms issue #172).
"""

# ---------------------------------------------------------------------------
# esphome-ant-bms (syssi) test frames
# ---------------------------------------------------------------------------
# Source: github.com/syssi/esphome-ant-bms tests/components/ant_bms_ble/frames_16s_status.h (STATUS_FRAME_16S,
#   taken from esp32-ble-example-faker.yaml). Same bytes as the answer to the first status request in
#   docs/pdus/btsnoop_hci_ANT-BLE16ZMUB-reduced.txt.
STATUS_16S = bytes.fromhex(
    "7ea11100008e05010210000000000000000080008001000000000000000000000000e40ce40ce50ce50ce80ce70ce70ce60c"
    "e80ce70ce70ce70ce70ce70ce60ce90c0100020002000700a41403005b006400010100000076b010d5670e0fba324a000f00"
    "000010582e0200000000e90c1000e40c01000500e60c000080007a000f02f2fab98c3b00bbd85800da2d4300e8b649000543aa55"
)
# SRC (frames_16s_status.h comment + ant_bms_ble_test.cpp): 16 cells 3.300/3.300/3.301/3.301/3.304/3.303/
#   3.303/3.302/3.304/3.303/3.303/3.303/3.303/3.303/3.302/3.305 V, total 52.84 V, current 0.3 A, SoC 91 %,
#   capacity 280.0 Ah, remaining 252.602 Ah, cycle capacity 4862.65 Ah, power 15 W, temperatures 1 / 2 °C,
#   MOSFET 2 °C, balancer 7 °C, charge and discharge MOSFET on, balancer off. DERIVED: soh, alarm.
CELLS_16S_MV = [3300, 3300, 3301, 3301, 3304, 3303, 3303, 3302, 3304, 3303, 3303, 3303, 3303, 3303, 3302,
                3305]  # fmt: skip
STATUS_16S_EXPECTED = {
    "voltage": 52.84,
    "current": 0.3,
    "soc": 91,
    "soh": 100,
    "capacity_ah": 280.0,
    "charge_ah": 252.602,
    "cycles": 17,
    "power": 15.0,
    "cell_voltages_mv": CELLS_16S_MV,
    "temperatures": [1.0, 2.0],
    "mosfet_temperature": 2.0,
    "switches": {"charge": True, "discharge": True, "balance": False},
    "alarm_code": 0,
}

# Source: same file, DEVICE_INFO_FRAME; also the first answer in btsnoop_hci_ANT-BLE16ZMUB-reduced.txt.
DEVICE_INFO_16ZM = bytes.fromhex(
    "7ea1126c022031365a4d00000000000000000000000031365a4d554230302d323131303236417208ff0b000041f2aa55"
)
# SRC: device model "16ZM", software version "16ZMUB00-211026A".
DEVICE_INFO_16ZM_EXPECTED = {"model": "16ZM", "sw_version": "16ZMUB00-211026A"}

# Source: same file, DEVICE_INFO_FRAME_ISSUE_172 (from esphome-ant-bms issue #172: 'U' inside the version).
DEVICE_INFO_ISSUE_172 = bytes.fromhex(
    "7ea1126c02203232504842385442313330410000000032324141554230302d32343130303841ef2fff0b000041f2aa55"
)
# SRC: device model "22PHB8TB130A", software version "22AAUB00-241008A".
DEVICE_INFO_ISSUE_172_EXPECTED = {"model": "22PHB8TB130A", "sw_version": "22AAUB00-241008A"}

# Source: github.com/syssi/esphome-ant-bms docs/pdus/model2021-req-7ea1010000be1855aa55.txt (line 1): a real
#   14S pack with four sensors, the third unplugged (D8 FF). The source states no decoded values: DERIVED.
STATUS_14S_MODEL2021 = bytes.fromhex(
    "7ea11100008e0501040e020000000000000000000001000000000000000000000000111011101110111011101110111011101110"
    "111011101110111011101c001c00d8ff1c001c001c007e160000600064000102000080c3c9014f55b3010853000000000000"
    "6b28120000000000111001001110010000001110020070000300ac02f1fa7d2e000094770000de0700007776000035e2aa55"
)
STATUS_14S_MODEL2021_EXPECTED = {
    "voltage": 57.58,
    "current": 0.0,
    "soc": 96,
    "soh": 100,
    "capacity_ah": 30.0,
    "charge_ah": 28.529999,
    "cycles": 0,
    "power": 0.0,
    "cell_voltages_mv": [4113] * 14,
    "temperatures": [28.0, 28.0, 28.0],
    "mosfet_temperature": 28.0,
    "switches": {"charge": True, "discharge": False, "balance": False},
    "alarm_code": 0x02,
}

# Source: github.com/syssi/esphome-ant-bms docs/pdus/btsnoop_hci_ANT-BLE16ZMUB-reduced.txt: request (">>>") and
#   answer ("<<<") pairs from the vendor app. The settings read (0x12 at address 0) and the 0x42 answer carry the
#   six padding bytes; 0x61 answers register writes (func 0x51).
REQUEST_DEVICE_INFO = bytes.fromhex("7ea1026c022058c4aa55")
REQUEST_STATUS = bytes.fromhex("7ea1010000be1855aa55")
SETTINGS_READ_ANSWER = bytes.fromhex(
    "7ea112000038420ede0dd80e740e600248023408c409d007c409c800c80020035802ffffffff100eac0d48022802b80b1c0cc800"
    "c80058029001ffffffffd944ff0b000041f2aa55"
)
ANSWER_0X42 = bytes.fromhex("7ea142000002420eb44cff0a00001032aa55")
WRITE_REQUEST_REG7 = bytes.fromhex("7ea15107000038e4aa55")
WRITE_ACK_REG7 = bytes.fromhex("7ea1610700020100b62baa55")
WRITE_ACK_REG15 = bytes.fromhex("7ea1610f00020300568aaa55")
PERMISSION_ANSWER = bytes.fromhex("7ea11400000c40703b18dc8f9e1137428401a8f9aa55")

# Source: github.com/syssi/esphome-ant-bms components/ant_bms_ble/switch/__init__.py (comment block, from
#   esphome-ant-bms issue #20): the switch write frames sent by the vendor app.
SWITCH_FRAMES = {
    ("discharge", False): bytes.fromhex("7ea151010000d8e5aa55"),
    ("discharge", True): bytes.fromhex("7ea1510300007925aa55"),
    ("charge", False): bytes.fromhex("7ea151040000c8e4aa55"),
    ("charge", True): bytes.fromhex("7ea1510600006924aa55"),
    ("balance", True): bytes.fromhex("7ea1510d000018e6aa55"),
    ("balance", False): bytes.fromhex("7ea1510e0000e8e6aa55"),
}

# ---------------------------------------------------------------------------
# aiobmsble test vectors
# ---------------------------------------------------------------------------
# Source: github.com/patman15/aiobmsble tests/bms/test_ant_bms.py (MockANTBleakClient.RESP[0x1]); its mock sends
#   every answer in 20-byte notifications (BT_FRAME_SIZE = 20). 22 cells, 4 sensors.
STATUS_22S = bytes.fromhex(
    "7ea11100009e050404160000000000000000000088010000000000000000000000001e091b091e091d091d091e0920091e098f08"
    "8e0890082209eb08200920091f091e091f091e091f0921091f091d001d001d001d001e001e00e01315000a0064000101000000b4"
    "c40486f197003aede8006a000000a1f2c0030000000022090c008e080a009400080900006d006a00af02f3fa4c74e5002866ec00"
    "c35d6200ccb39200edc8aa55"
)
# SRC (_RESULT_DEFS): voltage 50.88, current 2.1, battery_level 10, battery_health 100, cycle_charge 9.957766,
#   design_capacity 80, cycles 190, power 106.0, temperatures 29 ×4, MOSFET 30, balancer 30, chrg/dischrg MOSFET on,
#   balancer off, problem_code 0 (over the MOSFET bytes), cells as listed. DERIVED: alarm_code (protection mask).
CELLS_22S_MV = [2334, 2331, 2334, 2333, 2333, 2334, 2336, 2334, 2191, 2190, 2192, 2338, 2283, 2336, 2336,
                2335, 2334, 2335, 2334, 2335, 2337, 2335]  # fmt: skip
STATUS_22S_EXPECTED = {
    "voltage": 50.88,
    "current": 2.1,
    "soc": 10,
    "soh": 100,
    "capacity_ah": 80.0,
    "charge_ah": 9.957766,
    "cycles": 190,
    "power": 106.0,
    "cell_voltages_mv": CELLS_22S_MV,
    "temperatures": [29.0, 29.0, 29.0, 29.0],
    "mosfet_temperature": 30.0,
    "switches": {"charge": True, "discharge": True, "balance": False},
    "alarm_code": 0,
}

# Source: same file, RESP[0x2]. SRC: hw_version "24BH", sw_version "24BHUB00-211026A".
DEVICE_INFO_24BH = bytes.fromhex(
    "7ea1126c02203234424800000000000000000000000032344248554230302d323131303236415796ff0b000041f2aa55"
)
DEVICE_INFO_24BH_EXPECTED = {"model": "24BH", "sw_version": "24BHUB00-211026A"}

# ---------------------------------------------------------------------------
# batmon-ha
# ---------------------------------------------------------------------------
# Source: github.com/fl4p/batmon-ha bmslib/models/ant.py (example frame at the top of AntBt.fetch), pinned in
#   bmslib/test/data/ant_fixtures.py (INLINE_8S). 8 cells, 2 sensors, both unplugged (D8 FF).
STATUS_8S_BATMON = bytes.fromhex(
    "7ea11100007e05010208020000000000000001004201000000000000000000000000d40dd50dd50dd50dd50dd40dd50dd50dd8ff"
    "d8ff1c001d00110b0000640064000102000000e1f50500e1f505a532000000000000ff97010000000000d50d0200d40d01000100"
    "d40df8ff82000000ab02f2fa100000003a6500001f000000fa62000011c3aa55"
)
# SRC (ant_fixtures.py): voltage 28.33, current 0.0, charge 100.0, capacity 100.0, soc 100, soh 100, MOSFET 28,
#   cells 3540/3541/3541/3541/3541/3540/3541/3541 mV. batmon-ha states switches charge=False, discharge=True
#   (its byte order, see the notes). DERIVED: switches in esphome's order, temperatures (both absent), alarm.
STATUS_8S_BATMON_EXPECTED = {
    "voltage": 28.33,
    "current": 0.0,
    "soc": 100,
    "soh": 100,
    "capacity_ah": 100.0,
    "charge_ah": 100.0,
    "cycles": 0,
    "power": 0.0,
    "cell_voltages_mv": [3540, 3541, 3541, 3541, 3541, 3540, 3541, 3541],
    "temperatures": [],
    "mosfet_temperature": 28.0,
    "switches": {"charge": True, "discharge": False, "balance": False},
    "alarm_code": 0x02,
}
