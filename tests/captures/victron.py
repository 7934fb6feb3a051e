"""Victron SmartShunt GATT values: one characteristic per reading, little-endian.

No public source publishes raw bytes of *live* readings of this service; the real captures below are the
"not available" values a SmartShunt returned (birdie1/victron issue #11, "New gatt attributes", 2022-04-15,
log lines ``Characteristic (<uuid>) … Rawvalue: b'…'``). The readings with numbers are DERIVED: built here from
the type, scale and "not available" value each source states for the characteristic:

    Fabian-Schmidt/esphome-victron_ble components/victron_ble_connect/victron_ble_connect.h (comments),
    the SmartShunt table quoted in birdie1/victron lib/victron_ble/victron_smartshunt_ble.py,
    victronenergy/gui-v2 velib/inc/velib/ve_regs.h (VE_REG_BAT_TEMPERATURE 0xEDEC: un16 0.01 K, 0xFFFF n/a;
    VE_REG_TTG 0x0FFE: un16 minutes, 0xFFFF n/a; VE_REG_SOC 0x0FFF: un16 0.01 %, 0xFFFF n/a;
    VE_REG_DC_CHANNEL1_VOLTAGE 0xED8D: sn16 0.01 V, 0x7FFF n/a; …_CURRENT_MA 0xED8C: sn32 0.001 A, 0x7FFFFFFF n/a;
    …_POWER 0xED8E: sn16 1 W, 0x7FFF n/a).
"""


def uuid(register: int) -> str:
    return f"6597{register:04x}-4bda-4c1e-af4b-551c4cf74769"


# SRC: birdie1/victron#11 — a SmartShunt without a temperature sensor on Aux.
NOT_AVAILABLE_TEMPERATURE = (uuid(0xEDEC), bytes.fromhex("ffff"))  # b'\xff\xff' → no reading
# SRC: same log: the keep-alive characteristic reads back empty.
KEEP_ALIVE_READ = (uuid(0xFFFF), b"")

# DERIVED (scales above): (characteristic, bytes, decoded value).
READINGS = [
    (uuid(0xED8D), bytes.fromhex("2f05"), 13.27),  # voltage: 1327 × 0.01 V
    (uuid(0xED8C), bytes.fromhex("1ecbffff"), -13.538),  # current: -13538 × 0.001 A (discharging)
    (uuid(0xED8C), bytes.fromhex("10270000"), 10.0),  # current: +10000 mA (charging)
    (uuid(0xED8E), bytes.fromhex("4cff"), -180.0),  # power: -180 W
    (uuid(0x0FFF), bytes.fromhex("b622"), 88.86),  # SoC: 8886 × 0.01 %
    (uuid(0xEEFF), bytes.fromhex("50ffffff"), -17.6),  # consumed: -176 × 0.1 Ah
    (uuid(0x0FFE), bytes.fromhex("e803"), 1000.0),  # time to go: 1000 min
    (uuid(0xEDEC), bytes.fromhex("b072"), 20.45),  # temperature: 29360 × 0.01 K = 293.60 K
]
NOT_AVAILABLE = [
    (uuid(0xED8D), bytes.fromhex("ff7f")),
    (uuid(0xED8C), bytes.fromhex("ffffff7f")),
    (uuid(0xED8E), bytes.fromhex("ff7f")),
    (uuid(0x0FFF), bytes.fromhex("ffff")),
    (uuid(0xEEFF), bytes.fromhex("ffffff7f")),
    (uuid(0x0FFE), bytes.fromhex("ffff")),  # time to go while charging
]
