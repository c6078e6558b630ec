// OCPP peers for the integration tests, built on ocpp-rpc in strict schema mode: a CSMS that
// records every call it receives, and charging stations.
import https from 'node:https';
import rpc from 'ocpp-rpc';
import { scaled } from './daemon.js';

const { RPCServer, RPCClient } = rpc;
export const PROTOCOLS = ['ocpp1.6', 'ocpp2.0.1'];
export const TS = () => new Date().toISOString();

/**
 * A strict CSMS on 127.0.0.1. `passwords` maps station id -> expected Basic password (or null).
 * `tls` ({ cert, key, ca, requestCert }) serves wss:// instead; with requestCert a client
 * certificate signed by `ca` is required and its CN recorded in csms.clientCerts.
 */
export async function startCsms({ passwords = null, handlers = {}, tls = null } = {}) {
  const server = new RPCServer({ protocols: PROTOCOLS, strictMode: true, pingIntervalMs: 0, callTimeoutMs: 5000 });
  const csms = { server, clients: new Map(), received: [], frames: [], failures: [], connects: [] };
  server.auth((accept, reject, handshake) => {
    if (![...handshake.protocols].some((p) => PROTOCOLS.includes(p))) return reject(400, 'no OCPP subprotocol');
    if (passwords) {
      const want = passwords[handshake.identity];
      if (!want || handshake.password?.toString('utf8') !== want) return reject(401, 'Unauthorized');
    }
    accept({}, [...handshake.protocols][0]);
  });
  server.on('client', (client) => {
    csms.clients.set(client.identity, client);
    csms.connects.push(client.identity);
    client.on('message', ({ message, outbound }) => { if (!outbound) csms.frames.push({ id: client.identity, message: String(message) }); });
    client.on('strictValidationFailure', (e) => csms.failures.push(e));
    client.handle(({ method, params }) => {
      csms.received.push({ id: client.identity, protocol: client.protocol, method, params });
      const h = handlers[method];
      if (h) return h(params, client);
      return defaultAnswer(client.protocol, method, params);
    });
  });
  if (tls) {
    csms.clientCerts = [];
    const web = https.createServer({ ...tls, rejectUnauthorized: !!tls.requestCert });
    web.on('upgrade', (req, socket, head) => {
      if (tls.requestCert) csms.clientCerts.push(socket.getPeerCertificate()?.subject?.CN);
      server.handleUpgrade(req, socket, head);
    });
    await new Promise((resolve) => web.listen(0, '127.0.0.1', resolve));
    csms.port = web.address().port;
    csms.url = `wss://127.0.0.1:${csms.port}/csms`;
    csms.close = async () => { await server.close({ force: true }); web.closeAllConnections?.(); web.close(); };
  } else {
    const http = await server.listen(0, '127.0.0.1');
    csms.port = http.address().port;
    csms.url = `ws://127.0.0.1:${csms.port}/csms`;
    csms.close = () => server.close({ force: true });
  }
  csms.calls = (method, id) => csms.received.filter((r) => r.method === method && (!id || r.id === id));
  return csms;
}

let nextTx = 1000;
export function defaultAnswer(protocol, method, params) {
  const v16 = protocol === 'ocpp1.6';
  switch (method) {
    case 'BootNotification': return { status: 'Accepted', currentTime: TS(), interval: 300 };
    case 'Heartbeat': return { currentTime: TS() };
    case 'Authorize': return v16 ? { idTagInfo: { status: 'Accepted' } } : { idTokenInfo: { status: 'Accepted' } };
    case 'StartTransaction': return { transactionId: nextTx++, idTagInfo: { status: 'Accepted' } };
    case 'TransactionEvent': return params.idToken ? { idTokenInfo: { status: 'Accepted' } } : {};
    case 'NotifyEVChargingNeeds': return { status: 'Accepted' };
    default: return {};
  }
}

