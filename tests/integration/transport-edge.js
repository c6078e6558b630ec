// Shared by the transport*.test.js files: an edge with Basic-auth chargers in front of a test CSMS.
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, tmpDir } from '../lib/daemon.js';

/** Start ampgated with `chargers` (id -> password) and extra `ocpp`/`upstream` keys (libconfig
 *  text); resolves with { daemon, port, url } where url is the chargers' ws:// base. */
export async function startEdge({ name, chargers, ocpp = '', upstream = '', env = {} }) {
  const dir = tmpDir(`ampgate-${name}-`);
  const port = await freePort();
  const list = Object.entries(chargers).map(([id, pw]) => `{ id = "${id}"; password = "${pw}"; }`).join(', ');
  fs.writeFileSync(path.join(dir, 'a.conf'), `
site = { name = "${name}"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( ${list} );
ocpp = { listen = "127.0.0.1:${port}"; path = "/ocpp"; security_profile = 1; ${ocpp} };
upstream = { security_profile = 1; ${upstream} };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/ampgate.db"; };
`);
  const daemon = new Daemon(path.join(dir, 'a.conf'), { env });
  await daemon.start();
  return { daemon, port, url: `ws://127.0.0.1:${port}/ocpp` };
}
