#!/usr/bin/python3
"""A Modbus server the project did not write (Debian's python3-pymodbus), serving fixed,
known register contents for the integration tests:

  unit 1  SunSpec grid meter: common model 1 + meter 203 at 40000
  unit 2  SunSpec battery: common model 1 + storage 124 + battery 802 at 40000
  unit 3  Eastron SDM630: float32 input registers, high word first

Values are fixed (a frozen meter, as far as the daemon can tell) unless --moving, which makes
the meter's energy counter and L1 voltage move every 100 ms. With --amps-file FILE the meter's
phase currents follow the file ("L1 L2 L3" in amps, re-read every 100 ms): a test steps the
building load by rewriting it. Units not listed get a gateway
exception, or no answer at all with --ignore-missing (a timeout). Prints "ready" when serving.

  modbus_peer.py --tcp PORT [--moving] [--ignore-missing]
  modbus_peer.py --rtu /dev/pts/N [--baud 9600] ...
"""
import argparse
import asyncio
import logging
import struct
import sys

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext
from pymodbus.server import StartAsyncSerialServer, StartAsyncTcpServer
from pymodbus.transaction import ModbusRtuFramer


def s16(v):
    return v & 0xFFFF


def text(s, regs):
    b = s.encode().ljust(regs * 2, b"\0")
    return [b[i] << 8 | b[i + 1] for i in range(0, regs * 2, 2)]


def common(maker, model, serial):
    # ID, L, Mn(16) Md(16) Opt(8) Vr(8) SN(16) DA Pad
    return [1, 66] + text(maker, 16) + text(model, 16) + text("", 8) + text("1.0", 8) + text(serial, 16) + [1, 0x8000]


def model(mid, length, points):
    regs = [mid, length] + [0x8000] * length
    for off, val in points.items():
        if isinstance(val, list):
            regs[off:off + len(val)] = val
        else:
            regs[off] = s16(val)
    return regs


def acc32(v):
    return [(v >> 16) & 0xFFFF, v & 0xFFFF]


# Offsets from each model's ID register, per the official SunSpec definitions.
METER_203 = model(203, 105, {
    2: 1234 + 567 - 89, 3: 1234, 4: 567, 5: -89, 6: -2,           # A, AphA..C, A_SF: 12.34 5.67 -0.89 A
    8: 2301, 9: 2298, 10: 2310, 15: -1,                            # PhVphA..C, V_SF: 230.1 229.8 231.0 V
    16: 5000, 17: -2,                                              # Hz, Hz_SF: 50.00
    18: 512, 19: 170, 20: 171, 21: 171, 22: 1,                     # W .. W_SF: 5120 W
    38: acc32(4321), 46: acc32(987654), 54: 0,                     # TotWhExp, TotWhImp, TotWh_SF
    105: acc32(0),
})
STORAGE_124 = model(124, 24, {
    2: 300, 3: 0x8000, 4: 0x8000, 5: 0, 6: 0xFFFF, 7: 0xFFFF,     # WChaMax 300 (x100 W), StorCtl_Mod
    8: 456, 9: 0xFFFF, 10: 7200, 11: 4, 12: 1000, 13: 1000,       # ChaState 45.6 %, InBatV, ChaSt, Out/InWRte
    14: 0, 15: 0, 16: 0, 17: 1,
    18: 2, 19: 0, 20: 0x8000, 21: 0, 22: -1, 23: 0, 24: -1, 25: -1,   # SFs
})
BATTERY_802 = model(802, 62, {
    2: 1000, 3: 500, 4: 120, 5: 150, 11: 789,                      # AHRtg, WHRtg, WChaRteMax 120, WDisChaRteMax 150, SoC 78.9
    16: 4, 34: 7200, 44: -35, 47: -250,                            # ChaSt, V, A, W -2500 W
    52: 0, 53: 2, 54: 2, 55: 0, 56: -1, 57: 0, 58: 0, 59: -1, 60: -3, 61: -1, 62: 0, 63: 1,
})


def sunspec_block(*models):
    return [0x5375, 0x6E53] + [r for m in models for r in m] + [0xFFFF, 0]


def f32(v):
    hi, lo = struct.unpack(">HH", struct.pack(">f", v))
    return [hi, lo]


def sdm630_inputs():
    regs = [0] * 0x60
    for addr, v in {0x00: 231.1, 0x02: 229.9, 0x04: 230.4, 0x06: 10.5, 0x08: 11.3, 0x0A: 9.7,
                    0x34: 7210.5, 0x46: 50.02, 0x48: 12345.6, 0x4A: 78.9}.items():
        regs[addr:addr + 2] = f32(v)
    return regs


def build_context():
    meter = ModbusSlaveContext(hr=ModbusSequentialDataBlock(40000, sunspec_block(common("PeerMeter", "M203", "PM-1"), METER_203)),
                               zero_mode=True)
    battery = ModbusSlaveContext(hr=ModbusSequentialDataBlock(40000, sunspec_block(common("PeerBattery", "B802", "PB-2"),
                                                                                   STORAGE_124, BATTERY_802)),
                                 zero_mode=True)
    sdm = ModbusSlaveContext(ir=ModbusSequentialDataBlock(0, sdm630_inputs()), zero_mode=True)
    return ModbusServerContext(slaves={1: meter, 2: battery, 3: sdm}, single=False)


def read_amps(path):
    try:
        with open(path) as f:
            amps = [float(x) for x in f.read().split()]
        return amps if len(amps) == 3 else None
    except (OSError, ValueError):
        return None


async def move(ctx, amps_file):
    """Make the meter look alive: energy counter and L1 voltage change every 100 ms."""
    n = 0
    meter = 40000 + 2 + 68
    while True:
        await asyncio.sleep(0.1)
        n += 1
        ctx[1].setValues(3, meter + 46, acc32(987654 + n))
        ctx[1].setValues(3, meter + 8, [2301 + (n % 3)])
        amps = read_amps(amps_file) if amps_file else None
        if amps:  # the scale factor A_SF follows the size, as real meters' fixed ones differ
            sf = -2 if max(abs(a) for a in amps) * 3 < 327 else -1 if max(abs(a) for a in amps) * 3 < 3276 else 0
            regs = [round(a * 10 ** -sf) for a in amps]
            ctx[1].setValues(3, meter + 2, [s16(sum(regs))] + [s16(r) for r in regs] + [s16(sf)])


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp", type=int)
    ap.add_argument("--rtu")
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--moving", action="store_true")
    ap.add_argument("--ignore-missing", action="store_true")
    ap.add_argument("--amps-file")
    a = ap.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    ctx = build_context()
    if a.moving or a.amps_file:
        asyncio.get_running_loop().create_task(move(ctx, a.amps_file))
    if a.tcp:
        server = await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", a.tcp), defer_start=True,
                                           ignore_missing_slaves=a.ignore_missing, allow_reuse_address=True)
        print("ready", flush=True)
        await server.serve_forever()
    else:
        server = await StartAsyncSerialServer(context=ctx, framer=ModbusRtuFramer, port=a.rtu, baudrate=a.baud,
                                              bytesize=8, parity="N", stopbits=1, defer_start=True,
                                              ignore_missing_slaves=a.ignore_missing)
        await server.start()
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
