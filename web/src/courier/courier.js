// The courier's phone page: availability, the position shared from the
// browser's geolocation (buffered, sent in batches, kept while the network is
// down), the current assignments (long-poll) and their actions.
import { requireSession } from '../app/session.js';
import { api } from '../app/api.js';
import { t } from '../app/i18n.js';
import { el, $, header, say, sayError, formatTime, formatLeft, initTimeZone, startCountdowns, sleep } from '../app/ui.js';

const me = requireSession();
const cid = encodeURIComponent(me.id);
const FAIL_REASONS = ['not_home', 'unreachable', 'refused', 'address', 'damaged'];
const BATCH_MAX = 500; // the batch API's limit
const BUFFER_MAX = 5000; // the oldest fixes go first past this

// ---- position: buffer every fix, send what is buffered in one batch ----
const buffer = [];
let sending = false;
let lastSent = 0;

function showPosition(extra) {
  const parts = [];
  if (buffer.length) parts.push(t('courier.buffered', { n: buffer.length }));
  if (lastSent) parts.push(t('courier.sent', { time: formatTime(lastSent, false) }));
  $('#position').textContent = extra || parts.join(' · ') || t('courier.waiting_fix');
}

function onFix(pos) {
  buffer.push({ lat: pos.coords.latitude, lon: pos.coords.longitude, ts_ms: Math.round(pos.timestamp || Date.now()) });
  if (buffer.length > BUFFER_MAX) buffer.splice(0, buffer.length - BUFFER_MAX);
  showPosition();
  flush();
}

async function flush() {
  if (sending || !buffer.length || !navigator.onLine) return;
  sending = true;
  try {
    while (buffer.length) {
      const points = buffer.slice(0, BATCH_MAX);
      await api('courier', 'POST', '/v1/couriers/' + cid + '/locations', { points });
      buffer.splice(0, points.length);
      lastSent = Date.now();
    }
  } catch (e) {
    if (e.status >= 400 && e.status < 500 && e.status !== 429) {
      buffer.length = 0; // refused points (too far ahead, bad): a retry would be refused again
      sayError(e);
    }
  } finally {
    sending = false;
    showPosition();
  }
}

