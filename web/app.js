// The site manager's page: overview (mode, uplink, energy flow, grid per phase, live chart), chargers (with
// the reason behind every limit; priority and a session's departure and energy need for
// managers), devices and events. Plain JS, no build step; data from /api/v1 and the live
// WebSocket. Changes carry the session's CSRF token.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { session: null, site: null, chargers: [], history: [], stored: null, voltage: 230, tab: 'overview', live: null, backoff: 1000,
  lastMsg: 0, lostSince: null, energy: null, charger: null };

function fmtA(v) {
  return v === null || v === undefined ? '–' : `${Number(v).toFixed(1)} A`;
}

function text(el, s) {
  if (el.textContent !== s) el.textContent = s;
}

// A cell labelled with its column's heading, so a narrow screen can show each row as a card.
function cell(tr, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  const th = tr.closest('table') && tr.closest('table').tHead ? tr.closest('table').tHead.rows[0].cells[tr.cells.length] : null;
  tr.appendChild(td);
  if (th) td.dataset.label = th.textContent;
  return td;
}

function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }) : '–';
}

function fmtDur(s) {
  return s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${Math.round(s / 60)} min` : `${Math.round(s)} s`;
}

function fmtKwh(v) {
  return v === null || v === undefined ? '–' : `${Number(v).toFixed(1)} kWh`;
}

const HEALTH_WORDS = { available: 'Available', charging: 'Charging', occupied: 'Occupied', faulted: 'Faulted',
  unavailable: 'Out of service', silent: 'Not answering', offline: 'Offline', unknown: 'Unknown' };

function healthText(ch) {
  const st = HEALTH_WORDS[ch.health] || ch.health;
  const code = ch.health === 'faulted' && ch.fault_code ? ` (${ch.fault_code})` : '';
  return `${st}${code} since ${fmtTime(ch.health_since_ms)}${ch.technician_alert ? ' · technician needed' : ''}`;
}

async function api(path, body) {
  const init = { headers: {} };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    init.headers['X-CSRF-Token'] = state.session ? state.session.csrf_token : '';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  if (r.status === 401) {
    location.href = '/login.html';
    throw new Error('logged out');
  }
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(j.error || `the edge answered ${r.status}`);
  return j;
}

// ---- words for the solver's binding constraint: "why does this bus get 16 A" ----
function why(ch) {
  const b = ch.limit.binding || '';
  const safe = fmtA(ch.limit.fallback_a);
  const fixed = {
    'no EV': 'No vehicle plugged in',
    'charger max': `At this charger's maximum (${fmtA(ch.max_a)})`,
    'EV-limited': 'The vehicle takes less than it is offered',
    'EV max': `At the vehicle's own maximum (${fmtA(ch.ev_max_a)})`,
    'fallback: offline': `Offline: counted at its safe ${safe}`,
    'fallback: silent': `Not answering: held at its safe ${safe}`,
    'fallback: meter stale': `A meter is stale: held at its safe ${safe}`,
    'not controllable': `Refuses limits: counted at its safe ${safe}`,
    'paused: rotation': 'Paused: taking turns with other vehicles',
    'paused: price': 'Paused: waiting for cheaper power',
  };
  if (fixed[b]) return fixed[b];
  const m = b.match(/^(paused: )?(.+) (L[123]|kW)$/);
  if (!m) return b || '–';
  const node = m[2] === 'grid' ? 'the grid connection' : `circuit ${m[2]}`;
  const where = m[3] === 'kW' ? 'its kW limit' : `phase ${m[3]}`;
  return m[1] ? `Paused: no room left on ${node}, ${where}` : `Its share: ${node} is full on ${where}`;
}

// ---- overview ----
function renderSite() {
  const s = state.site;
  if (!s) return;
  text($('#site-name'), s.name);
  document.title = `Ampgate — ${s.name}`;
  const st = s.state || s.mode;
  const over = s.over_limit_phases || [];
  text($('#mode'), st === 'over_limit' ? 'Over limit' : st === 'fallback' ? 'Fallback' : 'Normal');
  $('#mode').className = `big ${st === 'over_limit' ? 'bad' : st === 'fallback' ? 'warn' : 'ok'}`;
  const worst = over.map((ph) => { const p = Number(ph[1]) - 1; return `${ph} ${fmtA(s.grid.current_a[p])} of ${fmtA(s.grid.limit_a[p])}`; });
  text($('#mode-why'), st === 'over_limit' ? `The grid meter reads above the limit: ${worst.join(', ')}. Chargers are being lowered.`
    : st === 'fallback' ? `${s.fallback_why}: every charger held at its safe current`
      : s.grid.measured ? 'Grid reading under the limit; chargers under load management' : 'Chargers under load management (no grid meter)');
  text($('#charger-counts'), `${s.chargers.charging} charging`);
  const sessions = s.chargers.sessions === undefined ? '' : `${s.chargers.sessions} with a session · `;
  text($('#charger-sub'), `drawing current now; ${sessions}${s.chargers.online} of ${s.chargers.configured} online`);
  if (!s.uplink.configured) {
    text($('#uplink'), 'No CSMS');
    text($('#uplink-sub'), 'The edge answers the chargers itself');
  } else {
    text($('#uplink'), s.uplink.connected > 0 || s.chargers.online === 0 ? 'Connected' : 'Down');
    text($('#uplink-sub'), `${s.uplink.connected} of ${s.chargers.online} online chargers linked; while down: ${s.uplink.partition_mode}`);
  }
  renderOutbox(s.uplink);
  renderFlow();
  text($('#policy'), s.policy);
  const o = s.grid.override;
  const conn = Math.min(...(s.grid.configured_limit_a || [Infinity]).filter((v) => v > 0));
  const noEffect = o && o.limit_a >= conn ? `: no effect above the connection's ${fmtA(conn)}` : '';
  text($('#override'), o ? `Temporary limit ${fmtA(o.limit_a)} per phase for ${Math.ceil(o.remaining_s / 60)} more min (${o.by})${noEffect}` : `${s.solves} allocations since start`);

  const box = $('#phases');
  for (let p = 0; p < 3; p++) {
    let row = box.children[p];
    if (!row) {
      row = document.createElement('div');
      row.className = 'phase';
      row.innerHTML = '<span class="ph"></span><div class="bar"><div class="fill"></div><div class="ev"></div></div><span class="val"></span>';
      box.appendChild(row);
    }
    const cur = s.grid.current_a[p], lim = s.grid.limit_a[p], ev = s.grid.ev_a[p];
    const pct = lim > 0 && cur !== null ? Math.min(100, (cur / lim) * 100) : 0;
    text(row.querySelector('.ph'), `L${p + 1}`);
    row.querySelector('.fill').style.width = `${pct}%`;
    row.querySelector('.fill').className = `fill ${pct > 95 ? 'hot' : pct > 80 ? 'warm' : ''}`;
    row.querySelector('.ev').style.width = `${lim > 0 && ev !== null ? Math.min(100, (ev / lim) * 100) : 0}%`;
    text(row.querySelector('.val'), `${fmtA(cur)} of ${fmtA(lim)} · EV ${fmtA(ev)}`);
  }
  renderBanner();
}