/** A strict charging station. `profiles` collects the SetChargingProfile requests it receives. */
export async function connectStation({ url, id, protocol, password, handlers = {}, accept = true, wsOpts }) {
  const cp = new RPCClient({
    endpoint: url, identity: id, protocols: [protocol], strictMode: true, password,
    reconnect: false, callTimeoutMs: 5000, pingIntervalMs: 0, wsOpts,
  });
  cp.profiles = [];
  cp.received = [];
  cp.failures = [];
  cp.on('strictValidationFailure', (e) => cp.failures.push(e));
  cp.handle(({ method, params }) => {
    cp.received.push({ method, params });
    if (handlers[method]) return handlers[method](params);
    if (method === 'SetChargingProfile') {
      cp.profiles.push(params);
      return { status: accept ? 'Accepted' : 'Rejected' };
    }
    return stationAnswer(method, params);
  });
  await cp.connect();
  return cp;
}

/** What a well-behaved station answers to a command (the CSMS's or the edge's), either version. */
export function stationAnswer(method, params) {
  switch (method) {
    case 'Reset': case 'RemoteStartTransaction': case 'RequestStartTransaction': case 'ChangeConfiguration':
    case 'ClearChargingProfile': case 'TriggerMessage': case 'SetChargingProfile':
    case 'RemoteStopTransaction': case 'RequestStopTransaction':
      return { status: 'Accepted' };
    case 'SetVariables':
      return { setVariableResult: params.setVariableData.map((s) => ({ attributeStatus: 'Accepted', component: s.component, variable: s.variable })) };
    case 'GetConfiguration':
      return { configurationKey: [{ key: 'HeartbeatInterval', readonly: false, value: '300' }] };
    case 'GetVariables':
      return { getVariableResult: params.getVariableData.map((g) => ({ attributeStatus: 'Accepted', attributeValue: '300', component: g.component, variable: g.variable })) };
    default:
      return {};
  }
}

export function bootPayload(protocol) {
  return protocol === 'ocpp1.6'
    ? { chargePointVendor: 'Ampgate-Test', chargePointModel: 'DC-150', firmwareVersion: '1.2.3' }
    : { reason: 'PowerUp', chargingStation: { vendorName: 'Ampgate-Test', model: 'DC-150', firmwareVersion: '1.2.3' } };
}

/**
 * The station-wide limit in A that the profiles a charger holds give now, per OCPP: within a
 * purpose the valid profile with the highest stack level wins; across purposes the lowest wins.
 */
export function effectiveLimit(profiles, protocol) {
  const byKey = new Map(); // same id or same purpose+stack replaces
  const now = Date.now();
  for (const p of profiles) {
    const prof = protocol === 'ocpp1.6' ? p.csChargingProfiles : p.chargingProfile;
    const id = protocol === 'ocpp1.6' ? prof.chargingProfileId : prof.id;
    for (const [k, v] of byKey) if (v.id === id || (v.purpose === prof.chargingProfilePurpose && v.stack === prof.stackLevel)) byKey.delete(k);
    const sched = Array.isArray(prof.chargingSchedule) ? prof.chargingSchedule[0] : prof.chargingSchedule;
    byKey.set(`${id}`, { id, purpose: prof.chargingProfilePurpose, stack: prof.stackLevel, validTo: prof.validTo, limit: sched.chargingSchedulePeriod[0].limit });
  }
  const best = new Map();
  for (const v of byKey.values()) {
    if (v.validTo && Date.parse(v.validTo) < now) continue;
    const cur = best.get(v.purpose);
    if (!cur || v.stack > cur.stack) best.set(v.purpose, v);
  }
  return Math.min(...[...best.values()].map((v) => v.limit));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function until(fn, { timeoutMs = 5000, stepMs = 25, what = 'condition' } = {}) {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > scaled(timeoutMs)) throw new Error(`timeout waiting for ${what}`);
    await sleep(stepMs);
  }
}
