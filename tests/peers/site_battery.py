"""What the two battery peers share (sunspec_site.py speaks SunSpec 124 + 802, generic_battery.py a
vendor register map): the building's load from a file, a battery that ramps towards its target and
integrates its power into SoC, and the 100 ms tick, server start and command line around them.
Only the register layout and how a client's writes become the battery's target differ.
"""
import argparse
import asyncio
import logging
import sys

from pymodbus.server import StartAsyncTcpServer

V = 230.0           # the site's phase voltage; the load is balanced over three phases
RAMP_W = 2000.0     # per 100 ms tick: 20 kW/s
TICK_S = 0.1


def load_w(path):
    """The building's load in W: the first number in `path` (kW); 0 while it is unreadable."""
    try:
        with open(path) as f:
            return float(f.read().split()[0]) * 1000
    except (OSError, ValueError, IndexError):
        return 0.0


class Battery:
    """Power `w` > 0 discharging; stops discharging at 5 % SoC and charging at 100 %."""

    def __init__(self, soc_pct, capacity_wh):
        self.soc = soc_pct
        self.w = 0.0
        self.capacity_wh = capacity_wh

    def step(self, target_w, dt):
        if (target_w > 0 and self.soc <= 5) or (target_w < 0 and self.soc >= 100):
            target_w = 0.0
        self.w += max(-RAMP_W, min(RAMP_W, target_w - self.w))
        self.soc = max(0.0, min(100.0, self.soc - self.w * dt / 3600 / self.capacity_wh * 100))
        return self.w


async def serve(ctx, port, step):
    """Every register set (step(0)) before the first client asks, then step(TICK_S) each tick."""
    async def tick():
        while True:
            await asyncio.sleep(TICK_S)
            step(TICK_S)

    step(0)
    asyncio.get_running_loop().create_task(tick())
    server = await StartAsyncTcpServer(context=ctx, address=("127.0.0.1", port), defer_start=True,
                                       allow_reuse_address=True)
    print("ready", flush=True)
    await server.serve_forever()


def main(run, extra_args):
    """The common command line (--tcp, --load-file, --status, --soc) plus `extra_args(parser)`."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp", type=int, required=True)
    ap.add_argument("--load-file", required=True)
    ap.add_argument("--status")
    ap.add_argument("--soc", type=float, default=70.0)
    extra_args(ap)
    logging.basicConfig(level=logging.CRITICAL)
    try:
        asyncio.run(run(ap.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
