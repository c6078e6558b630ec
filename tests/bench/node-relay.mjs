// The Node relay a team would write instead of ampgated, as the proxy bench's yardstick (issue 23):
// `ws`, one upstream socket per charger, frames forwarded as they come, nothing else (no parsing,
// no state, no auth check). Charger connects to ws://HOST:PORT/<path>/<id>; the relay opens
// <upstream>/<id> with the same subprotocol and Authorization header and pipes both ways.
//
// Usage: node tests/bench/node-relay.mjs --listen 127.0.0.1:0 --upstream ws://127.0.0.1:9000/ocpp
// Prints "listening on HOST:PORT" when ready; exits on SIGTERM.
import { WebSocketServer, WebSocket } from 'ws';

const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : def;
};
const [host, port] = arg('listen', '127.0.0.1:0').split(':');
const upstream = arg('upstream');
if (!upstream) {
  console.error('node-relay: --upstream ws://HOST:PORT/PATH is required');
  process.exit(2);
}

const wss = new WebSocketServer({
  host, port: Number(port), perMessageDeflate: false,
  handleProtocols: (protocols) => protocols.values().next().value ?? false,
});

wss.on('connection', (down, req) => {
  const id = req.url.split('/').filter(Boolean).pop();
  const headers = req.headers.authorization ? { authorization: req.headers.authorization } : {};
  const up = new WebSocket(`${upstream}/${id}`, down.protocol ? [down.protocol] : [], { headers, perMessageDeflate: false });
  const held = [];
  // The received Buffer goes out as it is, as a text frame (no string conversion).
  up.on('open', () => { for (const [m, binary] of held.splice(0)) up.send(m, { binary }); });
  down.on('message', (data, binary) => {
    if (up.readyState === WebSocket.OPEN) up.send(data, { binary }); else held.push([data, binary]);
  });
  up.on('message', (data, binary) => { if (down.readyState === WebSocket.OPEN) down.send(data, { binary }); });
  const closeBoth = () => { down.terminate(); up.terminate(); };
  down.on('close', closeBoth);
  up.on('close', closeBoth);
  down.on('error', closeBoth);
  up.on('error', closeBoth);
});

wss.on('listening', () => {
  const a = wss.address();
  console.log(`listening on ${a.address}:${a.port}`);
});
process.on('SIGTERM', () => { wss.close(); process.exit(0); });
