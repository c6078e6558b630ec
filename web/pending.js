// The chargers page's "New stations" section: stations not in the configuration file, waiting
// for a manager to accept or reject them, and the accepted ones with the configuration lines to
// paste. Uses app.js's api(), state, $ and text(); polls while the chargers tab is shown.
'use strict';

function fmtTime(ms) {
  return ms ? new Date(ms).toLocaleString() : '–';
}

async function decide(id, what, button) {
  const msg = $('#pending-msg');
  msg.hidden = true;
  if (what === 'reject' && !confirm(`Reject ${id}? It is disconnected and refused from now on.`)) return;
  button.disabled = true;
  try {
    await api(`/api/v1/pending/${encodeURIComponent(id)}/${what}`, {});
    await loadPending();
  } catch (e) {
    msg.textContent = `${id} not ${what}ed: ${e.message}`;
    msg.hidden = false;
    button.disabled = false;
  }
}

function pendingRow(s) {
  const tr = document.createElement('tr');
  tr.dataset.id = s.id;
  const vals = [s.id, [s.vendor, s.model].filter(Boolean).join(' ') || 'not booted yet', s.serial || '–', s.address || '–',
    fmtTime(s.first_seen_ms), s.link];
  for (const v of vals) {
    const td = document.createElement('td');
    td.textContent = v;
    tr.appendChild(td);
  }
  const td = document.createElement('td');
  if (state.session && state.session.can_change) {
    for (const [what, label] of [['accept', 'Accept'], ['reject', 'Reject']]) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = label;
      b.className = what;
      b.addEventListener('click', () => decide(s.id, what, b));
      td.appendChild(b);
    }
  } else {
    td.textContent = 'a manager may accept it';
  }
  tr.appendChild(td);
  return tr;
}

async function loadPending() {
  const p = await api('/api/v1/pending');
  const tbody = $('#pending-table tbody');
  tbody.replaceChildren(...p.pending.map(pendingRow));
  $('#pending-table').hidden = p.pending.length === 0;
  $('#accepted-stations').hidden = p.accepted.length === 0;
  text($('#accepted-config'), p.accepted.map((s) => `${s.config}   # ${s.id}: accepted by ${s.accepted_by}`).join('\n'));
  $('#new-stations').hidden = p.pending.length === 0 && p.accepted.length === 0;
}

setInterval(() => {
  if (state.session && state.tab === 'chargers') loadPending().catch(() => {});
}, 3000);
window.addEventListener('hashchange', () => {
  if (state.session && location.hash === '#chargers') loadPending().catch(() => {});
});