// The durable outbox: what the edge keeps for the CSMS while it cannot reach it. Near its bound
// the edge thins out MeterValues to make room: a manager should know before that happens.
function renderOutbox(up) {
  const el = $('#outbox');
  const ob = up.outbox;
  el.hidden = !up.configured || !ob;
  if (el.hidden) return;
  const near = ob.max > 0 && ob.messages >= 0.8 * ob.max;
  const dropped = ob.dropped > 0 ? `; ${ob.dropped} meter readings dropped to make room` : '';
  text(el, `Outbox: ${ob.messages} of ${ob.max} messages waiting for the CSMS${dropped}${near ? ' — nearly full' : ''}`);
  el.className = near || ob.dropped > 0 ? 'warn' : 'muted';
}

// ---- energy flow: what comes in (grid, PV, battery) and where it goes (building, EVs) ----
// From the site's "energy" object of the live state. A node shows only what the site has (no PV
// box without an inverter); the arrow and the words carry the direction, not a colour: a
// power flowing into the site points right (down on a phone), towards the building and the EVs.
const FLOW_IDLE_W = 50; // less than this either way: no flow worth an arrow

function fmtKw(w) {
  return w === null || w === undefined ? '–' : `${(Math.abs(w) / 1000).toFixed(1)} kW`;
}

// The node `id` in the column `side`, made on first use: name, kW, direction, details.
function flowNode(id, side, name) {
  let n = $(`#flow-${id}`);
  if (n) return n;
  n = document.createElement('div');
  n.id = `flow-${id}`;
  n.className = 'flow-node';
  n.innerHTML = '<h3></h3><p class="kw"></p><p class="dir"><span class="arrow" aria-hidden="true"></span> <span class="words"></span></p><p class="sub muted"></p>';
  n.querySelector('h3').textContent = name;
  $(`#flow-${side}`).appendChild(n);
  return n;
}

// `w` signed: > 0 flows the way the site's arrows point (into the site from the left, out of
// it to the right), < 0 against it.
function setFlow(n, w, along, against, idle, cls) {
  text(n.querySelector('.kw'), fmtKw(w));
  const dir = w === null || w === undefined ? '' : w > FLOW_IDLE_W ? '→' : w < -FLOW_IDLE_W ? '←' : '·';
  text(n.querySelector('.arrow'), dir);
  text(n.querySelector('.words'), dir === '→' ? along : dir === '←' ? against : idle);
  n.className = `flow-node${cls ? ` ${cls}` : ''}`;
  n.dataset.dir = dir === '→' ? 'along' : dir === '←' ? 'against' : 'none';
}

function battText(b) {
  const sp = b.setpoint_w;
  const asked = sp === null ? "its own control (the edge does not command it)"
    : sp > FLOW_IDLE_W ? `discharge ${fmtKw(sp)}` : sp < -FLOW_IDLE_W ? `charge ${fmtKw(sp)}` : 'hold';
  const counted = b.counted_w > FLOW_IDLE_W ? ` · ${fmtKw(b.counted_w)} counted as room for the EVs` : '';
  const above = b.mode === 'peak-shave' && b.peak_w !== null ? ` (above ${fmtKw(b.peak_w)} import)` : '';
  return `Mode ${b.mode}${above}; asked: ${asked} (${b.why})${counted}`;
}

function renderFlow() {
  const s = state.site;
  const e = s.energy;
  $('#flow').hidden = !e;
  if (!e) return;
  const g = flowNode('grid', 'in', 'Grid');
  setFlow(g, e.grid_w, 'importing from the grid', 'exporting to the grid', e.grid_w === null ? 'not measured' : 'no flow');
  text(g.querySelector('.sub'), e.grid_w === null ? "No fresh grid meter reading: the building's share of the connection is not known." : '');
  const shown = new Set(['grid', 'ev']);
  if (e.pv_w !== null) {
    shown.add('pv');
    const n = flowNode('pv', 'in', 'Solar (PV)');
    setFlow(n, e.pv_w, 'producing', 'drawing', 'not producing');
    text(n.querySelector('.sub'), e.pv_surplus_w > FLOW_IDLE_W ? `${fmtKw(e.pv_surplus_w)} spare for chargers set to charge from PV` : '');
  }
  const b = e.battery;
  if (b) {
    shown.add('battery');
    const n = flowNode('battery', 'in', 'Battery');
    setFlow(n, b.answering ? b.power_w : null, 'discharging', 'charging', b.answering ? 'idle' : 'not answering', b.answering ? '' : 'fault');
    let soc = n.querySelector('.soc');
    if (!soc) { soc = document.createElement('p'); soc.className = 'soc'; n.querySelector('.dir').after(soc); }
    text(soc, b.soc_pct === null ? 'SoC –' : `SoC ${b.soc_pct.toFixed(0)} %`);
    text(n.querySelector('.sub'), b.answering ? battText(b)
      : `Not answering: its discharge no longer counts for the EVs, the chargers are lowered. Check the battery ${b.device} and its Modbus link.`);
  }
  if (e.building_w !== null) {
    // building_w is the non-EV load net of PV; the building itself uses that plus what PV gives.
    shown.add('building');
    const n = flowNode('building', 'out', 'Building');
    setFlow(n, e.building_w + (e.pv_w || 0), 'using', 'feeding in', 'using nothing');
    text(n.querySelector('.sub'), 'Everything on the connection but the chargers');
  }
  const ev = flowNode('ev', 'out', 'EV chargers');
  const n = s.chargers.charging;
  setFlow(ev, e.ev_w, `charging ${n} vehicle${n === 1 ? '' : 's'}`, 'feeding in', 'not drawing');
  text(ev.querySelector('.sub'), `${s.chargers.online} of ${s.chargers.configured} chargers online`);
  for (const el of document.querySelectorAll('.flow-node')) if (!shown.has(el.id.slice(5))) el.remove();
  renderRatchet(e.demand);
}

