"""Real JK02 BLE captures of the 32-cell layout (firmware >= 11) from public sources (facts only: bytes and the
values the source states). The 24-cell layout is in jk02_24s.py.

Every frame below is a complete, reassembled notification payload as published by its source. Checksums were
verified: sum(frame[0:299]) & 0xFF == frame[299] for all of them. The frames under "Edited by the source" are
edits that aiobmsble's own tests make to a capture (named there), re-checksummed as that test does.

Key legend used in the *_EXPECTED dicts (units: V, A, Ah, degC, mV, s):
    voltage, current (+ = charging), soc, soh, cell_count, enabled_cell_mask,
    cell_voltages_mv, temperatures ([T1, T2]), mosfet_temperature, charge_ah
    (remaining), capacity_ah (nominal), cycles, balance_current, charge_mosfet,
    discharge_mosfet, total_runtime_s, error_mask,
    temps_254_256_258 (raw 0.1 degC words at bytes 254/256/258, in that order:
    T5, T4, T3).
Each dict carries a comment saying which keys the source states ("SRC") and which
were decoded here from the JK02 offsets ("DERIVED"). Derived values were checked to
agree with every source-stated value for the same frame.

Notes / surprises:
  * frames_jk02_32s_v11.h in syssi/esphome-jk-bms is named after the JK02_32S
    protocol generation, but its device-info frame reports HW 14.XA / SW 14.20
    (same device as the v14 file). A genuine SW 11.x capture is
    JK02_32S_SW1148_* (from aiobmsble).
  * In every 32S capture here byte 254 equals the MOSFET temperature at byte 144;
    aiobmsble types byte 254 as a second MOSFET sensor, esphome-jk-bms's protocol document as "Temperature
    Sensor 5" (the PB display traffic in its docs/display-protocol/traffic3.md shows a "Battery T5" of 20.1 °C
    next to "MOS Temp" 21.7 °C, so it is a probe of its own). batmond follows the document.
  * Byte 214 is the probe-present mask: 0xFF in every capture. esphome-jk-bms's document: bit 0 MOSFET, bits
    1-5 T1-T5. aiobmsble reads bit 3 for byte 254 and bit 5 for byte 258 (T5 and T3 swapped). The document
    names it "Temperature sensor absent bitmask", but a set bit means present: every capture has all bits set
    and real readings on those probes, and aiobmsble hides a probe whose bit is clear.
  * On SW 11.48 bytes 256/258 (T4/T3) are 0 although the mask marks them present: these probes came with
    firmware 14 (aiobmsble reads them from 14 on).
  * The firmware's own delta-cell field (byte 76) is sometimes 1 mV smaller than
    max-min of the cell list (V15: 16 vs 17). esphome states max-min, aiobmsble states the field.
  * aiobmsble reads the serial number as only bytes 86..93 (8 chars); the full
    NUL-padded field 86..101 is longer.
  * JK02_32S_SW1905_DEVICE_INFO_WITH_TRAILER is 324 bytes: the 300-byte frame is
    followed in the same capture by a 20-byte "BMS ready" message
    (aa 55 90 eb c8 01 01 00*12 44) and the BLE module's "AT\\r\\n".
  * The raw u32 "power" word (byte 154) is unsigned: it is
    positive while discharging (e.g. SW1148: 187.232 W at -7.063 A).
"""

# ---------------------------------------------------------------------------
# JK02_32S (software >= 11)
# ---------------------------------------------------------------------------

# Source: github.com/patman15/aiobmsble tests/bms/test_jikong_bms.py, _PROTO_DEFS["JK02_32S"]["dev"]
#   (comment: "Vendor_ID: JK_B2A8S20P, SN: 404092C2262, HW: V11.XA, SW: V11.48, power-on: 7").
JK02_32S_SW1148_DEVICE_INFO = bytes.fromhex(
    "55aaeb9003a34a4b5f4232413853323050000000000031312e58410000003131"
    "2e3438000000e4a7460007000000313276343230610000000000000000003132"
    "3334000000000000000000000000323430373034000034303430393243323236"
    "320030303000496e707574205573657264617461000031343037303300000000"
    "00000000000000000000000000000000000000000000fef9ffff1f2d00020000"
    "0000901f00000000c0d8e7320000000100000000000000000000070400000000"
    "0000000000000000000041000000000000000000000000000000000000000000"
    "0000000000000000000009000000640000005f00000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000fe"
    "bf21060000000000000000d8"
)
# SRC: model, hw_version, sw_version, device_name, serial (comment: 404092C2262;
#   _DEV_DEFS: "404092C2"). DERIVED: none beyond the full serial field.
JK02_32S_SW1148_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK_B2A8S20P",
    "hw_version": "11.XA",
    "sw_version": "11.48",
    "device_name": "12v420a",
    "serial_number": "404092C2262",
}

