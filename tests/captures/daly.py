"""Real Daly "A5" frames from public sources (facts only: bytes and the values the source states).

Every frame is ``A5 <address> <data id> 08 <8 data bytes> <sum8>``; the checksum (sum of the first 12 bytes,
mod 256) was verified for every frame below. Units: V, A (+ = charging), %, Ah, degC.
Each *_EXPECTED dict says which values the source states (SRC) and which were decoded here (DERIVED).

Notes / surprises:
  * The Bluetooth dongle and the RS485 port speak the same frames; only the request's host address differs
    (0x80 Bluetooth, 0x40 = 0x3F + board 1 on RS485). Answers carry the board number, 01.
  * Over Bluetooth the BMS sends all 16 cell-voltage frames (room for 48 cells); over RS485 the capture below
    holds only the 5 frames a 14-cell pack needs.
  * DREADNOUGHT_BLE_CELLS has three corrupted 13-byte pieces (bad checksums, address byte 0xA8) between
    frame 11 and frame 15 and ends with a truncated frame 16: a real notification stream to resync on.
  * Current: raw 29941 goes with the 0x93 mode "discharging" in the same capture set, so
    (raw - 30000) / 10 is negative while discharging.
"""

# ---------------------------------------------------------------------------
# RS485, host address 0x40: a 14S pack read by Daly's PC software
# ---------------------------------------------------------------------------
# Source: diysolarforum.com thread "Decoding the DALY SmartBMS protocol" (threads/21898, first post by
#   tanoshimini): a Teensy on the bus logging both directions ("->" requests, "<-" answers). The post states
#   no decoded values: all DERIVED (the 14 cells add up to 52.878 V against 52.8 V reported in 0x90).
FORUM_REQUEST_SOC = bytes.fromhex("a540900800000000000000007d")
FORUM_REQUEST_STATUS = bytes.fromhex("a5409408000000000000000081")
FORUM_REQUEST_CELLS = bytes.fromhex("a5409508000000000000000082")
FORUM_REQUEST_TEMPERATURES = bytes.fromhex("a5409608000000000000000083")
FORUM_REQUEST_MOSFETS = bytes.fromhex("a5409308000000000000000080")
FORUM_SOC = bytes.fromhex("a501900802100000753001f4ea")
FORUM_MOSFETS = bytes.fromhex("a50193080001011000004e20c1")
FORUM_STATUS = bytes.fromhex("a50194080e0100000200002073")
FORUM_CELLS = [
    bytes.fromhex("a5019508010ec00ec20ec720d7"),
    bytes.fromhex("a5019508020ec80ec80ec620e5"),
    bytes.fromhex("a5019508030ec20ec20e9c20b0"),
    bytes.fromhex("a5019508040ec40ec40ec420dd"),
    bytes.fromhex("a5019508050ec30ec00ec420d9"),
]
FORUM_TEMPERATURES = [
    bytes.fromhex("a5019608013d00000000000082"),
    bytes.fromhex("a5019608020000000000000046"),
]
FORUM_EXPECTED = {  # DERIVED
    "voltage": 52.8,
    "current": 0.0,
    "soc": 50.0,
    "charge_ah": 20.0,
    "charge_mosfet": True,
    "discharge_mosfet": True,
    "cell_count": 14,
    "ntc_count": 1,
    "cycles": 0,
    "cell_voltages_mv": [3776, 3778, 3783, 3784, 3784, 3782, 3778, 3778, 3740, 3780, 3780, 3780, 3779, 3776],
    "temperatures": [21.0],
}

# Switch frames, RS485 board 1. Source: the same diysolarforum thread, later posts on the charge/discharge
#   MOSFET commands, as quoted in public projects: "Discharge MOS off: A5 40 D9 08 00 … C6 / on: … 01 … C7;
#   Charge MOS off: A5 40 DA 08 00 … C7 / on: … 01 … C8". Louisvdw/dbus-serialbattery
#   (etc/dbus-serialbattery/bms/daly.py, write_charge_discharge_mos) sends the same layout (data byte 1 = on)
#   and checks that the BMS echoes the data byte.
SWITCH_FRAMES_BOARD_1 = {
    ("discharge", False): bytes.fromhex("a540d9080000000000000000c6"),
    ("discharge", True): bytes.fromhex("a540d9080100000000000000c7"),
    ("charge", False): bytes.fromhex("a540da080000000000000000c7"),
    ("charge", True): bytes.fromhex("a540da080100000000000000c8"),
}

