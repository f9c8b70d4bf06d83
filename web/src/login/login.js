// The login page: a login link's one-time code (in the URL fragment, which
// never reaches a server log) is exchanged for a token at POST /v1/login on
// the web origin; or a person pastes a token. Either way the token goes to
// sessionStorage and the person to their role's page.
import { signIn, tokenClaims, ROLE_PAGE } from '../app/session.js';
import { t, applyI18n } from '../app/i18n.js';
import { say, $ } from '../app/ui.js';

async function exchange(code) {
  say(t('login.exchanging'));
  try {
    const r = await fetch('/v1/login', {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ code }), cache: 'no-store',
    });
    const data = await r.json().catch(() => null);
    if (!r.ok || !data || !data.token) throw new Error((data && data.error && data.error.message) || 'HTTP ' + r.status);
    signIn(data.token, data.role, data.id);
    location.replace(data.page || ROLE_PAGE[data.role] || '/login/');
  } catch (e) {
    say(t('login.link_failed') + ' (' + e.message + ')', 'error');
  }
}

function pasted(ev) {
  ev.preventDefault();
  const token = $('#token-input').value.trim();
  const c = tokenClaims(token);
  if (!c || !ROLE_PAGE[c.role]) {
    say(t('login.bad_token'), 'error');
    return;
  }
  signIn(token, c.role, c.id);
  location.replace(ROLE_PAGE[c.role]);
}

applyI18n();
document.title = t('login.title') + ' · rxdispatch';
$('#token-form').addEventListener('submit', pasted);
const m = /(?:^#|&)code=([^&]+)/.exec(location.hash);
if (m) {
  // The code leaves the address bar (and the history) before anything else.
  history.replaceState(null, '', location.pathname);
  exchange(decodeURIComponent(m[1]));
}