# Source: same file, _PROTO_DEFS["JK02_32S"]["cell"] — discharging at -7.063 A, 8S.
JK02_32S_SW1148_CELL_INFO = bytes.fromhex(
    "55aaeb9002adf30cf30cf30cf00cf10cf00cf10cf10c00000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000ff000000f20c0300000738003700360037003600370036003700"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000003601000000008d67000060db020069e4"
    "ffff1c0124010000000000000044802c02005034030015000000bc6244006400"
    "00001ef3680001010000000000000000000000000000ff0001000000f1030000"
    "230029b43f40000000005a0a00000001000100060000ef3d0804000000003601"
    "00000000f103643967001a0000008051010000000000000000000000000001fe"
    "ff7fdc0f01008003000000b4"
)
# SRC (_RESULT_DEFS["JK02_32S"]): voltage, current, soc, soh, cell_count, cell_voltages_mv,
#   temperatures (28.4, 29.2), mosfet_temperature (31.0, byte 144), byte 254 = 31.0,
#   charge_ah, capacity_ah (210), cycles, balance_current, charge/discharge mosfet,
#   error_mask (problem_code 0), delta 0.003 V. (Its "runtime" 72613 and "power" are
#   computed by aiobmsble, not frame fields.)
# DERIVED: enabled_cell_mask, total_runtime_s, temps_254_256_258 (256/258 are 0 on SW 11).
JK02_32S_SW1148_CELL_INFO_EXPECTED = {
    "frame_type": 0x02,
    "voltage": 26.509,
    "current": -7.063,
    "soc": 68,
    "soh": 100,
    "cell_count": 8,
    "enabled_cell_mask": 0x000000FF,
    "cell_voltages_mv": [3315, 3315, 3315, 3312, 3313, 3312, 3313, 3313],
    "temperatures": [28.4, 29.2],
    "mosfet_temperature": 31.0,
    "charge_ah": 142.464,
    "capacity_ah": 210.0,
    "cycles": 21,
    "balance_current": 0.0,
    "charge_mosfet": True,
    "discharge_mosfet": True,
    "total_runtime_s": 6877982,
    "error_mask": 0,
    "temps_254_256_258": (31.0, 0.0, 0.0),
}

# Source: github.com/syssi/esphome-jk-bms tests/components/jk_bms_ble/frames_jk02_32s_v11.h
#   (DEVICE_INFO_JK02_32S_V11; header: "JK_PB2A16S15P HW: 14.XA SW: 14.20").
JK02_32S_V11_DEVICE_INFO = bytes.fromhex(
    "55aaeb90036b4a4b5f5042324131365331355000000031342e58410000003134"
    "2e323000000088a30100940000004a4b5f504232413136533135500000003132"
    "3334000000000000000000000000323331313138000033303932353732313334"
    "003030303000496e707574205573657264617461000031323334353700000000"
    "000000000000496e7075742055736572646174610000feffffffafe901020000"
    "0000901f00000000c0d8e7fe1f00000100000000000000000104cf0300000000"
    "00000000000000000000df0700000000000000000000000000000b0000000000"
    "00000000000000000000000b00010000000000000000090000000b0000000000"
    "000000000000805100000a5001000000000000000000000000000000000000fe"
    "9fe9fe0300000000000000de"
)
# SRC: model (vendor), hw_version, sw_version. DERIVED: device_name, serial_number.
JK02_32S_V11_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK_PB2A16S15P",
    "hw_version": "14.XA",
    "sw_version": "14.20",
    "device_name": "JK_PB2A16S15P",
    "serial_number": "3092572134",
}

# Source: same file, CELL_INFO_JK02_32S_V11.
JK02_32S_V11_CELL_INFO = bytes.fromhex(
    "55aaeb9002e8ae0c9e0c9a0c9f0ca10c9f0ca00ca00c990ca00c900c990ca50c"
    "9f0c990caa0c0000000000000000000000000000000000000000000000000000"
    "000000000000ffff00009f0c1f00000a680068007a0073007200850070006700"
    "82007700650066007e00780074009c0000000000000000000000000000000000"
    "00000000000000000000000000000000ad0000000000e9c90000000000000000"
    "0000b100b100000000000000003413040000d007000000000000000000006400"
    "000098a3010001010000000000000000000000000000ff0001000000e2040000"
    "0100f6c74040000000003014fe010001010100060000600c000000000000ad00"
    "b300b4009003da269d07180600008051010000000000000000000000000000fe"
    "ff7fdd2f0101b00700000016"
)
# SRC (header + jk_bms_ble_jk02_32s_v11_test.cpp): voltage, current, soc, soh, cell_count,
#   temperatures, mosfet_temperature, charge_ah, capacity_ah, cycles, total_runtime_s,
#   charge/discharge mosfet (on/on), cells 1/2/11/16 (3.246/3.230/3.216/3.242 V),
#   min #11, max #1, delta 0.030 V.
# DERIVED: enabled_cell_mask, other cell_voltages_mv, balance_current, error_mask,
#   temps_254_256_258.
JK02_32S_V11_CELL_INFO_EXPECTED = {
    "frame_type": 0x02,
    "voltage": 51.689,
    "current": 0.0,
    "soc": 52,
    "soh": 100,
    "cell_count": 16,
    "enabled_cell_mask": 0x0000FFFF,
    "cell_voltages_mv": [
        3246,
        3230,
        3226,
        3231,
        3233,
        3231,
        3232,
        3232,
        3225,
        3232,
        3216,
        3225,
        3237,
        3231,
        3225,
        3242,
    ],
    "temperatures": [17.7, 17.7],
    "mosfet_temperature": 17.3,
    "charge_ah": 1.043,
    "capacity_ah": 2.0,
    "cycles": 0,
    "balance_current": 0.0,
    "charge_mosfet": True,
    "discharge_mosfet": True,
    "total_runtime_s": 107416,
    "error_mask": 0,
    "temps_254_256_258": (17.3, 17.9, 18.0),
}

