// The site manager's page: overview (mode, uplink, grid per phase, live chart), chargers (with
// the reason behind every limit, priority for managers), devices and events. Plain JS, no build
// step; data from /api/v1 and the live WebSocket. Changes carry the session's CSRF token.
'use strict';

const $ = (sel) => document.querySelector(sel);
const state = { session: null, site: null, chargers: [], history: [], tab: 'overview', live: null, backoff: 1000 };

function fmtA(v) {
  return v === null || v === undefined ? '–' : `${Number(v).toFixed(1)} A`;
}

function text(el, s) {
  if (el.textContent !== s) el.textContent = s;
}

function cell(tr, cls) {
  const td = document.createElement('td');
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
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
  const fallback = s.mode === 'fallback';
  text($('#mode'), fallback ? 'Fallback' : 'Normal');
  $('#mode').className = `big ${fallback ? 'warn' : 'ok'}`;
  text($('#mode-why'), fallback ? `${s.fallback_why}: every charger held at its safe current` : 'Every charger under load management');
  text($('#charger-counts'), `${s.chargers.charging} charging`);
  text($('#charger-sub'), `${s.chargers.online} of ${s.chargers.configured} online`);
  if (!s.uplink.configured) {
    text($('#uplink'), 'No CSMS');
    text($('#uplink-sub'), 'The edge answers the chargers itself');
  } else {
    text($('#uplink'), s.uplink.connected > 0 || s.chargers.online === 0 ? 'Connected' : 'Down');
    text($('#uplink-sub'), `${s.uplink.connected} of ${s.chargers.online} online chargers linked; while down: ${s.uplink.partition_mode}`);
  }
  text($('#policy'), s.policy);
  const o = s.grid.override;
  text($('#override'), o ? `Temporary limit ${fmtA(o.limit_a)} per phase for ${Math.ceil(o.remaining_s / 60)} more min (${o.by})` : `${s.solves} allocations since start`);

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

function renderBanner() {
  const s = state.site;
  const alerts = [];
  if (s && s.mode === 'fallback') alerts.push(`Fallback: ${s.fallback_why}. Every charger is held at its safe current until the meter reads again.`);
  const silent = state.chargers.filter((c) => c.link === 'silent').map((c) => c.id);
  if (silent.length) alerts.push(`Not answering: ${silent.join(', ')} (counted at their safe current).`);
  const wild = state.chargers.filter((c) => !c.limit.controllable).map((c) => c.id);
  if (wild.length) alerts.push(`Refusing limits: ${wild.join(', ')}. Check these chargers' charging-profile support.`);
  const b = $('#banner');
  text(b, alerts.join(' '));
  b.className = alerts.length ? 'banner show' : 'banner';
}

// ---- chart: grid per phase, EV (highest phase) and the limit over the chosen span ----
function addSample(t, grid, ev, limit) {
  const h = state.history;
  if (h.length && t - h[h.length - 1][0] < 500) h.pop();
  h.push([t, grid, ev, limit]);
  const keep = Date.now() - 3600 * 1000;
  while (h.length && h[0][0] < keep) h.shift();
}

function drawChart() {
  const cv = $('#chart');
  const dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth || 1200, hgt = cv.clientHeight || 320;
  if (cv.width !== Math.round(w * dpr)) { cv.width = Math.round(w * dpr); cv.height = Math.round(hgt * dpr); }
  const g = cv.getContext('2d');
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, hgt);
  const span = Number($('#span').value) * 1000;
  const now = Date.now(), t0 = now - span;
  const pts = state.history.filter((s) => s[0] >= t0);
  cv.dataset.samples = String(pts.length);
  cv.dataset.last = pts.length ? String(pts[pts.length - 1][0]) : '';
  let ymax = 10;
  for (const s of pts) ymax = Math.max(ymax, s[3] || 0, ...s[1].map((v) => v || 0));
  ymax = Math.ceil((ymax * 1.1) / 20) * 20; // ticks at whole multiples of 5 A
  const L = 56, R = 12, T = 10, B = 28;
  const x = (t) => L + ((t - t0) / span) * (w - L - R);
  const y = (v) => T + (1 - v / ymax) * (hgt - T - B);
  g.font = '14px system-ui, sans-serif';
  g.fillStyle = '#475569';
  g.strokeStyle = '#e2e8f0';
  g.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const v = (ymax / 4) * i;
    g.beginPath(); g.moveTo(L, y(v)); g.lineTo(w - R, y(v)); g.stroke();
    g.fillText(`${Math.round(v)} A`, 4, y(v) + 5);
  }
  for (let i = 0; i <= 5; i++) {
    const t = t0 + (span / 5) * i;
    const mins = Math.round((now - t) / 60000);
    g.fillText(mins ? `−${mins} min` : 'now', x(t) - 20, hgt - 8);
  }
  const line = (get, color, width, dash) => {
    g.strokeStyle = color; g.lineWidth = width; g.setLineDash(dash || []);
    g.beginPath();
    let started = false;
    for (const s of pts) {
      const v = get(s);
      if (v === null || v === undefined) { started = false; continue; }
      if (!started) g.moveTo(x(s[0]), y(v)); else g.lineTo(x(s[0]), y(v));
      started = true;
    }
    g.stroke();
    g.setLineDash([]);
  };
  line((s) => s[3], '#dc2626', 2, [8, 6]);
  line((s) => s[1][0], '#2563eb', 2);
  line((s) => s[1][1], '#16a34a', 2);
  line((s) => s[1][2], '#d97706', 2);
  line((s) => Math.max(...s[2].map((v) => v || 0)), '#9333ea', 3);
}

