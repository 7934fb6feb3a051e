"""Real frames of the no-name Modbus-over-Nordic-UART BMS (4S LiFePO4, 100 Ah) from a public source.

Source: github.com/fl4p/batmon-ha issue #131 ("China noname bms", 2023-09-03): the owner pasted the three
requests and the notifications that answered them, with his reading of some values. This is the only public
capture of this BMS; batmon-ha's bmslib/test/test_noname_modbus_decode.py replays the same frames.

Answers are ``01 03 <byte count> <registers, u16 BE> <CRC-16/MODBUS LE>``; the CRC of each was verified
(CRC over the whole frame is 0).

Each *_EXPECTED dict says which keys the owner states ("SRC") and which were decoded here from the layout
in batmon-ha's models/noname_modbus.py ("DERIVED").

Notes / surprises:
  * The owner masked two bytes of the status answer as "0xUU" (register 13, read as the discharge current).
    Only 0x0000 makes the frame's CRC (76 95) hold, so the frame below carries 00 00 there (DERIVED).
  * He printed each answer in pieces of 19, 20, … bytes (the first piece one byte short of the 20 that
    follow); the *_NOTIFICATIONS lists keep his pieces.
  * He reads the capacities in 10 mAh (0x26F1 = 99.69 Ah, 0x2710 = 100.0 Ah); batmon-ha divides by 10.
"""

# Requests as sent (SRC). The owner typed the third as "01 03 D0 26 0 19 5D 0B".
REQUEST_INFO = bytes.fromhex("0103231c00048e4b")
REQUEST_CELLS = bytes.fromhex("0103d0000026fcd0")
REQUEST_STATUS = bytes.fromhex("0103d02600195d0b")

# 0x231C × 4: "4 cell 1 termo sensor , ?? ??".
INFO = bytes.fromhex("0103080004000100060005cdd5")
INFO_EXPECTED = {"cell_count": 4, "temperature_count": 1}  # SRC

# 0xD000 × 38: "voltages info".
CELLS_NOTIFICATIONS = [
    bytes.fromhex("01034c0e2d0e140e2c0e2dee49ee49ee49ee49"),
    bytes.fromhex("ee49ee49ee49ee49ee49ee49ee49ee49ee49ee49"),
    bytes.fromhex("ee49ee49ee49ee49ee49ee49ee49ee49ee49ee49"),
    bytes.fromhex("ee49ee49ee49ee490e2d0e1400010002001905a8"),
    bytes.fromhex("6890"),
]
CELLS = b"".join(CELLS_NOTIFICATIONS)
# SRC: "0e2d = 3629 mv", "05a8 = 1448 = 14.48 V battery voltage". DERIVED: the other three cells, the
#   28 empty slots (0xEE49), max 3629 / min 3604 mV at cells 1 / 2, delta 25 mV.
CELLS_EXPECTED = {"cell_voltages": [3.629, 3.604, 3.628, 3.629], "voltage": 14.48}

# 0xD026 × 25: "capacity && temp".
STATUS_NOTIFICATIONS = [
    bytes.fromhex("01033202800000000000000000000000000000"),
    bytes.fromhex("0000028002800280000700000064006426f12710"),
    bytes.fromhex("27100002000000040000000000007695"),
]
STATUS = b"".join(STATUS_NOTIFICATIONS)
# SRC: "00 64 = 100% capacity" (SoC), "26f1 = 9 969 = 99.690 Ah current capacity", "2710 = 10 000 = design
#   capacity 100.0 Ah", "00 07 = 0.7 A charge current". DERIVED: temperature (0x0280 − 400) / 10 = 24.0 °C,
#   discharge current 0 (the masked register), SoH 100 %, cycles 2.
STATUS_EXPECTED = {
    "soc": 100.0,
    "charge_ah": 99.69,
    "capacity_ah": 100.0,
    "current": 0.7,
    "temperatures": [24.0],
    "soh": 100.0,
    "cycles": 2,
}