# Source: github.com/syssi/esphome-jk-bms tests/components/jk_bms_ble/frames_jk02_32s_v14.h
#   (DEVICE_INFO_JK02_32S_V14; JK_PB2A16S15P, HW 14.XA, SW 14.20).
JK02_32S_V14_DEVICE_INFO = bytes.fromhex(
    "55aaeb9003a54a4b5f5042324131365331355000000031342e58410000003134"
    "2e323000000054e601009c0000004a4b5f504232413136533135500000003132"
    "3334000000000000000000000000323331313138000033303932353732313334"
    "003030303000496e707574205573657264617461000031323334353700000000"
    "000000000000496e7075742055736572646174610000feffffffafe901020000"
    "0000901f00000000c0d8e7fe1f00000100000000000000000104cf0300000000"
    "00000000000000000000df07000000000000000000000000000001cf03000000"
    "00000000000000000000000b00010000000000000000090000000b0000000000"
    "000000000000805100000a5001000000000000000000000000000000000000fe"
    "9fe9fe0300000000000000f7"
)
# SRC: model, hw_version, sw_version. DERIVED: device_name, serial_number.
JK02_32S_V14_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK_PB2A16S15P",
    "hw_version": "14.XA",
    "sw_version": "14.20",
    "device_name": "JK_PB2A16S15P",
    "serial_number": "3092572134",
}

# Source: same file, CELL_INFO_JK02_32S_V14 (discharged pack, 324 mV spread).
JK02_32S_V14_CELL_INFO = bytes.fromhex(
    "55aaeb9002cb670c350c030c3b0c550c2d0c420c3d0cb20b3e0c230bbe0b5d0c"
    "2d0cdc0b660c0000000000000000000000000000000000000000000000000000"
    "000000000000ffff0000170c4401000a6900650072006e00760085006c006c00"
    "8700720067006a007e00780069007f0000000000000000000000000000000000"
    "00000000000000000000000000000000b6000000000076c10000000000000000"
    "0000a800aa000000000000000032ef030000d007000000000000070000006400"
    "0000e1e6010001010000000000000000000000000000ff0001000000e2040000"
    "0000f6c7404000000000581300000001010100060000e988000000000000b600"
    "a800aa009003e41ba007310600008051010000000000000000000000000000fe"
    "ff7fdd2f0101b00700000016"
)
# SRC (header + jk_bms_ble_jk02_32s_v14_test.cpp): voltage, current, soc, soh, cell_count,
#   temperatures, mosfet_temperature, charge_ah, capacity_ah, cycles, total_runtime_s,
#   charge/discharge mosfet (on/on), cells 1/11/16 (3.175/2.851/3.174 V), delta 0.324 V.
# DERIVED: enabled_cell_mask, other cell_voltages_mv, balance_current, error_mask,
#   temps_254_256_258.
JK02_32S_V14_CELL_INFO_EXPECTED = {
    "frame_type": 0x02,
    "voltage": 49.526,
    "current": 0.0,
    "soc": 50,
    "soh": 100,
    "cell_count": 16,
    "enabled_cell_mask": 0x0000FFFF,
    "cell_voltages_mv": [
        3175,
        3125,
        3075,
        3131,
        3157,
        3117,
        3138,
        3133,
        2994,
        3134,
        2851,
        3006,
        3165,
        3117,
        3036,
        3174,
    ],
    "temperatures": [16.8, 17.0],
    "mosfet_temperature": 18.2,
    "charge_ah": 1.007,
    "capacity_ah": 2.0,
    "cycles": 0,
    "balance_current": 0.0,
    "charge_mosfet": True,
    "discharge_mosfet": True,
    "total_runtime_s": 124641,
    "error_mask": 0,
    "temps_254_256_258": (18.2, 16.8, 17.0),
}

# Source: github.com/syssi/esphome-jk-bms tests/components/jk_bms_ble/frames_jk02_32s_v15.h
#   (DEVICE_INFO_JK02_32S_V15; JK_PB2A16S15P, HW 15A, SW 15.38).
JK02_32S_V15_DEVICE_INFO = bytes.fromhex(
    "55aaeb9003a54a4b5f5042324131365331355000000031354100000000003135"
    "2e3338000000884b76011d0000004a4b5f5042324131366e6577000000003132"
    "3334000000000000000000000000323430353136000034303131303438303532"
    "3000303030000000000000000000000000000000000031323334353700000000"
    "00000000000000000000000000000000000000000000feffffff8fe91d020000"
    "0000901f00000000c0d8e7fe3f00000100000000000000000004ff6700000000"
    "00000000000000000000ff0f00000000000000000000000000000f0000000000"
    "00000000000000000000000b000128000000230000000a0000000f0000000000"
    "000000000000100e00000850011e0000000000000000000000000000000000fe"
    "9fe9ff0f000000000000004b"
)
# SRC: model, hw_version, sw_version. DERIVED: device_name, serial_number.
JK02_32S_V15_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK_PB2A16S15P",
    "hw_version": "15A",
    "sw_version": "15.38",
    "device_name": "JK_PB2A16new",
    "serial_number": "40110480520",
}