// ---- chargers ----
function chargerRow(ch) {
  const tbody = $('#chargers-table tbody');
  let tr = tbody.querySelector(`tr[data-id="${CSS.escape(ch.id)}"]`);
  if (tr) return tr;
  tr = document.createElement('tr');
  tr.dataset.id = ch.id;
  for (const c of ['id', 'link', 'status', 'limit num', 'why', 'draw num', 'energy num', 'priority']) cell(tr, c);
  const p = tr.querySelector('.priority');
  if (state.session && state.session.can_change) {
    const sel = document.createElement('select');
    sel.className = 'priority-select';
    sel.setAttribute('aria-label', `priority of ${ch.id}`);
    for (let i = 9; i >= 0; i--) sel.add(new Option(String(i), String(i)));
    sel.addEventListener('change', () => setPriority(ch.id, Number(sel.value), sel));
    p.appendChild(sel);
  }
  tbody.appendChild(tr);
  return tr;
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
    text(tr.querySelector('.id'), ch.id);
    const link = tr.querySelector('.link');
    text(link, ch.link);
    link.className = `link ${ch.link}`;
    const statuses = ch.connectors.map((c) => c.status).filter(Boolean);
    text(tr.querySelector('.status'), statuses.length ? statuses.join(', ') : '–');
    text(tr.querySelector('.limit'), fmtA(ch.limit.limit_a));
    text(tr.querySelector('.why'), why(ch));
    const m = ch.meter;
    text(tr.querySelector('.draw'), m ? `${fmtA(Math.max(...m.current_a.map((v) => v || 0)))} · ${(m.power_w / 1000).toFixed(1)} kW` : '–');
    const wh = ch.transactions.reduce((a, t) => a + (t.energy_wh || 0), 0);
    text(tr.querySelector('.energy'), ch.transactions.length && wh >= 0 ? `${(wh / 1000).toFixed(1)} kWh` : '–');
    const sel = tr.querySelector('select');
    if (sel && document.activeElement !== sel && !sel.disabled) sel.value = String(ch.priority);
    if (!sel) text(tr.querySelector('.priority'), String(ch.priority));
  }
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
    text(cell(tr), d.id);
    text(cell(tr), d.role);
    text(cell(tr), d.driver);
    const st = cell(tr, d.stale ? 'link offline' : 'link online');
    text(st, d.stale ? (d.age_s === null ? 'no reading yet' : `stale (${d.age_s} s old)`) : 'reading');
    text(cell(tr), reading(d.reading));
    tbody.appendChild(tr);
  }
  if (!list.length) tbody.innerHTML = '<tr><td colspan="5" class="muted">No Modbus devices configured.</td></tr>';
}

