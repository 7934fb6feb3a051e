"""Every temperature of every codec keeps its sign below 0 °C.

Each case is a real capture (tests/captures/ names the source) with its temperature fields rewritten in the
encoding the protocol documents give: an offset of 40 (Daly, E&J), of 400 in 0.1 °C (the no-name Modbus BMS),
two's complement (SOK, LiTime, JK, ANT), 0.1 K (JBD) or 0.01 K (Victron). The LiTime captures hold real
readings below zero (-1 and -2 °C) and are tested in test_protocol_litime.py.
"""

from __future__ import annotations

import pytest
from captures import daly as daly_cap
from captures import daly2 as daly2_cap
from captures import noname_modbus as noname_cap
from captures import sok as sok_cap
from captures import supervolt as supervolt_cap
from captures import victron as victron_cap

from batmond.protocols import daly, daly2, modbus, noname_modbus, sok, supervolt, victron
from batmond.protocols.daly import DalyCodec
from batmond.protocols.daly2 import Daly2Codec
from batmond.protocols.noname_modbus import NonameModbusCodec
from batmond.protocols.sok import SokCodec
from batmond.protocols.supervolt import SupervoltCodec
from batmond.protocols.victron import VictronCodec


def test_daly_a5_temperatures():
    # The forum capture's 0x94 answer (14 cells) with 7 sensors instead of 1: 0x94 says how many there are.
    status = bytearray(daly_cap.FORUM_STATUS[4:12])
    status[1] = 7
    raws = [39, 25, 0, 65, 40, 1, 2]  # -1, -15, -40, 25, 0, -39, -38 °C
    codec = DalyCodec()
    for frame in (daly.frame(0x01, daly.STATUS, bytes(status)), daly.frame(0x01, daly.TEMPERATURES, bytes([1, *raws])),
                  daly_cap.FORUM_SOC):  # fmt: skip
        codec.feed(frame)
    assert codec.sample().temperatures == tuple(float(raw - 40) for raw in raws)


def test_daly2_temperatures_and_mosfet():
    data = bytearray(daly2_cap.ESPHOME_STATUS_80REG_2[3:-2])
    for i, raw in enumerate((39, 25, 0, 1)):  # -1, -15, -40, -39 °C
        register = daly2.D2.temperatures + i
        data[2 * register : 2 * register + 2] = raw.to_bytes(2, "big")
    mosfet = daly2.D2.mosfet_temperature
    data[2 * mosfet : 2 * mosfet + 2] = (30).to_bytes(2, "big")  # -10 °C
    codec = Daly2Codec()
    codec.feed(modbus.read_response(daly2.SLAVE, bytes(data)))
    sample = codec.sample()
    assert (sample.temperatures, sample.mosfet_temperature) == ((-1.0, -15.0, -40.0, -39.0), -10.0)


def test_supervolt_temperature():
    realtime = supervolt_cap.REALTIME_SINGLE_FRAME_4S
    decoded = bytearray(bytes.fromhex(realtime[1:-3].decode()))
    decoded[48] = 28  # -12 °C
    body = decoded.hex().upper().encode()
    codec = SupervoltCodec()
    codec.feed(b":" + body + f"{supervolt.checksum(body):02X}".encode() + b"~")
    assert codec.sample().temperatures == (-12.0,)


def test_sok_temperatures():
    status = bytearray(sok_cap.STATUS)
    status[4] = 2  # two sensors
    status[5:9] = (-7).to_bytes(2, "little", signed=True) + (-25).to_bytes(2, "little", signed=True)
    status[-1] = sok.crc8(status[:-1])
    codec = SokCodec()
    codec.feed(sok_cap.PACK + bytes(status))
    assert codec.sample().temperatures == (-7.0, -25.0)


def test_noname_modbus_temperature():
    words = list(modbus.words(noname_cap.STATUS[3:-2]))
    words[noname_modbus.TEMPERATURE] = 250  # (250 - 400) / 10 = -15.0 °C
    status = modbus.read_response(noname_modbus.SLAVE, b"".join(w.to_bytes(2, "big") for w in words))
    codec = NonameModbusCodec()
    codec.feed(noname_cap.INFO + noname_cap.CELLS + status)
    assert codec.sample().temperatures == (-15.0,)


def test_victron_temperature():
    codec = VictronCodec()
    for characteristic, value, _ in victron_cap.READINGS:
        codec.feed_value(characteristic, value)
    codec.feed_value(victron.uuid(0xEDEC), (25815).to_bytes(2, "little"))  # 258.15 K
    assert codec.sample().temperatures == (pytest.approx(-15.0),)