# Source: same file, CELL_INFO_JK02_32S_V15 — charging at +31.881 A.
#   (aiobmsble test_jikong_bms.py "JK02_32S_v15" uses the same frame with bytes ~254..287
#   changed and re-checksummed; not included here.)
JK02_32S_V15_CELL_INFO = bytes.fromhex(
    "55aaeb9002ac050dfe0cfe0c010d010dfd0cfb0c010dfc0cfb0cfe0cfb0cf80c"
    "fb0cfb0c090d0000000000000000000000000000000000000000000000000000"
    "000000000000ffff0000ff0c10000f0c40003d0040003d0041003f0041003e00"
    "41003e0041003d0040003e0041003f0000000000000000000000000000000000"
    "00000000000000000000000000000000810000000000e8cf00004ae41900897c"
    "000086008000000000000000001986c00000400d030009000000b15f1c006400"
    "00008c4c760101010000000000000000000000000000ff000100000005045200"
    "0000d44e404000000000ca1400000001010100060000ea670000000000008100"
    "83008700cc03b799da09160000008051010000000301000000000000000000fe"
    "ff7fdc2f0101b0cf070000d8"
)
# SRC (header + jk_bms_ble_jk02_32s_v15_test.cpp; aiobmsble agrees): voltage, current, soc,
#   soh, cell_count, temperatures, mosfet_temperature, charge_ah, capacity_ah, cycles,
#   total_runtime_s, charge/discharge mosfet (on/on), cells 1/13/16 (3.333/3.320/3.337 V),
#   min #13, max #16, delta 0.017 V (esphome; aiobmsble states the firmware field 0.016);
#   aiobmsble's cell list equals cell_voltages_mv below.
# DERIVED: enabled_cell_mask, balance_current, error_mask, temps_254_256_258.
JK02_32S_V15_CELL_INFO_EXPECTED = {
    "frame_type": 0x02,
    "voltage": 53.224,
    "current": 31.881,
    "soc": 25,
    "soh": 100,
    "cell_count": 16,
    "enabled_cell_mask": 0x0000FFFF,
    "cell_voltages_mv": [
        3333,
        3326,
        3326,
        3329,
        3329,
        3325,
        3323,
        3329,
        3324,
        3323,
        3326,
        3323,
        3320,
        3323,
        3323,
        3337,
    ],
    "temperatures": [13.4, 12.8],
    "mosfet_temperature": 12.9,
    "charge_ah": 49.286,
    "capacity_ah": 200.0,
    "cycles": 9,
    "balance_current": 0.0,
    "charge_mosfet": True,
    "discharge_mosfet": True,
    "total_runtime_s": 24530060,
    "error_mask": 0,
    "temps_254_256_258": (12.9, 13.1, 13.5),
}

# Source: github.com/patman15/aiobmsble tests/bms/test_jikong_bms.py, _PROTO_DEFS["JK02_32S_v19.05"]["dev"]
#   — 324 bytes as delivered: 300-byte device-info frame + 20-byte "BMS ready" message
#   (aa 55 90 eb c8 01 01 00*12 44) + b"AT\r\n". Comment in source: "ACKnowledge is contained
#   at end of dev msg, with AT cmd". Useful for framer tests.
JK02_32S_SW1905_DEVICE_INFO_WITH_TRAILER = bytes.fromhex(
    "55aaeb9003984a4b5f5042324131365332305000000031394100000000003139"
    "2e3035000000487308000b000000426174657269652031000000000000003132"
    "3334000000000000000000000000323530353234000035303332313438343930"
    "3030363433004a4b2d424d530000000000000000000033313431353932370000"
    "0000000000004a4b2d424d5300000000000000000000ffffffff8fe98d030000"
    "0000901f00000000c0d8f7fe7f00000000000000000000000104ffe700000000"
    "00000000000000000000ff0f0000000000000000000000000000100000000000"
    "0000000000000000000009080001640000005f0000003c000000320000000000"
    "000000000000100e00000a3c011e0f03a40000000000000000000000000000fe"
    "9fe9fe1b00000000000000c5aa5590ebc8010100000000000000000000000044"
    "41540d0a"
)
JK02_32S_SW1905_DEVICE_INFO = JK02_32S_SW1905_DEVICE_INFO_WITH_TRAILER[:300]
JK02_32S_SW1905_TRAILER = JK02_32S_SW1905_DEVICE_INFO_WITH_TRAILER[300:]
# SRC (_DEV_DEFS): model, hw_version, sw_version, device_name; serial "50321484" (8 chars).
# DERIVED: full serial_number field.
JK02_32S_SW1905_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK_PB2A16S20P",
    "hw_version": "19A",
    "sw_version": "19.05",
    "device_name": "Baterie 1",
    "serial_number": "503214849000643",
}

