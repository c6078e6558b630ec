// The ampgated configuration for a fleet of `ampgate-sim chargers` stations (SIM0001..): shared by
// the proxy bench and the soak, so both measure the same edge.

/** Configuration text: `n` chargers SIM%04d with passwords from `passwords` (a %04d template),
 *  plus `extra` charger lines, behind one edge with its uplink to the CSMS on `csmsPort`.
 *  `groups` splits the fleet over several simulator processes, each numbering from 1: a group's
 *  `prefix` goes before its ids and passwords (P1SIM0001, ...). */
export function fleetConfig({ name, dir, n, passwords, ocppPort, webPort, csmsPort, extra = [], groups = [{ prefix: '', n }] }) {
  const chargers = [];
  for (const g of groups) {
    for (let i = 1; i <= g.n; i++) {
      const id = String(i).padStart(4, '0');
      chargers.push(`  { id = "${g.prefix}SIM${id}"; password = "${g.prefix}${passwords.replace('%04d', id)}"; max_a = 32.0; }`);
    }
  }
  chargers.push(...extra);
  // The largest grid connection the configuration takes: these runs measure the proxy, not the
  // allocation (bench_solver does).
  const grid = Math.min(n * 33, 10000);
  return `site = { name = "${name}"; grid = { limit_a = [${grid}.0, ${grid}.0, ${grid}.0]; }; };
ocpp = { listen = "127.0.0.1:${ocppPort}"; path = "/ocpp"; security_profile = 1; meter_interval_s = 0; };
upstream = { url = "ws://127.0.0.1:${csmsPort}/ocpp"; security_profile = 1; };
web = { listen = "127.0.0.1:${webPort}"; };
storage = { path = "${dir}/ampgate.db"; };
chargers = (
${chargers.join(',\n')}
);
`;
}
