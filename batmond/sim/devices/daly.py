"""Simulated Daly BMS speaking the A5 protocol: over Bluetooth (`daly`) and on an RS485 bus (`daly_uart`)."""

from __future__ import annotations

import math
import struct

from batmond.protocols import daly
from batmond.sim.battery import Battery
from batmond.sim.devices import SimulatedBms
from batmond.sim.serial import SerialSimulatedBms

ANSWER_ADDRESS = 0x01  # the Bluetooth module answers as board 1


class DalyFrames:
    """The A5 answers of one battery. ``all_cell_frames``: the Bluetooth module always sends 16 cell frames."""

    def __init__(self, battery: Battery, board: int, all_cell_frames: bool) -> None:
        self.battery = battery
        self.board = board
        self.all_cell_frames = all_cell_frames

    def answer(self, data_id: int, data: bytes) -> list[bytes]:
        b = self.battery
        if data_id == daly.SOC:
            voltage = sum(round(v * 1000) for v in b.cell_voltages) / 100
            raw_current = round(b.current * 10) + daly.CURRENT_OFFSET
            return [self.frame(data_id, struct.pack(">HHHH", round(voltage), 0, raw_current, round(b.soc * 10)))]
        if data_id == daly.MOSFETS:
            state = 1 if b.current > 0 else 2 if b.current < 0 else 0
            payload = struct.pack(
                ">BBBBI", state, b.charge_enabled, b.discharge_enabled, 0, round(b.remaining_ah * 1000)
            )
            return [self.frame(data_id, payload)]
        if data_id == daly.STATUS:
            payload = struct.pack(
                ">BBBBBHB", b.cells, len(b.temperatures), b.current > 0, b.current < 0, 0, b.cycles, 0
            )
            return [self.frame(data_id, payload)]
        if data_id == daly.CELL_VOLTAGES:
            return self.numbered(data_id, [round(v * 1000) for v in b.cell_voltages], daly.CELLS_PER_FRAME, ">H")
        if data_id == daly.TEMPERATURES:
            values = [round(t) + daly.TEMPERATURE_OFFSET for t in b.temperatures]
            return self.numbered(data_id, values, daly.TEMPERATURES_PER_FRAME, ">B")
        if data_id in (daly.SET_CHARGE, daly.SET_DISCHARGE):
            b.switch(**{"charge" if data_id == daly.SET_CHARGE else "discharge": bool(data[0])})
            return [self.frame(data_id, data[:1])]
        return []

    def numbered(self, data_id: int, values: list[int], per_frame: int, layout: str) -> list[bytes]:
        count = 16 if self.all_cell_frames and data_id == daly.CELL_VOLTAGES else math.ceil(len(values) / per_frame)
        frames = []
        for number in range(1, count + 1):
            chunk = values[(number - 1) * per_frame : number * per_frame]
            chunk += [0] * (per_frame - len(chunk))
            frames.append(self.frame(data_id, bytes([number]) + b"".join(struct.pack(layout, v) for v in chunk)))
        return frames

    def frame(self, data_id: int, data: bytes) -> bytes:
        return daly.frame(self.board, data_id, data)


def valid_request(request: bytes) -> bool:
    return (len(request) == daly.FRAME_LENGTH and request[0] == daly.START and request[3] == daly.DATA_LENGTH
            and daly.checksum(request[:12]) == request[12])  # fmt: skip


class SimulatedDaly(SimulatedBms):
    types = ("daly",)
    profile = daly.DalyCodec.ble

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.frames = DalyFrames(self.battery, ANSWER_ADDRESS, all_cell_frames=True)

    def answer(self, request: bytes) -> list[bytes]:
        if not valid_request(request) or request[1] not in daly.BLE_HOSTS:
            return []
        return self.frames.answer(request[2], request[4:12])


class SimulatedDalyUart(SerialSimulatedBms):
    types = ("daly_uart",)

    def __init__(self, name: str, battery: Battery, board: int = 1) -> None:
        super().__init__(name, battery, board)
        self.frames = DalyFrames(battery, board, all_cell_frames=False)

    def take_requests(self, buffer: bytearray) -> list[bytes]:
        requests = []
        while (start := buffer.find(bytes([daly.START]))) >= 0 and len(buffer) >= start + daly.FRAME_LENGTH:
            candidate = bytes(buffer[start : start + daly.FRAME_LENGTH])
            if valid_request(candidate):
                requests.append(candidate)
                del buffer[: start + daly.FRAME_LENGTH]
            else:
                del buffer[: start + 1]
        return requests

    def answer(self, request: bytes) -> list[bytes]:
        if request[1] != daly.host_address(self.board):
            return []  # another board's request: stay off the bus
        return self.frames.answer(request[2], request[4:12])
