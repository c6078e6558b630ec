// A second OCPP stack for the integration tests, written by other people than ocpp-rpc's author and
// ours: @voltbras/ts-ocpp for OCPP 1.6J (CentralSystem + ChargePoint, jsonschema against the OCA
// 1.6 JSON schemas) and @extrawest/node-ts-ocpp for 2.0.1 (OcppServer + OcppClient, ajv against
// the OCA 2.0.1 schemas). Both are used as they come: validation on (rejectInvalidRequests is
// voltbras's default), their own call timeouts (voltbras 30 s, extrawest 10 s, neither settable on a
// charger). Neither library validates the results it receives, so these wrappers run the results
// through the library's own schemas too: a failure is recorded, never thrown away.
//
// One interface for both versions, so a test reads the same for 1.6 and 2.0.1:
//   csms = await startInteropCsms(protocol, { handlers, port })
//     .url .port .received [{ id, method, params }] .frames [{ id, dir, frame }] .failures []
//     .calls(method, id) .send(id, method, params) .connected(id) .close() (stop accepting, drop links)
//   cp = await connectInteropStation({ protocol, url, id, password, handlers })
//     .call(method, params) .received [{ method, params }] .failures [] .close()
import http from 'node:http';
import { createRequire } from 'node:module';
import { freePort, scaled } from './daemon.js';
import { defaultAnswer, stationAnswer } from './ocpp.js';

const require = createRequire(import.meta.url);
const { CentralSystem, ChargePoint } = require('@voltbras/ts-ocpp');
const { validateMessageResponse } = require('@voltbras/ts-ocpp/dist/messages/validation');
const { chargePointActions } = require('@voltbras/ts-ocpp/dist/messages/cp');
const { centralSystemActions } = require('@voltbras/ts-ocpp/dist/messages/cs');
const { OcppServer, OcppClient } = require('@extrawest/node-ts-ocpp');
const { SchemaValidator } = require('@extrawest/node-ts-ocpp/dist/src/impl/SchemaValidator');
const schemas201 = require('@extrawest/node-ts-ocpp/dist/src/impl/schemas').default;

const V16 = 'ocpp1.6';
const CALLERROR = 4;

/** What the CSMS's side of 2.0.1 may be asked (extrawest's server has no list of its own). */
const CSMS_ACTIONS_201 = ['Authorize', 'BootNotification', 'ClearedChargingLimit', 'DataTransfer',
  'FirmwareStatusNotification', 'Heartbeat', 'LogStatusNotification', 'MeterValues', 'NotifyChargingLimit',
  'NotifyEVChargingNeeds', 'NotifyEVChargingSchedule', 'NotifyEvent', 'NotifyReport', 'ReportChargingProfiles',
  'SecurityEventNotification', 'StatusNotification', 'TransactionEvent'];
const STATION_ACTIONS_201 = ['CancelReservation', 'ChangeAvailability', 'ClearCache', 'ClearChargingProfile',
  'DataTransfer', 'GetBaseReport', 'GetChargingProfiles', 'GetCompositeSchedule', 'GetVariables', 'RequestStartTransaction',
  'RequestStopTransaction', 'Reset', 'SetChargingProfile', 'SetVariables', 'TriggerMessage', 'UnlockConnector'];

/** The library's own schema check of a result (neither library checks the results it gets). */
function resultProblem(protocol, method, payload) {
  if (protocol === V16) {
    const r = validateMessageResponse(method, payload ?? {}, [...chargePointActions, ...centralSystemActions]);
    return r.isLeft() ? String(r.extract()) : null;
  }
  const schema = schemas201[`${method}Response`];
  if (!schema) return `no 2.0.1 schema for ${method}Response`;
  try {
    new SchemaValidator(structuredClone(schema)).validate(payload);
    return null;
  } catch (e) {
    return `${e.code ?? 'invalid'}: ${e.message} ${JSON.stringify(e.details ?? {})}`;
  }
}

