// The Debian package, installed the way the README's install section says, in a throwaway Debian 12
// root the test makes with debootstrap (the base root is cached in build/debroot/): files, owners,
// the conffile and its stat override, the enabled unit and its sandbox score, the packaged daemon
// running there as user ampgate against the packaged Modbus simulator, a backup of the database,
// an upgrade from the previous build that keeps an edited configuration and the database, remove,
// and purge.
//
// A root without a running systemd cannot `systemctl` or `journalctl`: for those README lines the
// test stands in (it starts ExecStart= as the unit's User=/Group=/SupplementaryGroups=/UMask=
// and reads the daemon's log), and says so with a diagnostic. Every other README line is typed
// into the root as written.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, ROOT, freePort, siteConfig, sql, tmpDir } from '../lib/daemon.js';

// The packages are built by dpkg-buildpackage from the sources, so they cannot hold another
// build of the programs: under AMPGATE_BIN_DIR (make check-asan) this test would not test it.
const SKIP = (process.getuid() !== 0
  && 'needs root (debootstrap, chroot, mount, installing packages): run `make check` as root')
  || (process.env.AMPGATE_BIN_DIR
  && 'the .debs are built from source by dpkg-buildpackage, not from AMPGATE_BIN_DIR: run by `make check`');
const VERSION = fs.readFileSync(path.join(ROOT, 'VERSION'), 'utf8').trim();
const PREV = `${VERSION}-0~prev`;         // sorts before every changelog version of VERSION
const CACHE = path.join(ROOT, 'build/debroot');
const MIN = 60 * 1000;

// `make` from inside `make check` must not inherit the outer make's jobserver.
const HOST_ENV = Object.fromEntries(Object.entries(process.env)
  .filter(([k]) => !['MAKEFLAGS', 'MFLAGS', 'MAKELEVEL'].includes(k)));
const ROOT_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOME: '/root', LANG: 'C.UTF-8', DEBIAN_FRONTEND: 'noninteractive',
};

function run(cmd, args, { timeout = 2 * MIN, env = HOST_ENV, input, cwd = ROOT } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout, env, input, cwd, maxBuffer: 64 << 20 });
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error}` : ''}`;
  return { status: r.status, stdout: r.stdout ?? '', out };
}

function ok(r, what) {
  assert.equal(r.status, 0, `${what} failed:\n${r.out.slice(-4000)}`);
  return r;
}

const ARCH = SKIP ? '' : ok(run('dpkg', ['--print-architecture']), 'dpkg').stdout.trim();
const CUR = SKIP ? '' : ok(run('dpkg-parsechangelog', ['-l', 'packaging/debian/changelog', '-S', 'Version']),
  'dpkg-parsechangelog').stdout.trim();

// ---- the README's install section: every command in it, as an installer types it ----

function readmeCommands() {
  const md = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const sec = md.split(/^## /m).find((s) => s.startsWith("Install on a site's box"));
  assert.ok(sec, "README.md has no section \"## Install on a site's box\"");
  const cmds = new Set();
  for (const [, block] of sec.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block.split('\n')) {
      const c = line.replace(/\s+#.*$/, '').trim();
      if (c) cmds.add(c);
    }
  }
  for (const [, c] of sec.matchAll(/`(apt-get [^`]+)`/g)) cmds.add(c);
  return cmds;
}

const README = SKIP ? new Set() : readmeCommands();
const typed = new Set();

/** Mark a README command as followed; fails if the README does not say it word for word. */
function readme(cmd) {
  assert.ok(README.has(cmd), `the README's install section does not say: ${cmd}`);
  typed.add(cmd);
  return cmd;
}

// ---- the throwaway root ----

/** The first bookworm `main` mirror this machine's apt uses (one-line and deb822 sources). */
function hostMirror() {
  const d = '/etc/apt/sources.list.d';
  const files = ['/etc/apt/sources.list',
    ...(fs.existsSync(d) ? fs.readdirSync(d).filter((f) => /\.(list|sources)$/.test(f)).map((f) => `${d}/${f}`) : [])];
  for (const f of files.filter((x) => fs.existsSync(x))) {
    const text = fs.readFileSync(f, 'utf8');
    if (f.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k) => (stanza.match(new RegExp(`^${k}:\\s*(.*)$`, 'mi'))?.[1] ?? '').split(/\s+/);
        if (field('Types').includes('deb') && field('Suites').includes('bookworm')
            && field('Components').includes('main')) return field('URIs')[0];
      }
    } else {
      for (const line of text.split('\n')) {
        const m = line.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s+.*\bmain\b/);
        if (m) return m[1];
      }
    }
  }
  return null;
}