// The demand-charge ratchet: this month's highest window average, and whether the site stays
// under it in the window now running.
function renderRatchet(d) {
  const el = $('#flow-ratchet');
  el.hidden = !d || (d.month_peak_w === null && d.window_avg_w === null);
  if (el.hidden) return;
  const min = `${Math.round(d.window_s / 60)}-minute`;
  const peak = d.month_peak_w === null ? 'none recorded yet' : `${fmtKw(d.month_peak_w)} (highest ${min} average import)`;
  const now = d.window_avg_w === null ? '' : ` This ${min} window so far: ${fmtKw(d.window_avg_w)}`;
  let verdict = '', cls = 'muted';
  if (d.month_peak_w !== null && d.window_avg_w !== null) {
    const holds = d.window_avg_w <= d.month_peak_w;
    verdict = holds ? (d.ratchet ? ' — the ratchet holds: below the peak.' : ' — below the peak.')
      : ` — above the peak${d.ratchet ? ': the ratchet does not hold' : ''}; if it stays there, this month's peak (and its demand charge) rises.`;
    cls = holds ? 'muted' : 'warn';
    el.dataset.holds = String(holds);
  } else {
    delete el.dataset.holds;
    if (now) verdict = '.';
  }
  text(el, `This month's demand peak: ${peak}.${now}${verdict}`);
  el.className = cls;
}

function renderBanner() {
  const s = state.site;
  const alerts = [];
  if (s && s.mode === 'fallback') alerts.push(`Fallback: ${s.fallback_why}. Every charger is held at its safe current until the meter reads again.`);
  const silent = state.chargers.filter((c) => c.link === 'silent').map((c) => c.id);
  if (silent.length) alerts.push(`Not answering: ${silent.join(', ')} (counted at their safe current).`);
  const wild = state.chargers.filter((c) => !c.limit.controllable).map((c) => c.id);
  if (wild.length) alerts.push(`Refusing limits: ${wild.join(', ')}. Check these chargers' charging-profile support.`);
  if (s && s.state === 'over_limit') alerts.unshift(`Over limit on ${s.over_limit_phases.join(', ')}: the grid meter reads more than the connection allows.`);
  const b = $('#banner');
  text(b, alerts.join(' '));
  b.className = alerts.length ? 'banner show' : 'banner';
  renderAlerts();
}

// The overview's strip: chargers a person must go to (technician alert, faulted, offline).
function renderAlerts() {
  const ul = $('#alerts');
  const items = [];
  for (const ch of state.chargers) {
    if (ch.technician_alert) items.push([ch, 'bad', `${ch.id}: technician needed — ${ch.fault_code || 'faulted'}, resets did not heal it`]);
    else if (ch.health === 'faulted') items.push([ch, 'bad', `${ch.id}: faulted${ch.fault_code ? ` (${ch.fault_code})` : ''} since ${fmtTime(ch.health_since_ms)}`]);
    else if (ch.link === 'offline') items.push([ch, 'warn', `${ch.id}: offline since ${fmtTime(ch.health_since_ms)}`]);
  }
  const key = JSON.stringify(items.map((i) => i[2]));
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.replaceChildren(...items.map(([ch, cls, msg]) => {
    const li = document.createElement('li');
    li.className = cls;
    const a = document.createElement('a');
    a.href = `#charger/${encodeURIComponent(ch.id)}`;
    a.textContent = msg;
    li.appendChild(a);
    return li;
  }));
  ul.hidden = !items.length;
}

// ---- chart: grid, EV drawn, allocated and the limit over the chosen span, in A or kW ----
// A sample: [time_ms, grid_a[3], ev_a[3], limit_a, allocated_a[3], grid_kw, ev_kw, allocated_kw]
// (/api/v1/history's columns). The last hour comes from the live view (one a second), a day
// or a week from the edge's database (5 or 30 minute means), fetched when chosen.
function kw(a) {
  const v = a.filter((x) => x !== null && x !== undefined);
  return v.length ? (v.reduce((s, x) => s + x, 0) * state.voltage) / 1000 : null;
}

function addSample(t, g) {
  const h = state.history;
  if (h.length && t - h[h.length - 1][0] < 500) h.pop();
  h.push([t, g.current_a, g.ev_a, Math.max(...g.limit_a), g.allocated_a, kw(g.current_a), kw(g.ev_a), kw(g.allocated_a)]);
  const keep = Date.now() - 3600 * 1000;
  while (h.length && h[0][0] < keep) h.shift();
}

const spanName = () => { const s = Number($('#span').value); return s > 86400 ? 'week' : s > 3600 ? 'day' : 'hour'; };

// The stored samples of a day or a week, and how often each limit bound in the span.
async function loadHistory() {
  const name = spanName();
  state.historyAt = Date.now();
  const h = await api(`/api/v1/history?span=${name}`);
  if (name !== spanName()) return;
  state.voltage = h.voltage_v || state.voltage;
  state.stored = name === 'hour' ? null : { span: name, bucket: h.bucket_ms, samples: h.samples };
  renderBound(h.bound, name);
  drawChart();
}

function renderBound(b, name) {
  const when = { hour: 'the last hour', day: 'the last 24 hours', week: 'the last 7 days' }[name];
  const el = $('#bound-share');
  el.dataset.samples = String(b.samples);
  if (!b.samples) { text(el, `No history for ${when} yet.`); return; }
  const nodes = b.nodes.filter((n) => n.share_pct > 0);
  const words = (n) => `${n.node === 'grid' ? 'the grid connection' : `circuit ${n.node}`} ${n.share_pct.toFixed(1)} %`;
  text(el, nodes.length ? `A limit held the chargers back in ${when}: ${nodes.map(words).join(', ')} of the time.`
    : `No limit held the chargers back in ${when}: every vehicle got what it could take.`);
}

const SERIES = {
  A: [['Grid L1', 'l1', '#2563eb', 2, null, (s) => s[1][0]], ['Grid L2', 'l2', '#16a34a', 2, null, (s) => s[1][1]],
    ['Grid L3', 'l3', '#d97706', 2, null, (s) => s[1][2]],
    ['EV chargers drawing (busiest phase)', 'ev', '#9333ea', 3, null, (s) => peak(s[2])],
    ['Allocated to them (busiest phase)', 'alloc', '#9333ea', 2, [4, 3], (s) => peak(s[4])],
    ['Limit', 'lim', '#dc2626', 2, [8, 6], (s) => s[3]]],
  kW: [['Grid', 'grid', '#2563eb', 2, null, (s) => s[5]], ['EV chargers drawing', 'ev', '#9333ea', 3, null, (s) => s[6]],
    ['Allocated to them', 'alloc', '#9333ea', 2, [4, 3], (s) => s[7]],
    ['Limit', 'lim', '#dc2626', 2, [8, 6], (s) => (s[3] ? (s[3] * 3 * state.voltage) / 1000 : null)]],
};