/** Watch a raw socket: every text frame both ways into `frames`, and any CALLERROR the library
 *  sends (its answer to a request that failed its schema or had no handler) into `failures`. */
function tap(socket, id, frames, failures) {
  socket.on('message', (data) => frames.push({ id, dir: 'in', frame: String(data) }));
  const send = socket.send.bind(socket);
  socket.send = (data, ...rest) => {
    const frame = String(data);
    frames.push({ id, dir: 'out', frame });
    try {
      const msg = JSON.parse(frame);
      if (msg[0] === CALLERROR) failures.push({ id, kind: 'sent CALLERROR', frame });
    } catch { /* not ours to judge */ }
    return send(data, ...rest);
  };
}

/** The payload of the CALL with this action in the frames a peer received, in order. */
/** The `method` calls a peer received, oldest first. The edge's own calls (ids "ampgate-…", such
 *  as its SetChargingProfile) interleave with the ones it relays; `relayedOnly` leaves them out. */
function callsIn(frames, method, { id, relayedOnly = false } = {}) {
  return frames.filter((f) => f.dir === 'in' && (!id || f.id === id)).map((f) => JSON.parse(f.frame))
    .filter((m) => m[0] === 2 && m[2] === method && !(relayedOnly && String(m[1]).startsWith('ampgate-')))
    .map((m) => m[3]);
}

