#!/usr/bin/python3
"""A site whose battery speaks no standard profile, only a vendor register map, served by Debian's
python3-pymodbus; Ampgate reaches it through its `generic` driver:

  unit 1  grid meter, Eastron SDM630 layout (input registers, float32, high word first)
  unit 2  battery, holding registers:
            0      SoC, uint16, 0.1 %
            1      power, int16, 10 W per count, POSITIVE = CHARGING
            10-11  power setpoint, int32, W, high word first, POSITIVE = CHARGE
            12     setpoint timeout, uint16, s (0 = none): that long after the last write to
                   10..12 the battery drops the setpoint and idles

The battery ramps towards its setpoint at 20 kW/s within +-20 kW, stops discharging at 5 % SoC
and charging at 100 %; its power integrates into SoC (50 kWh). The grid meter reads the building
load (--load-file, kW, balanced over three phases at 230 V) less what the battery delivers.
--writes FILE gets one JSON line per client write to unit 2: {"t_ms", "addr", "values"} (the raw
registers). --status FILE gets one JSON line per 100 ms tick: {"t_ms", "load_w", "grid_w",
"bat_w" (> 0 discharging), "soc_pct", "setpoint_raw", "timeout_s", "active"}. Prints "ready".

  generic_battery.py --tcp PORT --load-file FILE --writes FILE --status FILE [--soc PCT]
"""
import json
import struct
import time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext

import site_battery
from site_battery import V

CAPACITY_WH = 50000.0
MAX_W = 20000.0
SETPOINT, TIMEOUT = 10, 12


def f32(v):
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [hi, lo]


class Battery(ModbusSequentialDataBlock):
    """Holding registers 0..19; remembers the client's writes to the setpoint and timeout."""

    def __init__(self, writes):
        super().__init__(0, [0] * 20)
        self.writes = writes
        self.written_at = None

    def setValues(self, address, values):
        super().setValues(address, values)
        if self.writes:
            self.writes.write(json.dumps({"t_ms": int(time.monotonic() * 1000), "addr": address,
                                          "values": list(values)}) + "\n")
            self.writes.flush()
        if address <= TIMEOUT and address + len(values) > SETPOINT:
            self.written_at = time.monotonic()

    def own(self, address, values):
        super().setValues(address, values)  # the battery's own registers: not a client write

    def reg(self, address):
        return super().getValues(address, 1)[0]


async def run(a):
    writes = open(a.writes, "w") if a.writes else None
    status = open(a.status, "w") if a.status else None
    meter = ModbusSequentialDataBlock(0, [0] * 0x50)
    bat = Battery(writes)
    ctx = ModbusServerContext(slaves={1: ModbusSlaveContext(ir=meter, zero_mode=True),
                                      2: ModbusSlaveContext(hr=bat, zero_mode=True)}, single=False)
    battery = site_battery.Battery(a.soc, CAPACITY_WH)
    import_kwh = 1000.0
    n = 0

    def step(dt):
        nonlocal import_kwh, n
        n += 1
        load_w = site_battery.load_w(a.load_file)
        hi, lo = bat.reg(SETPOINT), bat.reg(SETPOINT + 1)
        raw = struct.unpack(">i", struct.pack(">HH", hi, lo))[0]
        timeout = bat.reg(TIMEOUT)
        active = bat.written_at is not None and (timeout == 0 or time.monotonic() - bat.written_at <= timeout)
        target = -raw if active else 0.0  # raw > 0 charges; bat_w > 0 discharges
        bat_w = battery.step(max(-MAX_W, min(MAX_W, target)), dt)
        soc = battery.soc
        grid_w = load_w - bat_w
        import_kwh += max(grid_w, 0) * dt / 3600 / 1000
        amps = grid_w / 3 / V
        regs = [0] * 0x4C
        for i in range(3):
            regs[2 * i:2 * i + 2] = f32(V + 0.1 * ((n + i) % 3))
            regs[6 + 2 * i:8 + 2 * i] = f32(amps)
        regs[0x34:0x36] = f32(grid_w)
        regs[0x46:0x48] = f32(50.0)
        regs[0x48:0x4A] = f32(import_kwh)
        regs[0x4A:0x4C] = f32(0.0)
        meter.setValues(0, regs)
        bat.own(0, [int(round(soc * 10)), int(round(-bat_w / 10)) & 0xFFFF])
        if status:
            status.write(json.dumps({"t_ms": int(time.monotonic() * 1000), "load_w": round(load_w),
                                     "grid_w": round(grid_w), "bat_w": round(bat_w), "soc_pct": round(soc, 3),
                                     "setpoint_raw": raw, "timeout_s": timeout, "active": active}) + "\n")
            status.flush()

    await site_battery.serve(ctx, a.tcp, step)


if __name__ == "__main__":
    site_battery.main(run, lambda ap: ap.add_argument("--writes"))