function peak(a) {
  const v = (a || []).filter((x) => x !== null && x !== undefined);
  return v.length ? Math.max(...v) : null;
}

function renderLegend(unit) {
  const lg = $('#legend');
  if (lg.dataset.unit === unit) return;
  lg.dataset.unit = unit;
  lg.replaceChildren(...SERIES[unit].map(([name, cls]) => {
    const k = document.createElement('span');
    k.className = `k ${cls}`;
    k.textContent = name;
    return k;
  }));
}

function drawChart() {
  const cv = $('#chart');
  const dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth || 1200, hgt = cv.clientHeight || 320;
  if (cv.width !== Math.round(w * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(hgt * dpr); }
  const g = cv.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, hgt);
  const unit = $('#unit').value;
  const series = SERIES[unit];
  renderLegend(unit);
  const span = Number($('#span').value) * 1000;
  const now = Date.now(), t0 = now - span;
  const stored = spanName() !== 'hour' && state.stored && state.stored.span === spanName() ? state.stored : null;
  const pts = (stored ? stored.samples : state.history).filter((s) => s[0] >= t0);
  const gap = stored ? 2.5 * stored.bucket : 5000; // a longer silence: the edge was not running
  const maxes = {};
  for (const [name, , , , , get] of series) maxes[name] = Math.max(0, ...pts.map(get).filter((v) => v !== null && v !== undefined));
  Object.assign(cv.dataset, { samples: String(pts.length), first: pts.length ? String(pts[0][0]) : '',
    last: pts.length ? String(pts[pts.length - 1][0]) : '', unit, max: JSON.stringify(maxes) });
  cv.setAttribute('aria-label', `${series.map(([name]) => name).join(', ')} over the ${$('#span').selectedOptions[0].textContent}, in ${unit}`);
  const step = unit === 'kW' ? 10 : 20;
  let ymax = Math.max(unit === 'kW' ? 5 : 10, ...Object.values(maxes));
  ymax = Math.ceil((ymax * 1.1) / step) * step;
  const L = 60, R = 12, T = 10, B = 28;
  const x = (t) => L + ((t - t0) / span) * (w - L - R);
  const y = (v) => T + (1 - v / ymax) * (hgt - T - B);
  g.font = '14px system-ui, sans-serif';
  g.fillStyle = '#475569';
  g.strokeStyle = '#e2e8f0';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = (ymax / 4) * i;
    g.beginPath(); g.moveTo(L, y(v)); g.lineTo(w - R, y(v)); g.stroke();
    g.fillText(`${Math.round(v)} ${unit}`, 4, y(v) + 5);
  }
  for (let i = 0; i <= 5; i++) {
    const t = t0 + (span / 5) * i;
    const ago = (now - t) / 60000;
    const label = ago < 1 ? 'now' : span > 2 * 86400e3 ? `−${(ago / 1440).toFixed(1)} d` : span > 3600e3 ? `−${Math.round(ago / 60)} h` : `−${Math.round(ago)} min`;
    g.fillText(label, x(t) - 20, hgt - 8);
  }
  for (const [, , color, width, dash, get] of series) {
    g.strokeStyle = color; g.lineWidth = width; g.setLineDash(dash || []);
    g.beginPath();
    let prev = null;
    for (const s of pts) {
      const v = get(s);
      if (v === null || v === undefined) { prev = null; continue; }
      if (prev === null || s[0] - prev > gap) g.moveTo(x(s[0]), y(v)); else g.lineTo(x(s[0]), y(v));
      prev = s[0];
    }
    g.stroke();
    g.setLineDash([]);
  }
}

// ---- chargers ----
function chargerRow(ch) {
  const tbody = $('#chargers-table tbody');
  let tr = tbody.querySelector(`tr[data-id="${CSS.escape(ch.id)}"]`);
  if (tr) return tr;
  tr = document.createElement('tr');
  tr.dataset.id = ch.id;
  tbody.appendChild(tr);
  for (const c of ['id', 'link', 'health', 'status', 'limit num', 'why', 'draw num', 'energy num', 'priority', 'needs']) cell(tr, c);
  const a = document.createElement('a');
  a.href = `#charger/${encodeURIComponent(ch.id)}`;
  a.textContent = ch.id;
  tr.querySelector('.id').appendChild(a);
  const p = tr.querySelector('.priority');
  if (state.session && state.session.can_change) {
    const sel = document.createElement('select');
    sel.className = 'priority-select';
    sel.setAttribute('aria-label', `priority of ${ch.id}`);
    for (let i = 9; i >= 0; i--) sel.add(new Option(String(i), String(i)));
    sel.addEventListener('change', () => setPriority(ch.id, Number(sel.value), sel));
    p.appendChild(sel);
  }
  const n = tr.querySelector('.needs');
  n.appendChild(document.createElement('span')).className = 'needs-text';
  if (state.session && state.session.can_change) n.appendChild(needsForm(ch.id));
  return tr;
}

// A manager's departure and energy need for the session in progress: they win over the EV's and
// end with the session. Clear sends nulls (the EV's own values apply again, if it gave any).
function needsForm(id) {
  const form = document.createElement('form');
  form.className = 'needs-form';
  form.innerHTML = '<input class="needs-departure" type="datetime-local" required>' +
    '<input class="needs-kwh" type="number" min="0.1" max="1000" step="0.1" placeholder="kWh" required>' +
    '<button type="submit">Set</button> <button type="button" class="needs-clear">Clear</button>';
  form.querySelector('.needs-departure').setAttribute('aria-label', `departure of the vehicle on ${id}`);
  form.querySelector('.needs-kwh').setAttribute('aria-label', `energy the vehicle on ${id} still needs, kWh`);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const departure = new Date(form.querySelector('.needs-departure').value).toISOString();
    setNeeds(id, { departure, energy_kwh: Number(form.querySelector('.needs-kwh').value) }, form);
  });
  form.querySelector('.needs-clear').addEventListener('click', () => setNeeds(id, { departure: null, energy_kwh: null }, form));
  return form;
}

