"""Real JK RS485 ("4E 57") frames from public sources (facts only: bytes and the values the source states).

Frame: ``4E 57 <length u16 BE> <terminal u32> <command> <source> <type> <tags…> <record u32> 68 <sum u32 BE>``;
for every frame below the length equals the frame size minus 2 and the checksum (sum of all bytes before it,
low 16 bits) was verified. Units: V, A (+ = charging), %, Ah, degC.
Each *_EXPECTED dict says which values the source states (SRC) and which were decoded here (DERIVED).

Notes / surprises:
  * Current (tag 0x84) is sign-magnitude, not two's complement: bit 15 set = charging, the low 15 bits are
    10 mA. 0x81C5 is +4.53 A; 0x0000 is 0 A (never -0).
  * Temperatures above 100 count down from 0 °C (101 = -1 °C).
  * The mpp-solar answer carries command 0x03 (read), the esphome one 0x06 (read all): same tag layout.
  * ESPHOME_13S_IDLE has 0x8C = 0x0008: charge, discharge and balance bits all clear.
"""

# ---------------------------------------------------------------------------
# Request
# ---------------------------------------------------------------------------
# Source: syssi/esphome-jk-bms components/jk_bms/jk_bms.cpp, comment "Status request".
READ_ALL_REQUEST = bytes.fromhex("4e5700130000000006030000000000006800000129")

# ---------------------------------------------------------------------------
# JK-B1A20S15P, 14S, firmware 11.XW_S11.261, fully charged and charging
# ---------------------------------------------------------------------------
# Source: jblance/mpp-solar mppsolar/protocols/jkserial.py (commit 9ebe8d78, getBalancerData
#   test_responses[1]). Expected values as stated by fl4p/batmon-ha bmslib/test/data/jk_uart_fixtures.py
#   (MPP_SOLAR_14S, which quotes this capture): SRC.
MPP_SOLAR_14S = bytes.fromhex(
    "4e57011b00000000030001792a010f90020f91030f94040f8e050f92060f91070f91080f91090f930a0f8e0b0f910c0f900d0f90"
    "0e0f8d80002181001c82001e8315ca8481c58564860287001989000016da8a000e8b00008c00038e16b28f10f4901036911004"
    "920005930c1c940c8095000596012c97006e98012c9900559a001e9b0bb89c00329d019e005a9f0046a00064a10064a20014a3"
    "003ca4003ca50001a60003a7ffeca8fff6a90eaa000000eaab01ac01ad0437ae01af01b0000ab114b231323334353600000000"
    "b300b4496e707574205573b532333036b6000182e3b731312e58575f5331312e3236315f5fb800b9000000eaba496e70757420"
    "5573657264614a4b5f423141323053313550c0010000000068000051d6"
)
MPP_SOLAR_14S_EXPECTED = {
    "cell_voltages_mv": [3984, 3985, 3988, 3982, 3986, 3985, 3985, 3985, 3987, 3982, 3985, 3984, 3984, 3981],
    "voltage": 55.78,
    "current": 4.53,
    "soc": 100.0,
    "cycles": 25,
    "capacity_ah": 234.0,
    "temperatures": [28.0, 30.0],
    "mosfet_temperature": 33.0,
    "switches": {"charge": True, "discharge": True, "balance": False},
    "sw_version": "11.XW_S11.261",
    "model": "Input UserdaJK_B1A20S15P",
}