# ---------------------------------------------------------------------------
# Bluetooth (host address 0x80): dreadnought/python-daly-bms tests/test_bluetooth.py
# ---------------------------------------------------------------------------
# The test's mock answers each request written to the dongle with these notifications; the asserted values
# in the same file are SRC.
DREADNOUGHT_REQUEST_SOC = bytes.fromhex("a58090080000000000000000bd")
DREADNOUGHT_REQUEST_CELLS = bytes.fromhex("a58095080000000000000000c2")
DREADNOUGHT_SOC = bytes.fromhex("a50190080212000074f5039a58")
DREADNOUGHT_SOC_EXPECTED = {"voltage": 53.0, "current": -5.9, "soc": 92.2}  # SRC
DREADNOUGHT_MOSFETS = bytes.fromhex("a50193080201019e0003eaf8c8")
# SRC: mode discharging, charging_mosfet True, discharging_mosfet True, capacity_ah 256.76.
DREADNOUGHT_MOSFETS_EXPECTED = {"charge_ah": 256.76, "charge_mosfet": True, "discharge_mosfet": True}
DREADNOUGHT_STATUS = bytes.fromhex("a50194081001000002000b9bfb")
DREADNOUGHT_STATUS_EXPECTED = {"cell_count": 16, "ntc_count": 1, "cycles": 11}  # SRC
DREADNOUGHT_BLE_CELLS = bytes.fromhex(
    "a5019508010d370d360d349ba7a5019508020d350d350d359ba6a5019508030d340d3e0d369bb0"
    "a5019508040d370d360d379bada5019508050d340d350d349ba7a5019508060d37000000009b28"
    "a5019508070000000000009be5a5019508080000000000009be6a5019508090000000000009be7"
    "a50195080a0000000000009be8a50195080b0000000000009be9a5a8004000702440000d300000"
    "7024400038a700006d320000702440005331000000000000a800a50195080f0000000000009bed"
    "a501950810"
)
# SRC: cells 1..16.
DREADNOUGHT_CELLS_EXPECTED_MV = [3383, 3382, 3380, 3381, 3381, 3381, 3380, 3390,
                                 3382, 3383, 3382, 3383, 3380, 3381, 3380, 3383]  # fmt: skip
DREADNOUGHT_TEMPERATURES = bytes.fromhex("a5019608013d00000000000082a5019608020000000000000046")
DREADNOUGHT_TEMPERATURES_EXPECTED = [21.0]  # SRC (one sensor)

# ---------------------------------------------------------------------------
# jblance/mpp-solar tests/integration/test_protocol_daly.py (answers of a 16S pack), values SRC
# ---------------------------------------------------------------------------
MPP_SOC = bytes.fromhex("a5019008021400007545037889")
MPP_SOC_EXPECTED = {"voltage": 53.2, "current": 2.1, "soc": 88.8}
MPP_MOSFETS = bytes.fromhex("a50193080001019a0002a2d859")
MPP_MOSFETS_EXPECTED = {"charge_ah": 172.76, "charge_mosfet": True, "discharge_mosfet": True}  # "stationary"
MPP_STATUS = bytes.fromhex("a5019408100100000000034096")
MPP_STATUS_EXPECTED = {"cell_count": 16, "ntc_count": 1, "cycles": 3}
MPP_CELLS = bytes.fromhex(
    "a5019508010cfd0cfe0cfe40a1a5019508020cfe0cfe0cfe40a3a5019508030cfe0cfe0cfe40a4"
    "a5019508040cfe0cfc0cfe40a3a5019508050cfe0cff0cfe40a7a5019508060cfc000000004091"
    "a501950807000000000000408aa501950808000000000000408ba501950809000000000000408c"
    "a50195080a000000000000408da50195080b000000000000408ea50195080c000000000000408f"
    "a50195080d0000000000004090a50195080e0000000000004091a50195080f0000000000004092"
    "a5019508100000000000004093"
)
MPP_CELLS_EXPECTED_MV = [3325, 3326, 3326, 3326, 3326, 3326, 3326, 3326,
                         3326, 3326, 3324, 3326, 3326, 3327, 3326, 3324]  # fmt: skip

# ---------------------------------------------------------------------------
# fl4p/batmon-ha bmslib/test/test_daly_ble_connect.py: "replies from the #416 snoop log" (4S LiFePO4 at rest)
# ---------------------------------------------------------------------------
BATMON_416_SOC = bytes.fromhex("a501900800850000753001e44d")
BATMON_416_STATUS = bytes.fromhex("a501940804020000000000438b")
BATMON_416_EXPECTED = {"voltage": 13.3, "current": 0.0, "soc": 48.4, "cell_count": 4, "ntc_count": 2}  # DERIVED

# ---------------------------------------------------------------------------
# fl4p/batmon-ha bmslib/models/daly.py: answers its author captured, kept as comments in _fetch_status and
#   fetch_states (batmon-ha's bmslib/test/data/SOURCES.md: "Real cmd 0x93 response captured by batmon-ha
#   author"). The comments hold the 8 data bytes only: the A5 01 <id> 08 envelope and the checksum are DERIVED.
# ---------------------------------------------------------------------------
BATMON_INLINE_MOSFETS_DSG_ON = bytes.fromhex("a5019308010101ca0003dd3826")
BATMON_INLINE_MOSFETS_DSG_OFF = bytes.fromhex("a50193080101015d0003da2caa")
# SRC (daly_fixtures.py): mode charging, both MOSFET bits on, 253.24 Ah / 252.46 Ah remaining. The second was
#   taken with the discharge MOSFET switched off ("dsgOFF"), yet its bit reads on: batmon-ha notes "the raw MOS
#   bits don't track the real switch state". batmond reports the bits as the BMS sends them (README: known
#   disagreements).
BATMON_INLINE_MOSFETS_EXPECTED = {"dsg_on": 253.24, "dsg_off": 252.46}
BATMON_INLINE_STATUS_8S = bytes.fromhex("a501940808010000020035dc5e")
BATMON_INLINE_STATUS_8S_EXPECTED = {"cell_count": 8, "ntc_count": 1, "cycles": 53}  # SRC
