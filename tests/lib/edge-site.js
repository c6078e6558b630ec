// An edge between strict chargers and a CSMS: the daemon on a fresh directory and port, with
// `passwords` (station id -> password) as its chargers, `upstream` and `storage` appended to
// those groups, and the web server on a port of its own when `web` (`webExtra` added to its group). Resolves
// { daemon, dir, db, url, webUrl } once the daemon has started; the caller stops it.
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, tmpDir } from './daemon.js';

export async function startEdge({ name, passwords, csmsUrl, upstream = '', storage = '', web = false, webExtra = '' }) {
  const dir = tmpDir(`ampgate-${name}-`);
  const port = await freePort();
  const webPort = web ? await freePort() : 1;
  const chargers = Object.entries(passwords).map(([id, pw]) => `{ id = "${id}"; max_a = 32.0; password = "${pw}"; }`).join(',\n  ');
  const conf = path.join(dir, 'a.conf');
  fs.writeFileSync(conf, `site = { name = "${name}"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = (
  ${chargers}
);
ocpp = { listen = "127.0.0.1:${port}"; path = "/ocpp"; security_profile = 1; };
upstream = { url = "${csmsUrl}"; security_profile = 1; credentials = "per-charger";
  reconnect_min_ms = 100; reconnect_max_ms = 300; ${upstream} };
web = { listen = "127.0.0.1:${webPort}"; ${webExtra} };
storage = { path = "${dir}/ampgate.db"; ${storage} };
`);
  const daemon = new Daemon(conf);
  await daemon.start(10000);
  return { daemon, dir, db: path.join(dir, 'ampgate.db'), url: `ws://127.0.0.1:${port}/ocpp`, webUrl: `http://127.0.0.1:${webPort}` };
}