# ---------------------------------------------------------------------------
# 14S answer annotated register by register in esphome-jk-bms
# ---------------------------------------------------------------------------
# Source: syssi/esphome-jk-bms components/jk_bms/jk_bms.cpp: the data bytes of the enable_fake_traffic
#   frame, with the header ("Start: 0x4E, 0x57, 0x01, 0x1B, …") and trailer ("End: … 0x68 0x00 0x00 0x54
#   0xD1") given next to it. SRC: the comments of on_status_data_ (cell 1 3.821 V, cell 2 3.834 V, cell 14
#   3.826 V, power tube 29 °C, box 30 °C, battery 28 °C, 53.59 V, SoC 15 %, 4 cycles, 14 strings, 0x8C bits
#   charge + discharge + balancer, protocol version 1). DERIVED: the other cells, current +2.08 A from 0x80D0,
#   capacity 14 Ah from 0x0000000E.
ESPHOME_14S = bytes.fromhex(
    "4e57011b00000000060001792a010eed020efa030ef7040eec050ef8060efa070ef1080ef8090ee30a0efa0b0ef10c0efb0d0efb"
    "0e0ef280001d81001e82001c8314ef8480d0850f860287000489000000008a000e8b00008c00078e16268f10ae900fd2910fa092"
    "0005930bea940c1c95000596012c9700079800039900059a00059b0ce49c00089d019e005a9f0046a00064a10064a20014a30046"
    "a40046a5ffeca6fff6a7ffeca8fff6a90eaa0000000eab01ac01ad0411ae01af01b0000ab114b231323334353600000000b300b4"
    "496e707574205573b532313031b60000e200b748362e585f5f53362e312e33535f5fb800b900000000ba42543330373230323031"
    "3230303030323030353231303031c0010000000068000054d1"
)
ESPHOME_14S_EXPECTED = {
    "cell_voltages_mv": [3821, 3834, 3831, 3820, 3832, 3834, 3825, 3832, 3811, 3834, 3825, 3835, 3835, 3826],
    "voltage": 53.59,
    "current": 2.08,
    "soc": 15.0,
    "cycles": 4,
    "capacity_ah": 14.0,
    "temperatures": [30.0, 28.0],
    "mosfet_temperature": 29.0,
    "switches": {"charge": True, "discharge": True, "balance": True},
    "sw_version": "H6.X__S6.1.3S",
    "model": "BT3072020120000200521001",
}

# Source: same file, the second (commented-out) fake frame; trailer "… 0x68 0x00 0x00 0x47 0x28".
#   13 cells of which the first two read 0 mV, no current, SoC 0. All DERIVED.
ESPHOME_13S_IDLE = bytes.fromhex(
    "4e57011800000000060001792701000002000003103404102805102906103507102b08102b0910350a10350b10350c103d0d1026"
    "80001a8100188200188311ce8400008500860287000089000000008a000d8b00008c00088e15548f0eba901068911004920005"
    "930b54940c8095000596012c97003c98012c9900199a001e9b0ce49c000a9d019e005a9f0046a00064a10064a20014a30046a4"
    "0046a5ffeca6fff6a7ffeca8fff6a90daa00000005ab00ac00ad02d5ae01af01b0000ab114b231323334353600000000b300b4"
    "496e707574205573b532313036b600000000b748372e585f5f53372e312e30485f5fb800b900000000ba425433303732303230"
    "313230303030323030353231303031c001000000006800004728"
)
ESPHOME_13S_IDLE_EXPECTED = {
    "cell_voltages_mv": [0, 0, 4148, 4136, 4137, 4149, 4139, 4139, 4149, 4149, 4149, 4157, 4134],
    "voltage": 45.58,
    "current": 0.0,
    "soc": 0.0,
    "cycles": 0,
    "capacity_ah": 5.0,
    "temperatures": [24.0, 24.0],
    "mosfet_temperature": 26.0,
    "switches": {"charge": False, "discharge": False, "balance": False},
}

# ---------------------------------------------------------------------------
# JK-B1A8S20P, 7S, firmware 11.XA_S11.51
# ---------------------------------------------------------------------------
# Source: github.com/Kenura-R-Gunarathna/jkbms-esp32 README.md ("### Response" to the documented request). The
#   source gives the bytes only: every value is DERIVED (cells sum to 26.58 V = tag 0x83).
JKBMS_ESP32_7S = bytes.fromhex(
    "4e570106000000000600017915010ed2020ed2030ed2040ed2050edb060edb070edb80001c81001c82001c830a62840000855a8602"
    "87000089000000058a00078b00008c00038e0b7c8f07b6901068911054920003930b04940b2295000396012c9700c898012c990019"
    "9a001e9b0bb89c000a9d019e00649f0050a00046a1003ca20014a30046a40046a5ffeca6fff6a7ffeca8fff6a907aa00000075ab01"
    "ac01ad03ccae01af01b0000ab114b231323334353600000000b300b4496e707574205573b532343037b600000819b731312e58415f"
    "5331312e35315f5f5fb800b900000075ba496e707574205573657264614a4b5f423141385332305000c001000000006800004d89"
)
JKBMS_ESP32_7S_EXPECTED = {
    "cell_voltages_mv": [3794, 3794, 3794, 3794, 3803, 3803, 3803],
    "voltage": 26.58,
    "current": 0.0,
    "soc": 90.0,
    "cycles": 0,
    "capacity_ah": 117.0,
    "temperatures": [28.0, 28.0],
    "mosfet_temperature": 28.0,
    "switches": {"charge": True, "discharge": True, "balance": False},
    "sw_version": "11.XA_S11.51",
    "model": "Input UserdaJK_B1A8S20P",
}