async function setNeeds(id, body, form) {
  const msg = $('#chargers-msg');
  msg.hidden = true;
  for (const el of form.elements) el.disabled = true;
  try {
    const ch = await api(`/api/v1/chargers/${encodeURIComponent(id)}/needs`, body);
    state.chargers = state.chargers.map((c) => (c.id === id ? ch : c));
    renderChargers();
  } catch (e) {
    msg.textContent = `Departure and energy need of ${id} not changed: ${e.message}`;
    msg.hidden = false;
  } finally {
    for (const el of form.elements) el.disabled = false;
  }
}

// `plan` counts on an EV that gave no departure leaving when the EVs at its charger usually did.
function plannedText(ch) {
  if (!ch.planned_departure) return null;
  const at = new Date(ch.planned_departure).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' });
  return `planned to leave about ${at}, as the last ${ch.planned_from_sessions} sessions here did`;
}

function needsText(ch) {
  const planned = plannedText(ch);
  if (!ch.needs_from) return planned ?? '–';
  const when = ch.departure ? `leaves ${new Date(ch.departure).toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' })}`
    : planned ? `no departure: ${planned}` : 'no departure';
  const kwh = ch.energy_need_kwh === null ? 'need unknown' : `${ch.energy_need_kwh.toFixed(1)} kWh to go`;
  const lo = ch.ev_min_a ?? null, hi = ch.ev_max_a ?? null;
  const max = lo !== null && hi !== null ? ` · EV takes ${lo.toFixed(0)}-${hi.toFixed(0)} A`
    : hi !== null ? ` · EV takes at most ${hi.toFixed(0)} A` : lo !== null ? ` · EV needs at least ${lo.toFixed(0)} A` : '';
  return `${when} · ${kwh}${max} (${ch.needs_from === 'ev' ? 'from the EV' : 'set by a manager'})`;
}

async function setPriority(id, priority, sel) {
  const msg = $('#chargers-msg');
  msg.hidden = true;
  sel.disabled = true;
  try {
    const ch = await api(`/api/v1/chargers/${encodeURIComponent(id)}/priority`, { priority });
    state.chargers = state.chargers.map((c) => (c.id === id ? ch : c));
    renderChargers();
  } catch (e) {
    msg.textContent = `Priority of ${id} not changed: ${e.message}`;
    msg.hidden = false;
  } finally {
    sel.disabled = false;
  }
}

function renderChargers() {
  for (const ch of state.chargers) {
    const tr = chargerRow(ch);
    const link = tr.querySelector('.link');
    text(link, ch.link);
    link.className = `link ${ch.link}`;
    const statuses = ch.connectors.map((c) => c.status).filter(Boolean);
    text(tr.querySelector('.status'), statuses.length ? statuses.join(', ') : '–');
    const h = tr.querySelector('.health');
    text(h, healthText(ch));
    h.className = `health ${ch.health}${ch.technician_alert ? ' alert' : ''}`;
    text(tr.querySelector('.limit'), fmtA(ch.limit.limit_a));
    text(tr.querySelector('.why'), why(ch));
    const m = ch.meter;
    text(tr.querySelector('.draw'), m ? `${fmtA(Math.max(...m.current_a.map((v) => v || 0)))} · ${(m.power_w / 1000).toFixed(1)} kW` : '–');
    const wh = ch.transactions.reduce((a, t) => a + (t.energy_wh || 0), 0);
    text(tr.querySelector('.energy'), ch.transactions.length && wh >= 0 ? `${(wh / 1000).toFixed(1)} kWh` : '–');
    const sel = tr.querySelector('select');
    if (sel && document.activeElement !== sel && !sel.disabled) sel.value = String(ch.priority);
    if (!sel) text(tr.querySelector('.priority'), String(ch.priority));
    text(tr.querySelector('.needs-text'), needsText(ch));
  }
  const note = $('#priority-note');
  const ignored = state.site && state.site.policy !== 'priority';
  note.hidden = !ignored || !(state.session && state.session.can_change);
  if (ignored) text(note, `The site runs policy “${state.site.policy}”, which does not use priorities: a change here takes effect only under policy “priority”.`);
}

// ---- devices and events (fetched while their tab is open) ----
function reading(r) {
  if (!r) return '–';
  const parts = [];
  if (r.current_l1 !== undefined || r.current_a !== undefined) {
    const c = ['current_l1', 'current_l2', 'current_l3'].map((k) => r[k]).filter((v) => v !== undefined);
    if (c.length) parts.push(c.map((v) => v.toFixed(1)).join(' / ') + ' A');
  }
  if (r.power_w !== undefined) parts.push(`${(r.power_w / 1000).toFixed(1)} kW`);
  if (r.soc_pct !== undefined) parts.push(`SoC ${r.soc_pct.toFixed(0)} %`);
  return parts.length ? parts.join(' · ') : Object.entries(r).slice(0, 4).map(([k, v]) => `${k} ${v}`).join(', ');
}

async function loadDevices() {
  const list = await api('/api/v1/devices');
  const tbody = $('#devices-table tbody');
  tbody.replaceChildren();
  for (const d of list) {
    const tr = document.createElement('tr');
    tbody.appendChild(tr);
    text(cell(tr), d.id);
    text(cell(tr), d.role);
    text(cell(tr), d.driver);
    const st = cell(tr, d.stale ? 'link offline' : 'link online');
    text(st, d.stale ? (d.age_s === null ? 'no reading yet' : `stale (${d.age_s} s old)`) : 'reading');
    text(cell(tr), reading(d.reading));
  }
  if (!list.length) tbody.innerHTML = '<tr><td colspan="5" class="muted">No Modbus devices configured.</td></tr>';
}

// Events newest first in the date range, of at least the chosen severity and about the chosen
// charger, filtered by the daemon (1000 a page, at most 10 pages), so a range reaches back past
// the newest routine rows.
async function fetchEvents(from, to, sev, subject) {
  const q = `limit=1000${from ? `&from_ms=${from}` : ''}${to < Infinity ? `&to_ms=${to}` : ''}${sev ? `&severity=${sev}` : ''}`
    + `${subject ? `&subject=${encodeURIComponent(subject)}` : ''}`;
  let list = await api(`/api/v1/events?${q}`);
  for (let n = 1; n < 10 && list.length === n * 1000; n++) {
    const more = await api(`/api/v1/events?${q}&before=${list[list.length - 1].id}`);
    if (!more.length) break;
    list = list.concat(more);
  }
  return list;
}