# Source: github.com/syssi/esphome-jk-bms tests/components/jk_bms_ble/frames_jk02_32s_v19.h
#   (DEVICE_INFO_JK02_32S_V19; JK-PB2A16S20P, HW 19A, SW 19.27).
JK02_32S_V19_DEVICE_INFO = bytes.fromhex(
    "55aaeb9003a54a4b2d5042324131365332305000001031394100000000003139"
    "2e3237000000a811370010000000353036313737463439303030363734003132"
    "3334000000000000000000000000323531313031000035303631373746343930"
    "3030363734004a4b2d424d530000000000000000000031323334350000000000"
    "0000000000004a4b2d424d5300000000000000000000ffffffffafe98d0f0000"
    "0000901f00000000c0d8f7feef00000000000000000000000e00fbe600004345"
    "484d5052540000000000ff0f0000000000000000000000000000150000000000"
    "0000000000000000000009000001640000005f0000003c000000320000000000"
    "000000000000100e00000532011e0f03a40000000000050000000000000000fe"
    "9febfe390000000000000233"
)
# SRC: model, hw_version, sw_version. DERIVED: device_name, serial_number (here identical).
JK02_32S_V19_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK-PB2A16S20P",
    "hw_version": "19A",
    "sw_version": "19.27",
    "device_name": "506177F49000674",
    "serial_number": "506177F49000674",
}

# Source: same file, SETTINGS_JK02_32S_V19 (type 0x01).
JK02_32S_V19_SETTINGS = bytes.fromhex(
    "55aaeb900118ac0d0000280a0000ea0b0000420e0000780d0000030000007a0d"
    "0000b80b0000840d0000160d0000c409000080380100030000003c000000a086"
    "01002c0100003c0000001e000000d0070000bc02000058020000bc0200005802"
    "0000140000003200000020030000bc0200001000000001000000010000000100"
    "000090ca0400050000007a0d0000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000020a1070001120a0c18fe"
    "ffffffbfe9ed0f00f6fb0080"
)
# SRC: byte 282 = 0x01 ("heating on, port switch on CAN (bit3 clear)").
# DERIVED: the rest, same offsets as JK02_24S_V10_SETTINGS_EXPECTED; nominal capacity agrees
#   with the v19 cell-info frame (314 Ah).
JK02_32S_V19_SETTINGS_EXPECTED = {
    "frame_type": 0x01,
    "cell_uvp_v": 2.6,
    "cell_uvpr_v": 3.05,
    "cell_ovp_v": 3.65,
    "cell_ovpr_v": 3.448,
    "balance_trigger_v": 0.003,
    "power_off_v": 2.5,
    "max_charge_current_a": 80.0,
    "max_discharge_current_a": 100.0,
    "max_balance_current_a": 2.0,
    "cell_count": 16,
    "charge_switch": True,
    "discharge_switch": True,
    "balancer_switch": True,
    "nominal_capacity_ah": 314.0,
    "balance_start_v": 3.45,
    "controls_byte_282": 0x01,
}

# Source: same file, CELL_INFO_JK02_32S_V19 — discharging at -0.727 A.
JK02_32S_V19_CELL_INFO = bytes.fromhex(
    "55aaeb900217350d310d2f0d310d310d310d310d320d2f0d2e0d310d2f0d310d"
    "320d2f0d310d0000000000000000000000000000000000000000000000000000"
    "000000000000ffff0000310d060000093c0040004c004e005300590068006500"
    "69006500570050005400500047003e0000000000000000000000000000000000"
    "000000000000000000000000000000008000000000000cd300006e99000029fd"
    "ffff77007f00000000000000006442c6040090ca0400050000004a9218006400"
    "0000bc12370001010000000000000000000000000000ff00010000008b230000"
    "060051973f40000000001a150000000101010006000022180e02000000008000"
    "7e00720000001862b10b3e0000008051010000000103831302000000000000fe"
    "ff7fdd2f0101b0cf07000097"
)
# SRC (header + jk_bms_ble_jk02_32s_v19_test.cpp): voltage, current, soc, soh, cell_count,
#   temperatures, mosfet_temperature, charge_ah, capacity_ah, cycles, total_runtime_s,
#   charge/discharge mosfet (on/on), cells 1/16 (3.381/3.377 V), min 3.374 V (#10),
#   max 3.381 V (#1), delta 0.007 V; also "detail log count" 62, battery type 0 = LFP.
# DERIVED: enabled_cell_mask, other cell_voltages_mv, balance_current, error_mask,
#   temps_254_256_258.
JK02_32S_V19_CELL_INFO_EXPECTED = {
    "frame_type": 0x02,
    "voltage": 54.028,
    "current": -0.727,
    "soc": 100,
    "soh": 100,
    "cell_count": 16,
    "enabled_cell_mask": 0x0000FFFF,
    "cell_voltages_mv": [
        3381,
        3377,
        3375,
        3377,
        3377,
        3377,
        3377,
        3378,
        3375,
        3374,
        3377,
        3375,
        3377,
        3378,
        3375,
        3377,
    ],
    "temperatures": [11.9, 12.7],
    "mosfet_temperature": 12.8,
    "charge_ah": 312.898,
    "capacity_ah": 314.0,
    "cycles": 5,
    "balance_current": 0.0,
    "charge_mosfet": True,
    "discharge_mosfet": True,
    "total_runtime_s": 3609276,
    "error_mask": 0,
    "temps_254_256_258": (12.8, 12.6, 11.4),
}