function watchPosition() {
  if (!navigator.geolocation) {
    showPosition(t('courier.no_geo'));
    return;
  }
  navigator.geolocation.watchPosition(onFix, (err) => {
    showPosition(err.code === 1 ? t('courier.geo_denied') : err.message);
  }, { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
  // The dispatcher wants a fix at most ~30 s old: resend the last one on a
  // timer when the phone has not moved (watchPosition is then silent).
  setInterval(() => {
    navigator.geolocation.getCurrentPosition(onFix, () => {}, { maximumAge: 10000, timeout: 20000 });
  }, 20000);
  window.addEventListener('online', flush);
  setInterval(flush, 5000);
}

// ---- availability ----
async function setAvailable(available) {
  try {
    await api('courier', 'PUT', '/v1/couriers/' + cid + '/availability', {
      available, cold_chain: $('#cold-box').checked, capacity: Number($('#capacity').value),
    });
    const key = available ? 'courier.available' : 'courier.unavailable';
    $('#avail-state').dataset.i18n = key;
    $('#avail-state').textContent = t(key);
    say(t(key), 'ok');
  } catch (e) {
    sayError(e);
  }
}

// ---- assignments ----
let shown = ''; // the list as last drawn, to redraw only on a change

// Links that open the drop-off in the phone's map app: a geo: URI (Android
// offers every installed map app) and Amap's URI API (iOS and Android; the
// coordinates are the API's, WGS-84, said with coordinate=wgs84).
function mapLinks(p) {
  const ll = p.lat.toFixed(6) + ',' + p.lon.toFixed(6);
  return el('div', { class: 'row' },
    el('a', { href: 'geo:' + ll + '?q=' + ll, class: 'maplink', text: t('courier.open_map') }),
    el('a', {
      href: 'https://uri.amap.com/marker?position=' + p.lon.toFixed(6) + ',' + p.lat.toFixed(6) +
        '&coordinate=wgs84&callnative=1',
      class: 'maplink', rel: 'noopener', text: t('courier.amap'),
    }));
}

async function act(a, action, body) {
  try {
    const r = await api('courier', 'POST', '/v1/orders/' + encodeURIComponent(a.order_id) + '/courier/' + action, body);
    say(r && r.state === 'DELIVERED' ? t('courier.delivered', { id: a.order_id }) : a.order_id + ': ' + ((r && r.state) || 'ok'), 'ok');
    if (action === 'pickup') flushSoon();
  } catch (e) {
    sayError(e);
  }
  poke();
}

function flushSoon() { setTimeout(flush, 0); }

function card(a) {
  const place = (label, p) => [el('dt', { text: t(label) }), el('dd', { text: (p.name ? p.name + ' · ' : '') + p.lat.toFixed(5) + ', ' + p.lon.toFixed(5) })];
  const facts = el('dl', { class: 'facts' },
    el('dt', { text: t('courier.state') }), el('dd', { class: 'state', text: a.state }),
    ...place('courier.pharmacy', a.pharmacy || {}), ...place('courier.dropoff', a.dropoff || {}));
  if (a.address) facts.append(el('dt', { text: t('courier.address') }), el('dd', { class: 'address', text: a.address }));
  if (!a.accepted && a.accept_by) {
    facts.append(el('dt', { text: t('courier.accept_by') }),
      el('dd', {}, el('span', { class: 'countdown', 'data-deadline': a.accept_by, text: formatLeft(a.accept_by) })));
  }
  const c = el('article', { class: 'card assignment', 'data-order': a.order_id, 'aria-label': a.order_id },
    el('h3', { text: a.order_id }), a.cold_chain ? el('span', { class: 'badge cold', text: t('pharmacy.cold') }) : null, facts);
  const buttons = el('div', { class: 'row' });
  if (a.state === 'COURIER_ASSIGNED') {
    if (!a.accepted) {
      buttons.append(el('button', { type: 'button', class: 'accept', text: t('courier.accept'), onclick: () => act(a, 'accept') }),
        el('button', { type: 'button', class: 'decline secondary', text: t('courier.decline'), onclick: () => act(a, 'decline') }));
    }
    buttons.append(el('button', { type: 'button', class: 'pickup', text: t('courier.pickup'), onclick: () => act(a, 'pickup') }));
    c.append(buttons);
  } else if (a.state === 'PICKED_UP') {
    const codeId = 'code-' + a.order_id;
    const reasonId = 'reason-' + a.order_id;
    const code = el('input', { id: codeId, class: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{1,15}', required: true });
    const reason = el('select', { id: reasonId, class: 'fail-reason' },
      ...FAIL_REASONS.map((r) => el('option', { value: t('fail.' + r, {}, r), text: t('fail.' + r) })));
    c.append(
      el('form', { class: 'row deliver-form', onsubmit: (ev) => { ev.preventDefault(); act(a, 'deliver', { handover_code: code.value.trim() }); } },
        el('label', { for: codeId, text: t('courier.code') }), code,
        el('button', { type: 'submit', class: 'deliver', text: t('courier.deliver') })),
      el('div', { class: 'row' },
        el('label', { for: reasonId, text: t('courier.fail_reason') }), reason,
        el('button', { type: 'button', class: 'fail danger', text: t('courier.fail'), onclick: () => act(a, 'fail', { reason: reason.value }) })));
  } else if (a.state === 'RETURNING') {
    c.append(el('p', { class: 'returning', text: t('courier.returning') }));
  }
  c.append(mapLinks(a.state === 'RETURNING' || a.state === 'COURIER_ASSIGNED' ? (a.pharmacy || a.dropoff) : a.dropoff));
  return c;
}

function draw(list) {
  const key = JSON.stringify(list);
  if (key === shown) return;
  shown = key;
  const box = $('#assignments');
  box.replaceChildren(...(list.length ? list.map(card) : [el('p', { class: 'muted', text: t('courier.none') })]));
}

let wake = null;
function poke() { if (wake) wake(); }

async function pollAssignments() {
  for (;;) {
    let list = [];
    try {
      // Long-poll while empty; the call returns at once while the courier
      // holds orders, so then it is paced by the sleep below.
      const r = await api('courier', 'GET', '/v1/couriers/' + cid + '/assignments?wait=' + (shown && shown !== '[]' ? 0 : 25));
      list = (r && r.assignments) || [];
      draw(list);
    } catch (e) {
      if (e.status === 403) { sayError(e); return; }
      sayError(e);
      await sleep(3000);
    }
    if (list.length) await Promise.race([sleep(3000), new Promise((r) => { wake = r; })]);
  }
}

async function main() {
  header('courier.title');
  await initTimeZone();
  $('#go-on').addEventListener('click', () => setAvailable(true));
  $('#go-off').addEventListener('click', () => setAvailable(false));
  startCountdowns();
  showPosition();
  watchPosition();
  pollAssignments();
}

main().catch(sayError);
