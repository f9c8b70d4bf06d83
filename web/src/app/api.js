// The API client: JSON over fetch to the gateway named by config.json's apis,
// with the person's bearer token. A 401 signs out and goes to the login page;
// every other error becomes an ApiError whose message the page shows.
import { loadConfig } from './config.js';
import { session, signOut } from './session.js';
import { t } from './i18n.js';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function api(service, method, path, body, opts = {}) {
  const cfg = await loadConfig();
  const base = cfg.apis && cfg.apis[service];
  if (!base) throw new ApiError(0, 'no_api', t('err.no_api', { service }));
  const s = session();
  const headers = {};
  if (s) headers.Authorization = 'Bearer ' + s.token;
  const init = { method, headers, signal: opts.signal, cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let r;
  try {
    r = await fetch(base + path, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', t('err.network'));
  }
  let data = null;
  try {
    data = await r.json();
  } catch (e) {
    data = null;
  }
  if (r.ok) return data;
  const code = (data && data.error && data.error.code) || 'http_' + r.status;
  const msg = (data && data.error && data.error.message) || '';
  if (r.status === 401) {
    signOut();
    location.replace('/login/');
    throw new ApiError(401, code, t('err.unauthenticated'));
  }
  if (r.status === 403) throw new ApiError(403, code, t('err.forbidden'));
  // The server's message is English and says what to do; the person gets a
  // sentence in their language first, then the server's words.
  const known = t('code.' + code, {}, null);
  throw new ApiError(r.status, code, known ? known + (msg ? ' (' + msg + ')' : '') : msg || 'HTTP ' + r.status);
}
