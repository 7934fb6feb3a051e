"""Simulated Daly BMS with the Modbus-over-BLE ("D2") firmware.

Holds a register image (real-time block, settings, version) and answers any read inside it, writes to the
MOSFET switch registers with an echo, and nothing else, like the firmware. Answers go out in one
notification: the firmware uses the negotiated MTU. Variant ``p81`` is the DL-series firmware instead: asked as
slave 0x81, answering as 0x51, its real-time registers laid out for 48 cells, no switches.
"""

from __future__ import annotations

from batmond.protocols import daly2, modbus
from batmond.sim.devices import SimulatedBms

SOFTWARE, HARDWARE = b"SIM-D2-1.0", b"H2.0_SIM"
STATUS_REGISTERS = 0x50  # the firmware answers reads of up to 80 real-time registers
# Settings 0x80..0xA8 as the esphome-daly-bms example shows them for a 4S pack, scaled below for the
# simulated pack; the MOSFET switches (0xA5/0xA6) follow the battery.
SETTINGS = {0x81: 3200, 0x82: 1, 0x86: 1, 0x8A: 7200, 0x8B: 3500, 0x8C: 3500, 0x8D: 2600, 0x8E: 2600,
            0x93: 29900, 0x94: 29900, 0x95: 29840, 0x96: 30160, 0x97: 85, 0x98: 85, 0x99: 40, 0x9A: 40,
            0x9B: 110, 0x9C: 110, 0x9D: 39, 0x9E: 39, 0x9F: 255, 0xA0: 255, 0xA1: 255, 0xA2: 255, 0xA3: 3200,
            0xA4: 20, 0xA7: 680, 0xA8: 87}  # fmt: skip


class SimulatedDaly2(SimulatedBms):
    types = ("daly2",)
    profile = daly2.Daly2Codec.ble

    def answer(self, request: bytes) -> list[bytes]:
        parsed = modbus.parse_request(request)
        p81 = self.variant == "p81"
        if parsed is None or parsed.slave != (daly2.P81_SLAVE if p81 else daly2.SLAVE):
            return []
        if parsed.function == modbus.WRITE_SINGLE and not p81:
            for name, register in daly2.SWITCH_REGISTERS.items():
                if parsed.address == register and parsed.value in (0, 1):
                    self.battery.switch(**{name: bool(parsed.value)})
                    return [request]
            return []
        if parsed.function != modbus.READ_HOLDING or parsed.value == 0:
            return []
        image = self.p81_registers() if p81 else self.registers()
        wanted = range(parsed.address, parsed.address + parsed.value)
        if any(register not in image for register in wanted):
            return []
        answering = daly2.P81_ANSWER if p81 else daly2.SLAVE
        return [modbus.read_response(answering, b"".join(image[r].to_bytes(2, "big") for r in wanted))]

    def p81_registers(self) -> dict[int, int]:
        """The D2 image moved to the p81 addresses (esphome-daly-bms docs/protocol-register-map.md)."""
        d2, layout = self.registers(), daly2.P81
        image = dict.fromkeys(range(0x0000, 0x007F), 0)
        image.update({layout.cells + i: d2[daly2.D2.cells + i] for i in range(daly2.D2.max_cells)})
        image.update({layout.temperatures + i: d2[daly2.D2.temperatures + i] for i in range(8)})
        for field in ("voltage", "current", "soc", "cell_count", "temperature_count", "remaining", "cycles",
                      "balancing", "charge_mosfet", "discharge_mosfet", "mosfet_temperature"):  # fmt: skip
            image[getattr(layout, field)] = d2[getattr(daly2.D2, field)]
        settings = daly2.P81_SETTINGS_BLOCK
        image.update(dict.fromkeys(range(settings[0], settings[0] + settings[1]), 0))
        image[settings[0]] = d2[daly2.SETTINGS_BLOCK[0]]
        version = (SOFTWARE + b"P81").ljust(28, b"\x00") + HARDWARE.ljust(120, b"\x00")
        image.update(enumerate(modbus.words(version), daly2.P81_VERSION_BLOCK[0]))
        return image

    def registers(self) -> dict[int, int]:
        b = self.battery
        cells = [round(v * 1000) for v in b.cell_voltages]
        temperatures = [round(t) + daly2.TEMPERATURE_OFFSET for t in b.temperatures]
        state = 1 if b.current > 0 else 2 if b.current < 0 else 0
        image = dict.fromkeys(range(STATUS_REGISTERS), 0)
        image.update(enumerate(cells, daly2.D2.cells))
        image.update(enumerate(temperatures, daly2.D2.temperatures))
        image.update({
            daly2.D2.voltage: round(sum(cells) / 100),
            daly2.D2.current: round(b.current * 10) + daly2.CURRENT_OFFSET,
            daly2.D2.soc: round(b.soc * 10),
            0x2B: max(cells), 0x2C: min(cells), 0x2D: max(temperatures), 0x2E: min(temperatures), 0x2F: state,
            daly2.D2.remaining: round(b.remaining_ah * 10),
            daly2.D2.cell_count: b.cells,
            daly2.D2.temperature_count: len(temperatures),
            daly2.D2.cycles: b.cycles,
            daly2.D2.balancing: int(b.balance_enabled and max(cells) - min(cells) > 5),
            daly2.D2.charge_mosfet: int(b.charge_enabled),
            daly2.D2.discharge_mosfet: int(b.discharge_enabled),
            0x37: round(sum(cells) / len(cells)), 0x38: max(cells) - min(cells),
            0x39: abs(round(sum(cells) / 1000 * b.current)),  # the firmware's power register is unsigned
            0x40: daly2.BALANCE_CURRENT_OFFSET,  # balance current, 1 mA
            daly2.D2.mosfet_temperature: round(b.mosfet_temperature) + daly2.TEMPERATURE_OFFSET,
        })  # fmt: skip
        settings = dict.fromkeys(range(daly2.SETTINGS_BLOCK[0], 0xA9), 0) | SETTINGS
        settings[daly2.SETTINGS_BLOCK[0]] = round(b.capacity_ah * 10)
        settings[0x83] = b.cells
        settings[0x8F] = settings[0x90] = round(b.cells * 3.5 * 10)
        settings[0x91] = settings[0x92] = round(b.cells * 2.6 * 10)
        settings[daly2.SWITCH_REGISTERS["charge"]] = int(b.charge_enabled)
        settings[daly2.SWITCH_REGISTERS["discharge"]] = int(b.discharge_enabled)
        image.update(settings)
        version = SOFTWARE.ljust(16, b"\x00") + HARDWARE.ljust(48, b"\x00")
        image.update(enumerate(modbus.words(version), daly2.VERSION_BLOCK[0]))
        return image