# Source: github.com/patman15/aiobmsble tests/bms/test_jikong_bms.py, _PROTO_DEFS["JK02_32S_v19.27"]["dev"].
JK02_32S_SW1927_DEVICE_INFO = bytes.fromhex(
    "55aaeb9003da4a4b2d5042324131365332305000001031394100000000003139"
    "2e3237000000c02d21006c000000444720536d61727420424d53000000003135"
    "353300000000000000000000000032353132323100003531303230424f343930"
    "3030343232004a4b2d424d530000000000000000000039323237343630000000"
    "0000000000004a4b2d424d5300000000000000000000ffffffffafe98d0f0000"
    "0000901f00000000c0d8f7feef00000000000000000000000e00fbe600004345"
    "484d5052540000000000ff0f0000000000000000000000000000150000000000"
    "0000000000000000000009080001640000005f0000003c000000320000000000"
    "000000000000100e00000532011e0f03a40000000000010000000000000000fe"
    "9febfe1900000000000002d2"
)
# SRC (_DEV_DEFS): model, hw_version, sw_version, device_name; serial "51020BO4" (8 chars).
# DERIVED: full serial_number field.
JK02_32S_SW1927_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK-PB2A16S20P",
    "hw_version": "19A",
    "sw_version": "19.27",
    "device_name": "DG Smart BMS",
    "serial_number": "51020BO49000422",
}

# Source: same file, _PROTO_DEFS["JK02_32S_v19.27"]["cell"] — 8S, -12.684 A, balancer active.
JK02_32S_SW1927_CELL_INFO = bytes.fromhex(
    "55aaeb9002daec0cf00cf00ceb0cef0cef0cf00ced0c00000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000ff000000ee0c0500010361005c005f0055006000570065005700"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000006010000000071670000fe2c050074ce"
    "ffffe900ec0000000000c607014e48ba030090ca04000f000000e9244a006400"
    "00000f2e210001010000000000000000000000000000ff00010000006f240000"
    "67001cf93e400000d800580a0000000101010006010071281f00000000000601"
    "f500f000010092b1830b3b0400008051010000000200000000000000000000fe"
    "ff7fdd2f0101b00f07000084"
)
# SRC (_RESULT_DEFS["JK02_32S_v19.27"]): voltage, current, soc, soh, cell_count,
#   cell_voltages_mv, temperatures (23.3, 23.6), mosfet_temperature (26.2), bytes
#   254/256/258 = 26.2/24.5/24.0, charge_ah, capacity_ah (314), cycles, balance_current
#   (1.99), balancer True, charge/discharge mosfet, error_mask 0, delta 0.005 V.
#   (Its "runtime" 69336 is computed by aiobmsble.)
# DERIVED: enabled_cell_mask, total_runtime_s.
JK02_32S_SW1927_CELL_INFO_EXPECTED = {
    "frame_type": 0x02,
    "voltage": 26.481,
    "current": -12.684,
    "soc": 78,
    "soh": 100,
    "cell_count": 8,
    "enabled_cell_mask": 0x000000FF,
    "cell_voltages_mv": [3308, 3312, 3312, 3307, 3311, 3311, 3312, 3309],
    "temperatures": [23.3, 23.6],
    "mosfet_temperature": 26.2,
    "charge_ah": 244.296,
    "capacity_ah": 314.0,
    "cycles": 15,
    "balance_current": 1.99,
    "charge_mosfet": True,
    "discharge_mosfet": True,
    "total_runtime_s": 2174479,
    "error_mask": 0,
    "temps_254_256_258": (26.2, 24.5, 24.0),
}

# Source: github.com/patman15/aiobmsble tests/bms/test_jikong_bms.py, _PROTO_DEFS["JK02_32S_v15"]["dev"]
#   (a second SW 15.38 board: JK_PB2A16S20P, HW 15A).
JK02_32S_SW1538_DEVICE_INFO = bytes.fromhex(
    "55aaeb9003214a4b5f5042324131365332305000000031354100000000003135"
    "2e33380000002048010005000000343130313834393235353500500000003132"
    "3334000000000000000000000000323530323130000034313031383439323535"
    "3500303030004a4b2d424d530000000000000000000037313230330000000000"
    "0000000000004a4b2d424d5300000000000000000000feffffff8fe91d020000"
    "0000901f00000000c0d8e7fe3f00000100000000000000000002ff6700000000"
    "00000000000000000000ff0f000000000000000000000000000001ff67000000"
    "0000000000000000000009080001640000005f0000003c000000320000000000"
    "000000000000100e00000a50011e0000000000000000000000000000000000fe"
    "9fe9ff0f00000000000000f1"
)
# SRC (_DEV_DEFS["JK02_32S_v15"]): model, hw_version, sw_version, device_name; serial "41018492" (8 chars).
# DERIVED: full serial_number field.
JK02_32S_SW1538_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK_PB2A16S20P",
    "hw_version": "15A",
    "sw_version": "15.38",
    "device_name": "41018492555",
    "serial_number": "41018492555",
}