/** Mount points at or below `dir`, deepest first. */
function mountsUnder(dir) {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
    .map((l) => l.split(' ')[4]).filter((m) => m && (m === dir || m.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

/** Remove a root: end what runs inside it (all of it started by this test), unmount, delete. */
function destroyRoot(dir) {
  if (!dir || !fs.existsSync(dir)) return;
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/root`) === dir) process.kill(Number(pid), 'SIGKILL');
    } catch { /* gone, or not ours to read */ }
  }
  for (const m of mountsUnder(dir)) {
    if (run('umount', [m]).status !== 0) run('umount', ['-l', m]);
  }
  const left = mountsUnder(dir);
  if (left.length) throw new Error(`still mounted, not deleting ${dir}: ${left.join(' ')}`);
  run('rm', ['-rf', '--one-file-system', dir]);
}

/** Debian 12 minbase from the machine's own mirror, made once and kept as a tarball. */
function baseTarball(t) {
  const tarball = path.join(CACHE, `bookworm-minbase-${ARCH}.tar.gz`);
  if (fs.existsSync(tarball)) return tarball;
  const mirror = hostMirror();
  assert.ok(mirror, 'no Debian bookworm mirror in /etc/apt/sources.list*: cannot debootstrap');
  fs.mkdirSync(CACHE, { recursive: true });
  const work = fs.mkdtempSync(path.join(CACHE, 'make-'));
  const dir = path.join(work, 'root');
  try {
    t.diagnostic(`debootstrap --variant=minbase bookworm from ${mirror} (cached in ${tarball})`);
    ok(run('debootstrap', ['--variant=minbase', `--arch=${ARCH}`, 'bookworm', dir, mirror], { timeout: 8 * MIN }),
      'debootstrap');
    // The usual marker of a chroot: maintainer scripts start no services here (dbus, ...).
    fs.writeFileSync(path.join(dir, 'usr/sbin/policy-rc.d'), '#!/bin/sh\nexit 101\n', { mode: 0o755 });
    ok(run('tar', ['-C', dir, '-czf', `${tarball}.tmp`, '.'], { timeout: 3 * MIN }), 'tar');
    fs.renameSync(`${tarball}.tmp`, tarball);
  } finally {
    destroyRoot(work);
  }
  return tarball;
}

// ---- the package test ----

describe('Debian package in a throwaway Debian 12 root', { skip: SKIP, timeout: 15 * MIN }, () => {
  let root;            // the throwaway root
  let debs;            // folder of the built packages: prev/, cur/
  let sim;             // the packaged Modbus simulator, running in the root
  let daemon;
  let ports;
  let edited;          // the installer's configuration text
  const unitPath = () => path.join(root, 'lib/systemd/system/ampgated.service');

  const inRoot = (line, opts = {}) => run('chroot', [root, '/bin/sh', '-c', `cd /root && ${line}`],
    { env: ROOT_ENV, timeout: 5 * MIN, ...opts });
  const stat = (p) => fs.statSync(path.join(root, p));
  const ids = (name) => {
    const pw = fs.readFileSync(path.join(root, 'etc/passwd'), 'utf8').match(new RegExp(`^${name}:[^:]*:(\\d+):(\\d+):[^:]*:([^:]*):(.*)$`, 'm'));
    return pw && { uid: Number(pw[1]), gid: Number(pw[2]), home: pw[3], shell: pw[4] };
  };
  const groupId = (name) => Number(fs.readFileSync(path.join(root, 'etc/group'), 'utf8')
    .match(new RegExp(`^${name}:[^:]*:(\\d+):`, 'm'))?.[1]);
  const events = (db = 'var/lib/ampgate/ampgate.db') => sql(path.join(root, db),
    "SELECT group_concat(kind, ',') FROM (SELECT kind FROM events ORDER BY id)");
  const only = (deb) => {      // the box's folder holds just this package
    for (const f of fs.readdirSync(path.join(root, 'root')).filter((x) => x.endsWith('.deb'))) {
      fs.rmSync(path.join(root, 'root', f));
    }
    fs.copyFileSync(deb, path.join(root, 'root', path.basename(deb)));
  };

  /** The unit's service as systemd would start it (no systemd runs in the root). */
  function unitCommand() {
    const unit = fs.readFileSync(unitPath(), 'utf8');
    const key = (k) => unit.match(new RegExp(`^${k}=(.*)$`, 'm'))?.[1].trim();
    const as = ['setpriv', `--reuid=${key('User')}`, `--regid=${key('Group')}`,
      `--groups=${key('SupplementaryGroups')}`, '--'];
    const sh = (cmd) => ['chroot', root, '/bin/sh', '-c', `umask ${key('UMask')} && exec "$@"`, 'sh', ...as,
      ...cmd.split(/\s+/)];
    return { pre: sh(key('ExecStartPre')), start: sh(key('ExecStart')) };
  }

  async function startService(t) {
    t.diagnostic('stand-in for `systemctl restart ampgated`: ExecStartPre= and ExecStart= as User=, '
      + 'Group=, SupplementaryGroups=, UMask= of the installed unit (no systemd runs in a chroot)');
    const u = unitCommand();
    ok(run(u.pre[0], u.pre.slice(1)), 'ExecStartPre (--check as user ampgate)');
    daemon = new Daemon('/etc/ampgate/ampgate.conf', { command: u.start });
    await daemon.start(10000);
    await daemon.waitForLog(/device grid answered: L1 [\d.]+ A/, 10000);
    await daemon.waitForLog(/device bess answered: SoC [\d.]+ %/, 10000);
  }

  async function stopService() {
    const r = await daemon.stop();
    assert.equal(r.code, 0, daemon.log);
    daemon = null;
  }

  before(() => {
    debs = tmpDir('ampgate-debs-');
    ports = {};
  });

  after(async () => {
    if (daemon) await daemon.stop().catch(() => {});
    if (sim) sim.kill('SIGKILL');
    destroyRoot(root);
    if (debs) fs.rmSync(debs, { recursive: true, force: true });
  });

  it('make deb builds the previous and the current version', (t) => {
    t.diagnostic('`make deps`: this test runs after it (CI, `make deps && make check`); it checks the tools');
    readme('make deps');
    for (const tool of ['dpkg-buildpackage', 'dh', 'debootstrap', 'lintian']) {
      assert.equal(run('sh', ['-c', `command -v ${tool}`]).status, 0, `${tool} missing: run make deps`);
    }
    const keep = (ver, into) => {
      fs.mkdirSync(path.join(debs, into));
      for (const pkg of ['ampgate', 'ampgate-sim']) {
        const f = path.join(ROOT, 'build/deb', `${pkg}_${ver}_${ARCH}.deb`);
        assert.ok(fs.existsSync(f), `make deb did not leave ${f}`);
        fs.copyFileSync(f, path.join(debs, into, path.basename(f)));
      }
    };
    ok(run('make', ['deb', `DEB_VERSION=${PREV}`], { timeout: 8 * MIN }), `make deb DEB_VERSION=${PREV}`);
    keep(PREV, 'prev');
    readme('make deb');
    ok(run('make', ['deb'], { timeout: 8 * MIN }), 'make deb');
    keep(CUR, 'cur');
  });

  it('lintian has no error or warning that packaging/debian does not explain', () => {
    const r = run('lintian', ['--fail-on', 'error,warning', path.join(ROOT, 'build/deb', `ampgate_${CUR}_${ARCH}.changes`)],
      { timeout: 4 * MIN });
    assert.equal(r.status, 0, r.out);
    assert.doesNotMatch(r.out, /^[EW]: /m);
  });

  it('installs the previous build as the README says', async (t) => {
    root = tmpDir('ampgate-root-');
    ok(run('tar', ['-C', root, '-xzf', baseTarball(t)], { timeout: 3 * MIN }), 'unpacking the base root');
    ok(run('mount', ['-t', 'proc', 'proc', path.join(root, 'proc')]), 'mount proc');
    only(path.join(debs, 'prev', `ampgate_${PREV}_${ARCH}.deb`));
    ok(inRoot(readme('apt-get update')), 'apt-get update');
    ok(inRoot(readme('apt-get install ./ampgate_*.deb'), { input: 'y\n' }), 'apt-get install');
    assert.equal(inRoot("dpkg-query -W -f='${Version}' ampgate").stdout, PREV);
  });

  it('files, owners, the conffile, the user and the enabled unit', () => {
    const u = ids('ampgate');
    assert.ok(u, 'no user ampgate');
    assert.ok(u.uid < 1000, `ampgate is a system user (uid ${u.uid})`);
    assert.equal(u.home, '/var/lib/ampgate');
    assert.equal(u.shell, '/usr/sbin/nologin');
    assert.equal(groupId('ampgate'), u.gid);
    for (const [p, mode] of [['usr/sbin/ampgated', 0o755], ['usr/bin/ampgatectl', 0o755]]) {
      assert.equal(stat(p).mode & 0o7777, mode, p);
      assert.equal(stat(p).uid, 0, p);
    }
    assert.ok(!fs.existsSync(path.join(root, 'usr/bin/ampgate-sim')), 'the simulator is not on a site box');
    const state = stat('var/lib/ampgate');
    assert.ok(state.isDirectory());
    assert.deepEqual([state.uid, state.gid, state.mode & 0o7777], [u.uid, u.gid, 0o750]);
    const conf = stat('etc/ampgate/ampgate.conf');
    assert.deepEqual([conf.uid, conf.gid, conf.mode & 0o7777], [0, u.gid, 0o640], 'config root:ampgate 0640');
    assert.equal(fs.readFileSync(path.join(root, 'etc/ampgate/ampgate.conf'), 'utf8'),
      fs.readFileSync(path.join(ROOT, 'etc/ampgate.conf'), 'utf8'));
    assert.match(inRoot("dpkg-query -W -f='${Conffiles}' ampgate").stdout, /^ \/etc\/ampgate\/ampgate\.conf [0-9a-f]{32}$/m);
    assert.match(inRoot('dpkg-statoverride --list').stdout, /^root ampgate 0?640 \/etc\/ampgate\/ampgate\.conf$/m);
    const wants = path.join(root, 'etc/systemd/system/multi-user.target.wants/ampgated.service');
    assert.equal(fs.readlinkSync(wants), '/lib/systemd/system/ampgated.service', 'enabled at boot');
    // A dependency ${shlibs:Depends} cannot see: libwebsockets dlopens its libuv event loop.
    assert.match(inRoot("dpkg-query -W -f='${Status}' libwebsockets-evlib-uv").stdout, /install ok installed/);
  });

  it('the packaged unit: systemd-analyze verify, and security "OK" or better', (t) => {
    const v = run('systemd-analyze', ['verify', `--root=${root}`, 'ampgated.service']);
    assert.equal(v.status, 0, v.out);
    assert.equal(v.out.trim(), '');
    const s = run('systemd-analyze', ['security', '--offline=yes', `--root=${root}`, 'ampgated.service']);
    assert.equal(s.status, 0, s.out);
    const m = s.out.match(/Overall exposure level for ampgated\.service: ([\d.]+) (\w+)/);
    assert.ok(m, s.out);
    t.diagnostic(`systemd-analyze security: exposure ${m[1]} ${m[2]}`);
    assert.ok(['PERFECT', 'SAFE', 'OK'].includes(m[2]), s.out);
    assert.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} grew past 2.0`);
  });

  it('the packaged binaries run there: --version, --check on the packaged config, readable only by ampgate', () => {
    assert.equal(inRoot('ampgated --version').stdout.trim(), `ampgated ${VERSION}`);
    const r = ok(inRoot('ampgated -c /etc/ampgate/ampgate.conf --check'), '--check on the packaged config');
    assert.match(r.out, /valid/);
    ok(inRoot('setpriv --reuid=ampgate --regid=ampgate --clear-groups -- ampgated -c /etc/ampgate/ampgate.conf --check'),
      '--check as user ampgate');
    const nobody = inRoot('setpriv --reuid=nobody --regid=nogroup --clear-groups -- ampgated -c /etc/ampgate/ampgate.conf --check');
    assert.notEqual(nobody.status, 0, 'another user must not read the passwords in the configuration');
  });

  it('commissioning as the README says: edit, --check, start, log, ampgatectl devices', async (t) => {
    // The devices: the packaged simulator on loopback, in the same root (a lab box).
    only(path.join(debs, 'cur', `ampgate-sim_${CUR}_${ARCH}.deb`));
    ok(inRoot(readme('apt-get install ./ampgate-sim_*.deb'), { input: 'y\n' }), 'apt-get install ampgate-sim');
    sim = spawn('chroot', [root, 'ampgate-sim', 'modbus', '--listen', '127.0.0.1:0', '--quiet'],
      { env: ROOT_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
    const simPort = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`ampgate-sim not listening:\n${out}`)), 10000);
      const onData = (d) => {
        out += d;
        const m = out.match(/listening on 127\.0\.0\.1:(\d+)/);
        if (m) { clearTimeout(timer); resolve(Number(m[1])); }
      };
      sim.stdout.on('data', onData);
      sim.stderr.on('data', onData);
    });

    t.diagnostic('stand-in for `editor /etc/ampgate/ampgate.conf`: the test writes the site an installer would');
    readme('editor /etc/ampgate/ampgate.conf');
    ports = { ocppPort: await freePort(), webPort: await freePort() };
    edited = `# depot-test: edited on site by the installer\n${siteConfig({
      dir: '/var/lib/ampgate', ...ports,
      extra: `devices = (
  { id = "grid"; driver = "sunspec"; role = "grid-meter"; modbus = "tcp://127.0.0.1:${simPort}"; unit = 1; poll_ms = 200; },
  { id = "bess"; driver = "sunspec"; role = "battery"; modbus = "tcp://127.0.0.1:${simPort}"; unit = 2; poll_ms = 200; }
);`,
    }).replace('grid = {', 'grid = { meter = "grid";')}`;
    fs.writeFileSync(path.join(root, 'etc/ampgate/ampgate.conf'), edited);   // in place: owner and mode stay

    const check = ok(inRoot(readme('ampgated -c /etc/ampgate/ampgate.conf --check')), 'ampgated --check');
    assert.match(check.out, /valid/);

    readme('systemctl restart ampgated');
    await startService(t);
    t.diagnostic('stand-in for `journalctl -u ampgated -b`: the daemon\'s own log, as the journal would get it');
    readme('journalctl -u ampgated -b');
    assert.match(daemon.log, /start: ampgated .* started/);

    const devices = ok(inRoot(readme('ampgatectl devices -c /etc/ampgate/ampgate.conf')), 'ampgatectl devices');
    assert.match(devices.out, /2 of 2 devices answered/);
    await stopService();

    const u = ids('ampgate');
    const db = stat('var/lib/ampgate/ampgate.db');
    assert.deepEqual([db.uid, db.gid, db.mode & 0o777], [u.uid, u.gid, 0o640], 'database written by ampgate, UMask 0027');
    assert.equal(events(), 'start,stop');
  });

  it('backup, then upgrade to the current build as the README says: edited configuration and database kept', async (t) => {
    ok(inRoot(readme('apt-get install sqlite3'), { input: 'y\n' }), 'apt-get install sqlite3');
    ok(inRoot(readme('sqlite3 /var/lib/ampgate/ampgate.db ".backup /root/ampgate-backup.db"')), 'backup');
    const backup = path.join(root, 'root/ampgate-backup.db');
    assert.equal(sql(backup, 'PRAGMA integrity_check'), 'ok');
    assert.equal(events('root/ampgate-backup.db'), 'start,stop');

    only(path.join(debs, 'cur', `ampgate_${CUR}_${ARCH}.deb`));
    ok(inRoot(readme('apt-get install ./ampgate_*.deb'), { input: 'y\n' }), 'apt-get install (upgrade)');
    assert.equal(inRoot("dpkg-query -W -f='${Version}' ampgate").stdout, CUR);
    assert.equal(fs.readFileSync(path.join(root, 'etc/ampgate/ampgate.conf'), 'utf8'), edited, 'edits kept');
    assert.deepEqual(fs.readdirSync(path.join(root, 'etc/ampgate')), ['ampgate.conf'], 'no .dpkg-* beside it');
    const conf = stat('etc/ampgate/ampgate.conf');
    assert.deepEqual([conf.gid, conf.mode & 0o7777], [groupId('ampgate'), 0o640]);
    assert.equal(events(), 'start,stop', 'database kept');
    await startService(t);   // the postinst restarts the service under systemd
    await stopService();
    assert.equal(events(), 'start,stop,start,stop');
    assert.equal(sql(path.join(root, 'var/lib/ampgate/ampgate.db'), 'PRAGMA integrity_check'), 'ok');
  });

  it('remove keeps configuration and state; purge deletes them and the user', () => {
    ok(inRoot(readme('apt-get remove ampgate'), { input: 'y\n' }), 'apt-get remove');
    assert.ok(!fs.existsSync(path.join(root, 'usr/sbin/ampgated')));
    assert.ok(fs.existsSync(path.join(root, 'var/lib/ampgate/ampgate.db')), 'database kept on remove');
    assert.equal(fs.readFileSync(path.join(root, 'etc/ampgate/ampgate.conf'), 'utf8'), edited);
    assert.ok(ids('ampgate'));

    ok(inRoot(readme('apt-get purge ampgate'), { input: 'y\n' }), 'apt-get purge');
    for (const p of ['var/lib/ampgate', 'etc/ampgate', 'etc/systemd/system/multi-user.target.wants/ampgated.service']) {
      assert.ok(!fs.existsSync(path.join(root, p)), `${p} left after purge`);
    }
    assert.equal(ids('ampgate'), null, 'user ampgate left after purge');
    assert.ok(Number.isNaN(groupId('ampgate')), 'group ampgate left after purge');
    assert.doesNotMatch(inRoot('dpkg-statoverride --list').stdout, /ampgate/);
    assert.notEqual(inRoot("dpkg-query -W -f='${Status}' ampgate").stdout, 'install ok installed');
  });

  it('the test typed every command of the README install section', () => {
    assert.deepEqual([...README].filter((c) => !typed.has(c)), []);
  });
});