// Filtered here: warnings and errors first, then the rest newest first, with runs of routine
// changes (info: connects, sessions, boots) folded into one line.
async function loadEvents() {
  const from = $('#event-from').value ? new Date(`${$('#event-from').value}T00:00`).getTime() : 0;
  const to = $('#event-to').value ? new Date(`${$('#event-to').value}T00:00`).getTime() + 86400000 : Infinity;
  const sev = $('#event-severity').value;
  const sel = $('#event-charger');
  for (const ch of state.chargers) if (![...sel.options].some((o) => o.value === ch.id)) sel.add(new Option(ch.id, ch.id));
  const list = await fetchEvents(from, to, sev, sel.value);
  const f = $('#event-filter').value.trim().toLowerCase();
  const rank = { info: 0, notice: 1, warning: 2, error: 3 };
  const shown = list.filter((e) => !(f && !`${e.kind} ${e.subject || ''} ${e.message}`.toLowerCase().includes(f)));
  const urgent = shown.filter((e) => rank[e.severity] >= 2);
  const rest = shown.filter((e) => rank[e.severity] < 2);
  const tbody = $('#events-table tbody');
  tbody.replaceChildren();
  const row = (e) => {
    const tr = document.createElement('tr');
    tbody.appendChild(tr);
    tr.className = `sev-${e.severity}`;
    text(cell(tr), new Date(e.time_ms).toLocaleString());
    text(cell(tr), e.severity);
    text(cell(tr), e.kind);
    text(cell(tr), e.subject || '');
    text(cell(tr, 'msg'), e.message);
  };
  urgent.forEach(row);
  const one = $('#event-routine').checked;
  for (let i = 0; i < rest.length;) {
    let j = i;
    while (!one && j < rest.length && rest[j].severity === 'info') j++;
    if (j - i < 3) { row(rest[i]); i++; continue; }
    const kinds = [...new Set(rest.slice(i, j).map((e) => e.kind))].join(', ');
    const who = [...new Set(rest.slice(i, j).map((e) => e.subject).filter(Boolean))];
    row({ time_ms: rest[i].time_ms, severity: 'info', kind: 'routine', subject: who.length > 3 ? `${who.length} chargers` : who.join(', '),
      message: `${j - i} routine changes (${kinds}) until ${new Date(rest[j - 1].time_ms).toLocaleTimeString()}; tick “Show routine changes one by one” to see them` });
    tbody.lastChild.classList.add('grouped');
    i = j;
  }
  if (!shown.length) tbody.innerHTML = '<tr><td colspan="5" class="muted">No events match.</td></tr>';
}

// ---- sessions and energy ----
function sessionsQuery() {
  const q = new URLSearchParams();
  if ($('#sessions-from').value) q.set('from', $('#sessions-from').value);
  if ($('#sessions-to').value) q.set('to', $('#sessions-to').value);
  if ($('#sessions-charger').value) q.set('charger', $('#sessions-charger').value);
  return q;
}

async function loadSessions() {
  const q = sessionsQuery();
  const list = await api(`/api/v1/sessions?${q}`);
  q.set('format', 'csv');
  $('#sessions-csv').href = `/api/v1/sessions?${q}`;
  const tbody = $('#sessions-table tbody');
  tbody.replaceChildren();
  let kwh = 0;
  for (const s of list) {
    const tr = document.createElement('tr');
    tbody.appendChild(tr);
    text(cell(tr, 'id'), s.charger);
    text(cell(tr), s.id_token || '–');
    text(cell(tr), fmtTime(Date.parse(s.start)));
    text(cell(tr), s.running ? 'charging now' : fmtTime(Date.parse(s.stop)));
    text(cell(tr, 'num'), fmtKwh(s.energy_kwh));
    text(cell(tr, 'num'), s.peak_kw === null ? '–' : `${s.peak_kw.toFixed(1)} kW`);
    text(cell(tr), s.need_met === null ? (s.running ? 'in progress' : 'no need given') : s.need_met === 'yes' ? 'Yes' : 'No');
    kwh += s.energy_kwh || 0;
  }
  if (!list.length) tbody.innerHTML = '<tr><td colspan="7" class="muted">No sessions in these dates.</td></tr>';
  text($('#sessions-sum'), `${list.length} sessions, ${kwh.toFixed(1)} kWh`);
  const sel = $('#sessions-charger');
  for (const ch of state.chargers) if (![...sel.options].some((o) => o.value === ch.id)) sel.add(new Option(ch.id, ch.id));
  renderEnergyTable();
}

async function loadEnergy() {
  state.energy = await api('/api/v1/energy');
  const e = state.energy.site;
  text($('#energy-today'), `${e.today_kwh.toFixed(1)} kWh today`);
  text($('#energy-sub'), `${e.week_kwh.toFixed(1)} kWh this week · ${e.month_kwh.toFixed(1)} kWh this month`);
  renderEnergyTable();
}

function renderEnergyTable() {
  if (!state.energy) return;
  const tbody = $('#energy-table tbody');
  tbody.replaceChildren();
  for (const [id, e] of Object.entries(state.energy.chargers)) {
    const tr = document.createElement('tr');
    tbody.appendChild(tr);
    text(cell(tr, 'id'), id);
    text(cell(tr, 'num'), fmtKwh(e.today_kwh));
    text(cell(tr, 'num'), fmtKwh(e.week_kwh));
    text(cell(tr, 'num'), fmtKwh(e.month_kwh));
  }
}

// Occupancy by hour of the week from the 30-day timeline: the share of the time the edge saw the
// charger in each hour (Monday first, local time) that a vehicle was on it (charging or occupied).
function heatMap(tl) {
  const busy = new Array(168).fill(0), seen = new Array(168).fill(0);
  for (const [k, t0, t1] of tl.stretches) {
    for (let t = t0; t < t1;) {
      const d = new Date(t);
      const slot = ((d.getDay() + 6) % 7) * 24 + d.getHours();
      const next = Math.min(t1, new Date(d.getFullYear(), d.getMonth(), d.getDate(), d.getHours() + 1).getTime());
      seen[slot] += next - t;
      if (k === 'charging' || k === 'occupied') busy[slot] += next - t;
      t = next;
    }
  }
  const days = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const box = $('#cp-heat');
  box.replaceChildren();
  const add = (cls, txt) => { const el = document.createElement('div'); el.className = cls; el.textContent = txt; box.appendChild(el); return el; };
  add('hm-corner', '');
  for (let h = 0; h < 24; h++) add('hm-hour', h % 3 ? '' : String(h));
  const ranked = [];
  for (let day = 0; day < 7; day++) {
    add('hm-day', days[day]);
    for (let h = 0; h < 24; h++) {
      const i = day * 24 + h;
      const pct = seen[i] ? (100 * busy[i]) / seen[i] : null;
      const el = add(`hm-cell${pct === null ? ' none' : ''}`, '');
      el.dataset.slot = String(i);
      el.dataset.pct = pct === null ? '' : pct.toFixed(0);
      if (pct !== null) el.style.backgroundColor = `rgba(37, 99, 235, ${0.08 + (0.92 * pct) / 100})`;
      el.title = `${days[day]} ${String(h).padStart(2, '0')}:00 – ${pct === null ? 'not observed' : `vehicle on it ${pct.toFixed(0)} % of the time`}`;
      if (pct) ranked.push([pct, `${days[day]} ${String(h).padStart(2, '0')}:00 ${pct.toFixed(0)} %`]);
    }
  }
  ranked.sort((a, b) => b[0] - a[0]);
  box.setAttribute('aria-label', ranked.length ? `Busiest hours: ${ranked.slice(0, 3).map((r) => r[1]).join(', ')}` : 'No vehicle seen in the last 30 days');
  text($('#cp-heat-sum'), box.getAttribute('aria-label'));
}

