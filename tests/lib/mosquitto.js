// A real mosquitto broker for a test (Debian's `mosquitto`): a generated config on a free loopback
// port, a password file made with mosquitto_passwd, an ACL, optionally TLS; stopped by PID.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './daemon.js';
import { startHelper } from './peers.js';

/** The usual ACL of a test: the daemon (user `ampgate`) writes its state under `base` and Home
 * Assistant discovery and reads commands; a site manager (user `manager`) reads both and writes
 * commands. */
export function siteAcl(base) {
  return `user ampgate
topic write ${base}/#
topic read ${base}/cmd/#
topic write homeassistant/#

user manager
topic read ${base}/#
topic read homeassistant/#
topic write ${base}/cmd/#
`;
}

/**
 * Start a broker. `users` maps user name -> password; `acl` is the ACL file's text; `tls` is
 * { cert, key } for a TLS listener. Anonymous clients may connect but, with an ACL that names
 * no topics for them, read and write nothing.
 */
export async function startBroker({ dir, users = {}, acl = '', tls = null, port = 0 }) {
  const passwd = path.join(dir, 'mosquitto.passwd');
  fs.writeFileSync(passwd, '');
  for (const [user, pw] of Object.entries(users)) execFileSync('mosquitto_passwd', ['-b', passwd, user, pw]);
  fs.writeFileSync(path.join(dir, 'mosquitto.acl'), acl);
  const broker = { dir, port: port || await freePort(), proc: null, log: '' };
  fs.writeFileSync(path.join(dir, 'mosquitto.conf'), [
    `listener ${broker.port} 127.0.0.1`,
    'allow_anonymous true',
    `password_file ${passwd}`,
    `acl_file ${path.join(dir, 'mosquitto.acl')}`,
    'persistence false',
    // As root mosquitto would switch to the `mosquitto` user, who cannot read the test's files.
    `user ${os.userInfo().username}`,
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    ...(process.env.MOSQUITTO_DEBUG ? ['log_type all'] : []),
    ...(tls ? [`certfile ${tls.cert}`, `keyfile ${tls.key}`] : []),
    '',
  ].join('\n'));
  broker.start = async () => {
    const h = await startHelper('mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], /mosquitto version \S+ running/);
    broker.proc = h.proc;
    broker.log += h.out;
    const keep = (chunk) => { broker.log += chunk.toString(); };
    h.proc.stdout.on('data', keep);
    h.proc.stderr.on('data', keep);
  };
  /** Stop by PID and wait until it has exited (the port is free again). */
  broker.stop = async () => {
    const p = broker.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((resolve) => p.once('exit', resolve));
    p.kill('SIGTERM');
    await gone;
  };
  await broker.start();
  return broker;
}
