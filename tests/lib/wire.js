// What went over the loopback wire, with the kernel's timestamps: tcpdump (Debian's, run as root)
// captures the TCP segments a port sends, and this reads its pcap file back. A bench that times
// "on the wire" uses these times, not when a node process got round to the frame: 1,000 frames
// arriving at once in one receiving process queue behind each other there for tens of ms.
import fs from 'node:fs';
import path from 'node:path';
import { startHelper } from './peers.js';

/** Start capturing what `srcPort` sends on lo; resolves once tcpdump listens, or with null
 *  when it cannot run (not installed, not root): the caller then says the figure is missing. */
export async function captureFrom(srcPort, dir) {
  const file = path.join(dir, `wire-${srcPort}.pcap`);
  let h;
  try {
    // -B: a kernel buffer big enough for a burst of 1,000 frames so none is dropped; -s: enough
    // of each segment to hold a whole OCPP frame. Not -U: a write per packet would wake tcpdump
    // for each one, and it then takes the CPU from the process it watches; the file is whole
    // once tcpdump exits.
    h = await startHelper('tcpdump', ['-i', 'lo', '-n', '-B', '16384', '-s', '4096', '-w', file,
      `tcp and src port ${srcPort}`], /listening on lo/, 10000);
  } catch (err) {
    console.error(`no wire capture: ${err.message.split('\n')[0]}`);
    return null;
  }
  let said = '';
  h.proc.stderr.on('data', (d) => { said += d; });
  return {
    /** Stop; resolves with { packets: [{ t_ms, dstPort, payload }], dropped } (t_ms: wall clock, us precision). */
    async stop() {
      const done = new Promise((resolve) => h.proc.once('close', resolve));
      h.proc.kill('SIGINT');
      await done;
      const dropped = /(\d+) packets? dropped by kernel/.exec(said);
      return { packets: readPcap(fs.readFileSync(file)), dropped: dropped ? Number(dropped[1]) : null };
    },
  };
}

/** The TCP payloads of a pcap file (microsecond timestamps; Ethernet, as Linux's lo is, or raw IP). */
export function readPcap(buf) {
  const magic = buf.readUInt32LE(0);
  if (magic !== 0xa1b2c3d4) throw new Error(`pcap: unexpected magic ${magic.toString(16)} (only little-endian, us)`);
  const linkType = buf.readUInt32LE(20);
  const l2 = linkType === 1 ? 14 : linkType === 101 ? 0 : -1;
  if (l2 < 0) throw new Error(`pcap: link type ${linkType} not read here`);
  const packets = [];
  for (let o = 24; o + 16 <= buf.length;) {
    const t_ms = buf.readUInt32LE(o) * 1000 + buf.readUInt32LE(o + 4) / 1000;
    const len = buf.readUInt32LE(o + 8);
    const p = buf.subarray(o + 16, o + 16 + len);
    o += 16 + len;
    if (p.length < l2 + 20 || p[l2] >> 4 !== 4 || p[l2 + 9] !== 6) continue;   // IPv4 TCP only
    const tcp = l2 + (p[l2] & 0x0f) * 4;
    const data = tcp + (p[tcp + 12] >> 4) * 4;
    if (data >= p.length) continue;                                          // an ACK, no payload
    packets.push({ t_ms, dstPort: p.readUInt16BE(tcp + 2), payload: p.subarray(data) });
  }
  return packets;
}