// Each step of the healing ladder, newest first: what the edge tried, what the charger answered
// and whether the charger recovered after it ("not yet" while the next step is still waited for).
const STEP_WORDS = { 'soft reset': 'Soft reset', 'hard reset': 'Hard reset', disconnect: 'Closed its silent socket',
  technician: 'Technician alert' };
function healingSteps(steps) {
  const tbody = $('#cp-steps tbody');
  tbody.replaceChildren();
  for (const s of steps) {
    const tr = document.createElement('tr');
    tbody.appendChild(tr);
    tr.className = s.action === 'technician' ? 'sev-warning' : '';
    text(cell(tr), new Date(s.time_ms).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' }));
    text(cell(tr), STEP_WORDS[s.action] || s.action);
    text(cell(tr), s.detail || '–');
    text(cell(tr), s.answer || '–');
    const healed = cell(tr, 'healed');
    text(healed, s.action === 'technician' ? '–' : s.healed === null ? 'not yet' : s.healed ? 'Yes' : 'No');
  }
  if (!steps.length) tbody.innerHTML = '<tr><td colspan="5" class="muted">No healing steps in 30 days.</td></tr>';
}

// ---- one charger: health now, availability, time per state, faults, healing ----
async function loadCharger(id) {
  const path = `/api/v1/chargers/${encodeURIComponent(id)}`;
  const [ch, h, day, month] = await Promise.all([api(path), api(`${path}/health`), api(`${path}/timeline?days=1`), api(`${path}/timeline?days=30`)]);
  state.charger = id;
  text($('#cp-title'), `Charger ${id}`);
  text($('#cp-state'), HEALTH_WORDS[h.state] || h.state);
  $('#cp-state').className = `big ${h.state === 'faulted' || h.state === 'offline' ? 'bad' : h.state === 'silent' || h.state === 'unavailable' ? 'warn' : 'ok'}`;
  text($('#cp-since'), `since ${fmtTime(h.since_ms)}${h.detail ? ` · ${h.detail}` : ''}${ch.fault_code ? ` · last fault code ${ch.fault_code}` : ''}`);
  const pct = (v) => (v === null || v === undefined ? '–' : `${v.toFixed(1)} %`);
  if (h.last_24h) {
    text($('#cp-avail-day'), pct(h.last_24h.availability_pct));
    text($('#cp-avail-month'), `last 30 days ${pct(h.last_30d.availability_pct)}; in use ${pct(h.last_24h.utilisation_pct)} of the last 24 h`);
    text($('#cp-energy'), `${h.last_24h.energy_kwh.toFixed(1)} kWh`);
    text($('#cp-energy-sub'), `last 24 h in ${h.last_24h.sessions} sessions; 30 days ${h.last_30d.energy_kwh.toFixed(1)} kWh in ${h.last_30d.sessions}`);
    const m = h.last_30d;
    const heal = h.healing || {};
    text($('#cp-heal'), heal.technician_alert ? 'Technician needed' : heal.faulted ? `${heal.soft_resets + (heal.hard_reset ? 1 : 0)} resets tried` : 'Nothing to heal');
    $('#cp-heal').className = `big ${heal.technician_alert ? 'bad' : heal.faulted ? 'warn' : 'ok'}`;
    text($('#cp-heal-sub'), `30 days: ${m.soft_resets} soft and ${m.hard_resets} hard resets, ${m.healed} healed it; ${m.technician_alerts} technician alerts`);
    const box = $('#cp-timeline');
    box.replaceChildren();
    for (const [label, f, tl] of [['Last 24 hours', h.last_24h, day], ['Last 30 days', h.last_30d, month]]) {
      const row = document.createElement('div');
      row.className = 'tl-row';
      const name = document.createElement('span');
      name.textContent = label;
      const bar = document.createElement('div');
      bar.className = 'tl-bar';
      bar.setAttribute('role', 'img');
      const parts = Object.entries(f.seconds).filter(([, v]) => v > 0);
      bar.setAttribute('aria-label', `${label}: ${parts.map(([k, v]) => `${HEALTH_WORDS[k] || k} ${fmtDur(v)}`).join(', ') || 'not observed'}`);
      // Each stretch where it was in time; gaps are time the edge was not running.
      const span = tl.to_ms - tl.from_ms;
      for (const [k, t0, t1, code] of tl.stretches) {
        const seg = document.createElement('div');
        seg.className = `tl-seg ${k}`;
        seg.style.left = `${((t0 - tl.from_ms) / span) * 100}%`;
        seg.style.width = `${Math.max(0.2, ((t1 - t0) / span) * 100)}%`;
        seg.title = `${HEALTH_WORDS[k] || k}${code ? ` (${code})` : ''}: ${fmtTime(t0)} – ${fmtTime(t1)}`;
        bar.appendChild(seg);
      }
      const axis = document.createElement('div');
      axis.className = 'tl-axis muted';
      axis.textContent = `${fmtTime(tl.from_ms)} → now`;
      const legend = document.createElement('span');
      legend.className = 'muted';
      legend.textContent = parts.map(([k, v]) => `${HEALTH_WORDS[k] || k} ${fmtDur(v)}`).join(' · ') || 'not observed yet';
      row.append(name, bar, axis, legend);
      box.appendChild(row);
    }
    heatMap(month);
    const tbody = $('#cp-faults tbody');
    tbody.replaceChildren();
    for (const [code, n] of Object.entries(m.faults_by_code)) {
      const tr = document.createElement('tr');
      tbody.appendChild(tr);
      text(cell(tr), code);
      text(cell(tr, 'num'), String(n));
    }
    if (!Object.keys(m.faults_by_code).length) tbody.innerHTML = '<tr><td colspan="2" class="muted">No faults in 30 days.</td></tr>';
    healingSteps(h.steps || []);
  }
}

// ---- live updates ----
function applyState(m) {
  state.site = m.site;
  state.chargers = m.chargers;
  addSample(m.time_ms, m.site.grid);
  renderSite();
  renderChargers();
  if (state.tab === 'overview') drawChart();
}

function setLive(on, why) {
  const el = $('#live-state');
  text(el, on ? 'live' : why || 'reconnecting…');
  el.className = `pill ${on ? 'ok' : 'warn'}`;
}

// Lost the edge: grey the figures (they are old) and say since when; the live view pushes at
// least every second or two while the daemon runs, so silence longer than 4 s counts as lost.
function setLost(lost) {
  if (lost && !state.lostSince) state.lostSince = state.lastMsg || Date.now();
  if (!lost) state.lostSince = null;
  document.body.classList.toggle('stale', lost);
  const el = $('#lost');
  el.hidden = !lost;
  if (lost) text(el, `No contact with the edge since ${new Date(state.lostSince).toLocaleTimeString()}: the figures below are from then, not now. Reconnecting…`);
}

function watchLive() {
  if (state.lastMsg && Date.now() - state.lastMsg > 4000) setLost(true);
}

function connectLive() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/live`, 'ampgate-live');
  state.live = ws;
  ws.onopen = () => { state.backoff = 1000; setLive(true); };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    state.lastMsg = Date.now();
    if (m.type === 'state') { setLost(false); applyState(m); }
  };
  ws.onclose = () => {
    setLive(false);
    setLost(true);
    // Logged out: api() went to the login. The edge away: keep trying, slower and slower.
    const retry = async () => {
      try {
        await api('/api/v1/session');
      } catch (e) {
        if (e.message !== 'logged out') setTimeout(retry, state.backoff);
        state.backoff = Math.min(state.backoff * 2, 15000);
        return;
      }
      connectLive();
    };
    setTimeout(retry, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 15000);
  };
}

// ---- tabs, forms, start ----
function showTab() {
  const hash = (location.hash || '#overview').slice(1);
  const cp = hash.match(/^charger\/(.+)$/);
  state.tab = cp ? 'charger' : hash;
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== `tab-${state.tab}`;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.tab === (cp ? 'chargers' : state.tab));
  if (cp) loadCharger(decodeURIComponent(cp[1])).catch((e) => text($('#cp-since'), e.message));
  if (state.tab === 'sessions') loadSessions().catch((e) => text($('#sessions-sum'), e.message));
  if (state.tab === 'overview' || state.tab === 'sessions') loadEnergy().catch(() => {});
  if (state.tab === 'overview') drawChart();
  if (state.tab === 'devices') loadDevices().catch(() => {});
  if (state.tab === 'events') loadEvents().catch(() => {});
}

async function setLimit(body) {
  const msg = $('#limit-msg');
  // The daemon refuses a limit above the connection's (a temporary limit can only lower it); say
  // so here rather than send a request that can only fail.
  const top = Math.max(...state.site.grid.configured_limit_a);
  if (body.limit_a && top > 0 && body.limit_a > top) {
    text(msg, `${fmtA(body.limit_a)} is above the configured grid limit of ${fmtA(top)} per phase; a temporary limit can only lower it (no effect above ${fmtA(top)}).`);
    return;
  }
  try {
    state.site = await api('/api/v1/site/limit', body);
    renderSite();
    const conn = Math.min(...state.site.grid.configured_limit_a.filter((v) => v > 0));
    if (body.limit_a && body.limit_a >= conn) text(msg, `No effect: ${fmtA(body.limit_a)} is not below the connection's ${fmtA(conn)}, which stays in force.`);
    else text(msg, body.limit_a ? `Limit set: ${fmtA(body.limit_a)} per phase for ${body.duration_s / 60} min.` : 'Back to the configured limit.');
  } catch (e) {
    text(msg, e.message);
  }
}

