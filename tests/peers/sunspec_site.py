#!/usr/bin/python3
"""A SunSpec site written from the official model definitions (the JSON files of SunSpec's
models repository), not from Ampgate's tables: every point's offset, size and scale-factor
point come from the JSON. Served by Debian's python3-pymodbus:

  unit 1  grid meter: common model 1 + meter 203 at 40000
  unit 2  storage: common model 1 + storage controls 124 + battery 802 at 40000

The battery acts on model 124 as storage that follows it does: StorCtl_Mod bit 0 enables the
charge rate InWRte (percent of WChaMax), bit 1 the discharge rate OutWRte (percent of 802's
WDisChaRteMax); a negative rate forces the other direction; InOutWRte_RvrtTms after the last
write to 124 the limits lapse and the battery idles. Its power integrates into SoC (802 SoC,
124 ChaState). The grid meter reads the building load (--load-file, kW, balanced over three
phases at 230 V) less what the battery delivers. --status FILE gets one JSON line per 100 ms
tick: {"t_ms", "load_w", "grid_w", "bat_w", "soc_pct", "mode", "in_pct", "out_pct"}. Prints "ready".

  sunspec_site.py --tcp PORT --models DIR --load-file FILE --status FILE [--soc PCT]
"""
import json
import os
import time

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSlaveContext, ModbusServerContext

import site_battery
from site_battery import V

BASE = 40000


class Model:
    """One model's register block laid out from its JSON definition."""

    def __init__(self, models_dir, mid):
        with open(os.path.join(models_dir, f"model_{mid}.json")) as f:
            group = json.load(f)["group"]
        self.points = {}
        off = 0
        for p in group["points"]:  # top-level points only: 1, 124, 203 and 802's fixed part
            self.points[p["name"]] = (off, p.get("size", 1), p["type"], p.get("sf"))
            off += p.get("size", 1)
        self.id = mid
        self.regs = [0x8000] * off      # "not implemented" until set
        for name, (o, size, typ, _) in self.points.items():
            if typ in ("uint16", "enum16", "bitfield16", "acc16"):
                self.regs[o] = 0xFFFF
            if typ in ("string", "acc32", "uint32"):
                self.regs[o:o + size] = [0] * size if typ != "uint32" else [0xFFFF] * size
        self.regs[0] = mid
        self.regs[1] = off - 2

    def raw(self, name, value):
        o, size, typ, _ = self.points[name]
        if size == 2:
            self.regs[o:o + 2] = [(value >> 16) & 0xFFFF, value & 0xFFFF]
        else:
            self.regs[o] = value & 0xFFFF

    def string(self, name, s):
        o, size, _, _ = self.points[name]
        b = s.encode().ljust(size * 2, b"\0")[:size * 2]
        self.regs[o:o + size] = [b[i] << 8 | b[i + 1] for i in range(0, size * 2, 2)]

    def put(self, name, value):
        """Scaled by its scale-factor point (which must be set first)."""
        _, _, typ, sf = self.points[name]
        exp = 0
        if sf:
            exp = self.get_raw(sf)
        self.raw(name, int(round(value / 10 ** exp)))

    def get_raw(self, name):
        o, size, typ, _ = self.points[name]
        v = self.regs[o]
        if size == 2:
            return v << 16 | self.regs[o + 1]
        if typ in ("int16", "sunssf") and v >= 0x8000:
            return v - 0x10000
        return v

    def get(self, name):
        _, _, _, sf = self.points[name]
        return self.get_raw(name) * 10 ** (self.get_raw(sf) if sf else 0)


def common(models_dir, maker, model, serial):
    m = Model(models_dir, 1)
    m.string("Mn", maker)
    m.string("Md", model)
    m.string("Vr", "1.0")
    m.string("SN", serial)
    m.raw("DA", 1)
    return m


class Block(ModbusSequentialDataBlock):
    """The register image of one unit; remembers when a client last wrote into `watch`."""

    def __init__(self, models, watch=None):
        self.models = models
        self.starts = {}
        regs = [0x5375, 0x6E53]
        for m in models:
            self.starts[m.id] = BASE + len(regs)
            regs += m.regs
        regs += [0xFFFF, 0]
        super().__init__(BASE, regs)
        self.watch = watch
        self.written_at = None

    def setValues(self, address, values):
        super().setValues(address, values)
        if self.watch is not None:
            s = self.starts[self.watch.id]
            if address < s + len(self.watch.regs) and address + len(values) > s:
                # Take the client's write into the model, then let the battery react to it.
                self.watch.regs = list(super().getValues(s, len(self.watch.regs)))
                self.written_at = time.monotonic()

    def publish(self):
        for m in self.models:
            super().setValues(self.starts[m.id], m.regs)