# ---------------------------------------------------------------------------
# JK_B2A8S30P, HW 19H, SW 19.04 (8S), batmon-ha issue #377
# ---------------------------------------------------------------------------
# Source: github.com/fl4p/batmon-ha bmslib/test/data/jk_issue377.py, FRAME_03_DEVINFO ("Real JK BLE notify bytes
#   captured in issue #377 (JK_B2A8S30P, sw 19.04)"). SRC: model, sw_version. DERIVED: hw_version, serial.
JK02_32S_SW1904_DEVICE_INFO = bytes.fromhex(
    "55aaeb9003004a4b5f4232413853333050000000000031394800000000003139"
    "2e3034000000c538ef0106000000353034313835373441323032353334003132"
    "3334000000000000000000000000323530363239000035303431383537344132"
    "3032353334004a4b2d424d530000000000000000000036313734373700000000"
    "0000000000004a4b2d424d5300000000000000000000ffffffff1fa90f020000"
    "0000901f00000000c0d8e7333c00000000000000000000000100ff6700000000"
    "00000000000000000000ff0f000000000000000000000000000001ff67000000"
    "0000000000000000000009080001640000005f0000003c000000320000000000"
    "000000000000100e00000532011e0a00000000000000000000000000000000fe"
    "9f29860b000000000000001b"
)
JK02_32S_SW1904_DEVICE_INFO_EXPECTED = {
    "frame_type": 0x03,
    "model": "JK_B2A8S30P",
    "hw_version": "19H",
    "sw_version": "19.04",
    "serial_number": "50418574A202534",
}

# Source: same file, FRAME_02_STATUS. Its T3/T4 words (bytes 258/256) hold the absent value -200.0 °C while the
#   mask (byte 214) is 0xFF: a board with T1, T2, T5 and the MOSFET probe fitted.
# SRC (test_jk_framing.py): "8s LFP pack, ~26.9 V in the log", current within ±1 A, SoC within 0..100.
# DERIVED: the rest.
JK02_32S_SW1904_CELL_INFO = bytes.fromhex(
    "55aaeb900295270d260d260d260d2d0d2a0d2c0d270d00000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000ff000000280d07000401480044003a0041003e0039003e003d00"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000002801000000003f69000000000000bd01"
    "0000150113010000000000000063592d0400273804000b0000008e6831006300"
    "0000307fef0101010000000000000000000000000000ff00010000003b240400"
    "0000f99e3e4000000000860a0000000001010a0100003fc00200000000002801"
    "30f830f84b246c460000b30300008051010000000001000000000000000000fe"
    "ff7fdc0f0100800b01000061"
)
JK02_32S_SW1904_CELL_INFO_EXPECTED = {
    "frame_type": 0x02,
    "voltage": 26.943,
    "current": 0.445,
    "soc": 99,
    "soh": 99,
    "cell_count": 8,
    "enabled_cell_mask": 0x000000FF,
    "cell_voltages_mv": [3367, 3366, 3366, 3366, 3373, 3370, 3372, 3367],
    "temperatures": [27.7, 27.5],
    "mosfet_temperature": 29.6,
    "charge_ah": 273.753,
    "capacity_ah": 276.519,
    "cycles": 11,
    "balance_current": 0.0,
    "charge_mosfet": True,
    "discharge_mosfet": True,
    "error_mask": 0,
    "temps_254_256_258": (29.6, -200.0, -200.0),
}

# ---------------------------------------------------------------------------
# mpp-solar test responses (no device info, no stated values)
# ---------------------------------------------------------------------------
# Source: github.com/jblance/mpp-solar mppsolar/protocols/jk02_32.py, getCellData "test_responses" [0] and [1]: two
#   8S cell-info frames of a 280 Ah pack. The source states no decoded values: DERIVED (cells, voltage, current,
#   SoC, cycles). Frame [0]'s average-cell field (3129 mV) lags the mean of its cells (3126.25 mV) by 2.75 mV.
JK02_32S_MPP_SOLAR_CELL_INFO_0 = bytes.fromhex(
    "55aaeb900261360c380c290c3a0c350c3a0c380c3a0c00000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000ff000000390c1c00030238003900380038003800380037003800"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000dc0000000000c5610000b245030088de"
    "ffffd400ca00000000000000000000000000c04504000b000000f2e030006400"
    "0000ae17300001010000000000000000000000000000ff0001000000fc032300"
    "2a00cafa404000000000c609a11b00010001bb0500008ad44f0000000000dc00"
    "00000000000000000000000000000000000000000000000000000000000000fe"
    "ff7fdc0f0100000000000051"
)
JK02_32S_MPP_SOLAR_CELL_INFO_0_EXPECTED = {
    "voltage": 25.029,
    "current": -8.568,
    "soc": 0,
    "cycles": 11,
    "capacity_ah": 280.0,
    "cell_voltages_mv": [3126, 3128, 3113, 3130, 3125, 3130, 3128, 3130],
    "temperatures": [21.2, 20.2],
    "mosfet_temperature": 22.0,
}
JK02_32S_MPP_SOLAR_CELL_INFO_1 = bytes.fromhex(
    "55aaeb900226f50cfa0cf90c010df90cff0cf90cf90c00000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "000000000000ff000000fa0c0b00030038003900380038003800380037003800"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000e50000000000d36700004b371000fc9c"
    "0000bd00b700000000006df8020d58890000c04504000e0000008ece3f006400"
    "0000c101360001010000000000000000000000000000ff0001000000fc03c500"
    "0000cafa4040d3000000610a941b00010001bd05000046f98a0000000000e500"
    "00000000000000000000000000000000000000000000000000000000000000fe"
    "ff7fdc0f010000000000009a"
)
JK02_32S_MPP_SOLAR_CELL_INFO_1_EXPECTED = {
    "voltage": 26.579,
    "current": 40.188,
    "soc": 13,
    "cycles": 14,
    "capacity_ah": 280.0,
    "cell_voltages_mv": [3317, 3322, 3321, 3329, 3321, 3327, 3321, 3321],
    "temperatures": [18.9, 18.3],
    "mosfet_temperature": 22.9,
}