async function start() {
  state.session = await api('/api/v1/session');
  text($('#who'), `${state.session.user} (${state.session.role})`);
  $('#limit-form').hidden = !state.session.can_change;
  const hist = await api('/api/v1/history?span=hour');
  state.voltage = hist.voltage_v || state.voltage;
  state.history = hist.samples;
  renderBound(hist.bound, 'hour');
  state.historyAt = Date.now();
  state.site = await api('/api/v1/site');
  state.chargers = await api('/api/v1/chargers');
  renderSite();
  renderChargers();
  showTab();
  connectLive();
  window.addEventListener('hashchange', showTab);
  window.addEventListener('resize', drawChart);
  for (const id of ['#span', '#unit']) $(id).addEventListener('change', () => { drawChart(); loadHistory().catch(() => {}); });
  $('#event-filter').addEventListener('input', () => loadEvents().catch(() => {}));
  for (const id of ['#event-severity', '#event-charger', '#event-from', '#event-to', '#event-routine']) $(id).addEventListener('change', () => loadEvents().catch(() => {}));
  $('#sessions-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadSessions().catch((e) => text($('#sessions-sum'), e.message)); });
  setInterval(watchLive, 1000);
  setInterval(() => {
    if (state.lostSince) return;
    if (state.tab === 'devices') loadDevices().catch(() => {});
    if (state.tab === 'events') loadEvents().catch(() => {});
    if (state.tab === 'overview') loadEnergy().catch(() => {});
    // The stored day or week (and the bound share) anew every 30 s; the hour's share every 5 min
    // (its samples come live, and its answer is the whole hour of them).
    if (state.tab === 'overview' && Date.now() - (state.historyAt || 0) > (spanName() === 'hour' ? 300000 : 30000)) {
      loadHistory().catch(() => {});
    }
    if (state.tab === 'charger' && state.charger) loadCharger(state.charger).catch(() => {});
  }, 5000);
  $('#logout').addEventListener('click', async () => {
    try { await api('/api/v1/logout', {}); } finally { location.href = '/login.html'; }
  });
  $('#limit-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    setLimit({ limit_a: Number($('#limit-a').value), duration_s: Number($('#limit-min').value) * 60 });
  });
  $('#limit-clear').addEventListener('click', () => setLimit({ limit_a: 0 }));
}

start().catch((e) => {
  setLive(false, 'error');
  text($('#banner'), `The page could not load: ${e.message}`);
  $('#banner').className = 'banner show';
});