def clamp(v, lo, hi):
    return max(lo, min(hi, v))


async def run(a):
    d = a.models
    meter = Model(d, 203)
    for sf, v in (("A_SF", -1), ("V_SF", -1), ("Hz_SF", -2), ("W_SF", 1), ("TotWh_SF", 0)):
        meter.raw(sf, v)
    s124 = Model(d, 124)
    for sf, v in (("WChaMax_SF", 2), ("ChaState_SF", -1), ("InBatV_SF", -1), ("InOutWRte_SF", -1)):
        s124.raw(sf, v)
    s124.put("WChaMax", 20000)
    s124.raw("StorCtl_Mod", 0)
    s124.put("InWRte", 100)
    s124.put("OutWRte", 100)
    s124.raw("InOutWRte_RvrtTms", 0)
    s124.put("InBatV", 700)
    b802 = Model(d, 802)
    for sf, v in (("WHRtg_SF", 2), ("WChaDisChaMax_SF", 2), ("SoC_SF", -1), ("V_SF", -1), ("A_SF", -1), ("W_SF", 1)):
        b802.raw(sf, v)
    b802.put("WHRtg", 50000)
    b802.put("WChaRteMax", 20000)
    b802.put("WDisChaRteMax", 20000)
    b802.put("V", 700)

    meter_block = Block([common(d, "SpecPeer", "Meter 203", "SP-1"), meter])
    bat_block = Block([common(d, "SpecPeer", "Storage 124+802", "SP-2"), s124, b802], watch=s124)
    ctx = ModbusServerContext(slaves={1: ModbusSlaveContext(hr=meter_block, zero_mode=True),
                                      2: ModbusSlaveContext(hr=bat_block, zero_mode=True)}, single=False)
    battery = site_battery.Battery(a.soc, b802.get("WHRtg"))
    energy_wh = 1000000.0
    status = open(a.status, "w") if a.status else None

    n = 0

    def step(dt):
        nonlocal energy_wh, n
        n += 1
        load_w = site_battery.load_w(a.load_file)
        mode = s124.get_raw("StorCtl_Mod")
        rvrt = s124.get_raw("InOutWRte_RvrtTms")
        if mode == 0xFFFF or (rvrt and bat_block.written_at and time.monotonic() - bat_block.written_at > rvrt):
            mode = 0
        wcha = s124.get("WChaMax")
        wdis = b802.get("WDisChaRteMax")
        in_pct, out_pct = s124.get("InWRte"), s124.get("OutWRte")
        lo = -(in_pct / 100 * wcha) if mode & 1 else -wcha
        hi = out_pct / 100 * wdis if mode & 2 else wdis
        bat_w = battery.step(clamp(0.0, lo, hi), dt)  # its own control: idle
        soc = battery.soc
        grid_w = load_w - bat_w
        energy_wh += max(grid_w, 0) * dt / 3600
        amps = grid_w / 3 / V
        meter.put("A", amps * 3)
        for ph in ("A", "B", "C"):
            meter.put("Aph" + ph, amps)
            meter.put("PhVph" + ph, V + 0.1 * (n % 3))
        meter.put("Hz", 50.0)
        meter.put("W", grid_w)
        meter.raw("TotWhImp", int(energy_wh))
        b802.put("SoC", soc)
        b802.put("W", bat_w)
        b802.put("A", bat_w / 700)
        b802.raw("ChaSt", 3 if bat_w > 0 else 4 if bat_w < 0 else 6)
        s124.put("ChaState", soc)
        meter_block.publish()
        bat_block.publish()
        if status:
            status.write(json.dumps({"t_ms": int(time.monotonic() * 1000), "load_w": round(load_w), "grid_w": round(grid_w), "bat_w": round(bat_w),
                                     "soc_pct": round(soc, 3), "mode": mode, "in_pct": in_pct, "out_pct": out_pct}) + "\n")
            status.flush()

    await site_battery.serve(ctx, a.tcp, step)


if __name__ == "__main__":
    site_battery.main(run, lambda ap: ap.add_argument("--models", required=True))