# ---------------------------------------------------------------------------
# Edited by the source (aiobmsble's own test vectors, built from the captures above)
# ---------------------------------------------------------------------------

# Source: github.com/patman15/aiobmsble tests/bms/test_jikong_bms.py, _PROTO_DEFS["JK02_32S_v15"]["cell"]
#   (also ["JK02_32S_v19.05"]["cell"], "copy from v15"): JK02_32S_V15_CELL_INFO with bytes 254..280 changed
#   (T5/T4/T3 20.5/19.5/19.1 °C, charge status 2 = Float) and re-checksummed.
JK02_32S_V15_AIOBMSBLE_CELL_INFO = bytes.fromhex(
    "55aaeb9002ac050dfe0cfe0c010d010dfd0cfb0c010dfc0cfb0cfe0cfb0cf80c"
    "fb0cfb0c090d0000000000000000000000000000000000000000000000000000"
    "000000000000ffff0000ff0c10000f0c40003d0040003d0041003f0041003e00"
    "41003e0041003d0040003e0041003f0000000000000000000000000000000000"
    "00000000000000000000000000000000810000000000e8cf00004ae41900897c"
    "000086008000000000000000001986c00000400d030009000000b15f1c006400"
    "00008c4c760101010000000000000000000000000000ff000100000005045200"
    "0000d44e404000000000ca1400000001010100060000ea67000000000000cd00"
    "c300bf00bd03287f030a1d0000008051010000000100a50202000000000000fe"
    "ff7fdc2f0101b0cf070000bb"
)
# SRC (_RESULT_DEFS["JK02_32S_v15"] and ["JK02_32S_v19.05"]): everything of JK02_32S_V15_CELL_INFO_EXPECTED that
#   aiobmsble states, and temp_values MOSFET 12.9, 13.4, 12.8, 20.5 (byte 254), 19.5 (256), 19.1 (258);
#   temp_sensors 255; battery_mode Float.
JK02_32S_V15_AIOBMSBLE_CELL_INFO_EXPECTED = {
    **JK02_32S_V15_CELL_INFO_EXPECTED,
    "temps_254_256_258": (20.5, 19.5, 19.1),
}


def _aiobmsble_hide_t1_t2(frame: bytes) -> bytes:
    """The edit of aiobmsble's test_hide_temp_sensors: T1 set to the absent value -200.0 °C and T2's bit
    (bit 2) cleared in the probe-present mask, re-checksummed."""
    edited = bytearray(frame)
    edited[214:216] = b"\xfb\x00"
    edited[162:164] = b"\x30\xf8"
    edited[299] = sum(edited[:299]) & 0xFF
    return bytes(edited)


# Source: same test (test_hide_temp_sensors) applied to its v15 and v19.27 cell frames. SRC: the sensors left
#   are the MOSFET probe and bytes 254/256/258 (T2 is marked absent although its word still reads 12.8 / 23.6).
JK02_32S_V15_AIOBMSBLE_T1_T2_HIDDEN = _aiobmsble_hide_t1_t2(JK02_32S_V15_AIOBMSBLE_CELL_INFO)
JK02_32S_SW1927_T1_T2_HIDDEN = _aiobmsble_hide_t1_t2(JK02_32S_SW1927_CELL_INFO)

# Source: github.com/syssi/esphome-jk-bms tests/components/jk_bms_ble/frames_logbook.h (LOGBOOK_JK02_32S, "Captured
#   logbook frame (command 0xA1 -> frame type 0x05)"): 4 entries (boot, factory setting LFP, charge low
#   temperature protection and its release). Listed byte by byte in the source; checksum 0x9A verified.
JK02_32S_LOGBOOK = (
    bytes.fromhex("55aaeb90051f04000000030000000001ee00000044af5c26001bd85c26001c") + bytes(46 * 5 + 38) + bytes([0x9A])
)
