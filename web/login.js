// The login form: POST /api/v1/login, then the overview. The session cookie is HttpOnly; this
// script never sees it.
'use strict';
document.getElementById('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const err = document.getElementById('login-error');
  const button = document.getElementById('login-button');
  err.hidden = true;
  button.disabled = true;
  try {
    const r = await fetch('/api/v1/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: document.getElementById('name').value, password: document.getElementById('password').value }),
    });
    if (r.ok) {
      location.href = '/';
      return;
    }
    const j = await r.json().catch(() => ({ error: `the edge answered ${r.status}` }));
    err.textContent = j.error;
    err.hidden = false;
  } catch (e) {
    err.textContent = 'The edge does not answer. Check the network and try again.';
    err.hidden = false;
  } finally {
    button.disabled = false;
  }
});