function listening(server) {
  return server.listening ? Promise.resolve() : new Promise((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
}

/**
 * A CSMS from the second stack on 127.0.0.1 (`port` 0 picks a free one; pass the old port to bring
 * the same CSMS back after close()). `handlers[method](params, id)` may return a promise (a slow
 * CSMS); the default answers are those of tests/lib/ocpp.js.
 */
export async function startInteropCsms(protocol, { handlers = {}, port = 0 } = {}) {
  port ||= await freePort();
  const csms = { protocol, port, url: `ws://127.0.0.1:${port}/ocpp`, received: [], frames: [], failures: [], sockets: new Map() };
  const answer = async (id, method, params) => {
    csms.received.push({ id, method, params });
    return handlers[method] ? handlers[method](params, id) : defaultAnswer(protocol, method, params);
  };
  if (protocol === V16) {
    const cs = new CentralSystem(port, async (req, { chargePointId }) => {
      const { action, ocppVersion, ...params } = req;
      return { action, ocppVersion, ...(await answer(chargePointId, action, params)) };
    }, { host: '127.0.0.1', onWebsocketError: (e, { chargePointId }) => csms.failures.push({ id: chargePointId, kind: 'socket', error: String(e) }) });
    cs.websocketsServer.on('connection', (socket, req) => {
      const id = req.url.split('/').pop();
      csms.sockets.set(id, socket);
      tap(socket, id, csms.frames, csms.failures);
    });
    await listening(cs.httpServer);
    csms.send = async (id, method, params) => {
      const r = await cs.sendRequest({ chargePointId: id, ocppVersion: 'v1.6-json', action: method, payload: params }).run();
      if (r.isLeft()) throw r.extract();
      const problem = resultProblem(protocol, method, r.extract());
      if (problem) csms.failures.push({ id, kind: `${method} result`, error: problem });
      return r.extract();
    };
    csms.close = async () => {
      for (const s of csms.sockets.values()) s.terminate();
      await cs.close();
    };
  } else {
    const server = new OcppServer();
    const clients = new Map();
    server.on('connection', (client) => {
      const id = client.getCpId();
      clients.set(id, client);
      const socket = client.connection.socket;
      csms.sockets.set(id, socket);
      tap(socket, id, csms.frames, csms.failures);
      for (const method of CSMS_ACTIONS_201) {
        client.on(method, (params, cb) => {
          answer(id, method, params).then(cb, (e) => csms.failures.push({ id, kind: 'handler', error: String(e) }));
        });
      }
    });
    // extrawest's listen(port) binds every interface and keeps no handle to close: give it a
    // server that binds loopback only and that we can close.
    const createServer = http.createServer;
    let web;
    http.createServer = (...args) => {
      web = createServer(...args);
      const listen = web.listen.bind(web);
      web.listen = (p) => listen(p, '127.0.0.1');
      return web;
    };
    try {
      server.listen(port);
    } finally {
      http.createServer = createServer;
    }
    await listening(web);
    csms.send = async (id, method, params) => {
      const client = clients.get(id);
      if (!client?.connection) throw new Error(`${id} is not connected to the CSMS`);
      const res = await client.callRequest(method, params);
      const problem = resultProblem(protocol, method, res);
      if (problem) csms.failures.push({ id, kind: `${method} result`, error: problem });
      return res;
    };
    csms.close = async () => {
      for (const s of csms.sockets.values()) s.terminate();
      web.closeAllConnections?.();
      await new Promise((resolve) => web.close(resolve));
    };
  }
  csms.calls = (method, id) => csms.received.filter((r) => r.method === method && (!id || r.id === id));
  /** The payloads as they arrived on the wire (the library adds nothing here). */
  csms.wire = (method, id) => callsIn(csms.frames, method, { id });
  csms.connected = (id) => { const s = csms.sockets.get(id); return s && s.readyState === 1; };
  return csms;
}

/** A charging station from the second stack, connected to `url` (ws://host:port/ocpp). */
export async function connectInteropStation({ protocol, url, id, password, handlers = {}, timeoutMs = 5000 }) {
  const cp = { protocol, id, received: [], frames: [], failures: [], profiles: [] };
  const answer = (method, params) => {
    cp.received.push({ method, params });
    if (method === 'SetChargingProfile') cp.profiles.push(params);
    if (handlers[method]) return handlers[method](params);
    return stationAnswer(method, params);
  };
  const withAuth = new URL(url);
  let opened;
  if (protocol === V16) {
    withAuth.username = id;
    withAuth.password = password;
    const station = new ChargePoint(id, async (req) => {
      const { action, ocppVersion, ...params } = req;
      return { action, ocppVersion, ...(await answer(action, params)) };
    }, withAuth.href.replace(/\/$/, ''));
    opened = station.connect().then((conn) => { tap(conn.socket, id, cp.frames, cp.failures); });
    cp.call = async (method, params) => {
      const r = await station.sendRequest({ action: method, ocppVersion: 'v1.6-json', payload: params }).run();
      if (r.isLeft()) throw r.extract();
      const problem = resultProblem(protocol, method, r.extract());
      if (problem) cp.failures.push({ kind: `${method} result`, error: problem });
      return r.extract();
    };
    cp.close = () => station.close();
    cp.socket = () => station.connection?.socket;
  } else {
    const station = new OcppClient(id);
    for (const method of STATION_ACTIONS_201) station.on(method, (params, cb) => Promise.resolve(answer(method, params)).then(cb));
    station.on('error', (e) => cp.failures.push({ kind: 'socket', error: String(e) }));
    opened = new Promise((resolve, reject) => {
      station.once('connect', () => { tap(station.connection.socket, id, cp.frames, cp.failures); resolve(); });
      station.once('close', (code) => reject(new Error(`${id}: closed ${code} before it opened`)));
    });
    station.connect(`${url.replace(/\/$/, '')}/`, { Authorization: `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}` });
    cp.call = async (method, params) => {
      const res = await station.callRequest(method, params);
      const problem = resultProblem(protocol, method, res);
      if (problem) cp.failures.push({ kind: `${method} result`, error: problem });
      return res;
    };
    cp.close = () => station.connection?.socket.close(1000);
    cp.socket = () => station.connection?.socket;
  }
  let timer;
  await Promise.race([opened, new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${id}: no WebSocket to ${url} within ${timeoutMs} ms`)), scaled(timeoutMs)); })]);
  clearTimeout(timer);
  cp.wire = (method, opts) => callsIn(cp.frames, method, opts);
  return cp;
}