async function loadEvents() {
  const list = await api('/api/v1/events?limit=300');
  const f = $('#event-filter').value.trim().toLowerCase();
  const sev = $('#event-severity').value;
  const rank = { info: 0, notice: 1, warning: 2, error: 3 };
  const tbody = $('#events-table tbody');
  tbody.replaceChildren();
  for (const e of list) {
    if (sev && rank[e.severity] < rank[sev]) continue;
    if (f && !`${e.kind} ${e.subject || ''} ${e.message}`.toLowerCase().includes(f)) continue;
    const tr = document.createElement('tr');
    tr.className = `sev-${e.severity}`;
    text(cell(tr), new Date(e.time_ms).toLocaleString());
    text(cell(tr), e.severity);
    text(cell(tr), e.kind);
    text(cell(tr), e.subject || '');
    text(cell(tr), e.message);
    tbody.appendChild(tr);
  }
}

// ---- live updates ----
function applyState(m) {
  state.site = m.site;
  state.chargers = m.chargers;
  const g = m.site.grid;
  addSample(m.time_ms, g.current_a, g.ev_a, Math.max(...g.limit_a));
  renderSite();
  renderChargers();
  if (state.tab === 'overview') drawChart();
}

function setLive(on, why) {
  const el = $('#live-state');
  text(el, on ? 'live' : why || 'reconnecting…');
  el.className = `pill ${on ? 'ok' : 'warn'}`;
}

function connectLive() {
  const ws = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/live`, 'ampgate-live');
  state.live = ws;
  ws.onopen = () => { state.backoff = 1000; setLive(true); };
  ws.onmessage = (e) => {
    const m = JSON.parse(e.data);
    if (m.type === 'state') applyState(m);
  };
  ws.onclose = () => {
    setLive(false);
    setTimeout(async () => {
      try { await api('/api/v1/session'); } catch (e) { return; } // logged out: api() went to the login
      connectLive();
    }, state.backoff);
    state.backoff = Math.min(state.backoff * 2, 15000);
  };
}

// ---- tabs, forms, start ----
function showTab() {
  state.tab = (location.hash || '#overview').slice(1);
  for (const s of document.querySelectorAll('.tab')) s.hidden = s.id !== `tab-${state.tab}`;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.tab === state.tab);
  if (state.tab === 'overview') drawChart();
  if (state.tab === 'devices') loadDevices().catch(() => {});
  if (state.tab === 'events') loadEvents().catch(() => {});
}

async function setLimit(body) {
  const msg = $('#limit-msg');
  try {
    state.site = await api('/api/v1/site/limit', body);
    renderSite();
    text(msg, body.limit_a ? 'Limit set.' : 'Back to the configured limit.');
  } catch (e) {
    text(msg, e.message);
  }
}

async function start() {
  state.session = await api('/api/v1/session');
  text($('#who'), `${state.session.user} (${state.session.role})`);
  $('#limit-form').hidden = !state.session.can_change;
  const hist = await api('/api/v1/history');
  state.history = hist.samples.map((s) => [s[0], s[1], s[2], s[3]]);
  state.site = await api('/api/v1/site');
  state.chargers = await api('/api/v1/chargers');
  renderSite();
  renderChargers();
  showTab();
  connectLive();
  window.addEventListener('hashchange', showTab);
  window.addEventListener('resize', drawChart);
  $('#span').addEventListener('change', drawChart);
  $('#event-filter').addEventListener('input', () => loadEvents().catch(() => {}));
  $('#event-severity').addEventListener('change', () => loadEvents().catch(() => {}));
  setInterval(() => {
    if (state.tab === 'devices') loadDevices().catch(() => {});
    if (state.tab === 'events') loadEvents().catch(() => {});
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
