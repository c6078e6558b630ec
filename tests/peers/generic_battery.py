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
import argparse
import asyncio
import json
import logging
import struct
import sys
import time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
from pymodbus.server import StartAsyncTcpServer

V = 230.0
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
    soc = a.soc
    bat_w = 0.0
    import_kwh = 1000.0
    n = 0

    def step(dt):
        nonlocal soc, bat_w, import_kwh, n
        n += 1
        try:
            with open(a.load_file) as f:
                load_w = float(f.read().split()[0]) * 1000
        except (OSError, ValueError, IndexError):
            load_w = 0.0
        hi, lo = bat.reg(SETPOINT), bat.reg(SETPOINT + 1)
        raw = struct.unpack(">i", struct.pack(">HH", hi, lo))[0]
        timeout = bat.reg(TIMEOUT)
        active = bat.written_at is not None and (timeout == 0 or time.monotonic() - bat.written_at <= timeout)
        target = -raw if active else 0.0  # raw > 0 charges; bat_w > 0 discharges
        target = max(-MAX_W, min(MAX_W, target))
        if (target > 0 and soc <= 5) or (target < 0 and soc >= 100):
            target = 0.0
        bat_w += max(-2000.0, min(2000.0, target - bat_w))  # 20 kW/s
        soc = max(0.0, min(100.0, soc - bat_w * dt / 3600 / CAPACITY_WH * 100))
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

    async def tick():
        while True:
            await asyncio.sleep(0.1)
            step(0.1)

    step(0)     # every register has its value before the first client asks
    asyncio.get_running_loop().create_task(tick())
    server = await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", a.tcp), defer_start=True,
                                       allow_reuse_address=True)
    print("ready", flush=True)
    await server.serve_forever()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp", type=int, required=True)
    ap.add_argument("--load-file", required=True)
    ap.add_argument("--writes")
    ap.add_argument("--status")
    ap.add_argument("--soc", type=float, default=70.0)
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(run(ap.parse_args()))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
