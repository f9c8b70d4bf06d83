// The operator console's first page: the exception desk (oldest first, one
// click to reassign / reroute / retry / cancel / resend the code / unlock,
// each asking for the reason the operator API requires), order search, and
// an order's page with its timeline (#order=<id>), above them the live map
// (map.js), below them the last hour's figures and the rosters (panels.js).
import { requireSession } from '../app/session.js';
import { api } from '../app/api.js';
import { t } from '../app/i18n.js';
import { el, $, header, say, sayError, formatTime, initTimeZone, table } from '../app/ui.js';
import { startMap } from './map.js';
import { startPanels } from './panels.js';

const me = requireSession();
// An auditor reads; the API would refuse its actions, so none are offered.
const MAY_ACT = me.role !== 'auditor';

// Which actions apply in which state (docs/operator-api.md), and the extra
// field each asks for.
const ACTIONS = [
  { name: 'reassign', states: ['COURIER_ASSIGNED', 'READY'], field: 'courier' },
  { name: 'reroute', states: ['ROUTING', 'OFFERED', 'ACCEPTED', 'READY', 'COURIER_ASSIGNED'], field: 'pharmacy' },
  { name: 'retry', states: ['ROUTING', '*'] },
  { name: 'cancel', states: ['ROUTING', 'OFFERED', 'ACCEPTED', 'READY', 'COURIER_ASSIGNED', 'PICKED_UP'] },
  { name: 'resend-code', states: ['ACCEPTED', 'READY', 'COURIER_ASSIGNED', 'PICKED_UP'] },
  { name: 'unlock', states: ['PICKED_UP'], field: 'identity' },
];

const orderLink = (id) => el('a', { href: '#order=' + encodeURIComponent(id), text: id });

// ---- the exception desk ----
// The action waiting for its reason: { path, title, action, after }.
let pending = null;

// Asks for the reason (and the action's extra field), then POSTs to path;
// `after` runs once it went through (the rosters use it too).
function askReason(title, path, action, field, after) {
  pending = { path, action, after };
  $('#act-title').textContent = title;
  $('#act-reason').value = '';
  $('#act-courier').value = '';
  $('#act-pharmacy').value = '';
  $('#act-identity').checked = false;
  $('#act-courier-row').hidden = field !== 'courier';
  $('#act-pharmacy-row').hidden = field !== 'pharmacy';
  $('#act-identity-row').hidden = field !== 'identity';
  $('#act-form').hidden = false;
  $('#act-form').scrollIntoView({ block: 'nearest' });
  $('#act-reason').focus();
}

function openAction(id, action) {
  askReason(t('action.' + action.name) + ' · ' + id,
    '/v1/orders/' + encodeURIComponent(id) + '/' + action.name, action.name, action.field, loadExceptions);
}

async function submitAction(ev) {
  ev.preventDefault();
  if (!pending) return;
  const body = { reason: $('#act-reason').value.trim() };
  if (pending.action === 'reassign' && $('#act-courier').value.trim()) body.courier_id = $('#act-courier').value.trim();
  if (pending.action === 'reroute' && $('#act-pharmacy').value.trim()) body.pharmacy_id = $('#act-pharmacy').value.trim();
  if (pending.action === 'unlock') body.identity_checked = $('#act-identity').checked;
  try {
    const r = await api('operator', 'POST', pending.path, body);
    const title = $('#act-title').textContent;
    say(r.state ? t('console.done', { action: title, state: r.state }) : t('console.done_fleet', { action: title }), 'ok');
    const after = pending.after;
    pending = null;
    $('#act-form').hidden = true;
    if (after) after();
  } catch (e) {
    sayError(e);
  }
}

async function loadExceptions() {
  try {
    const r = await api('operator', 'GET', '/v1/exceptions?offset=0&count=200');
    // The API answers newest first; the desk works oldest first.
    const list = (r.exceptions || []).slice().sort((a, b) => a.at_ms - b.at_ms);
    $('#exc-total').textContent = t('console.total', { n: r.total || 0 });
    $('#exceptions').replaceChildren(table(['console.order', 'console.at', 'console.kind', 'console.reason', 'console.state', 'console.actions'],
      list.map((x) => el('tr', { 'data-order': x.order_id },
        el('td', {}, orderLink(x.order_id)), el('td', { text: formatTime(x.at_ms) }), el('td', { text: x.kind }),
        el('td', { text: x.reason }), el('td', { text: x.state }),
        el('td', { class: 'actions' }, ...ACTIONS.filter((a) => MAY_ACT && (a.states.includes(x.state) || a.states.includes('*'))).map((a) =>
          el('button', { type: 'button', class: 'act-' + a.name, text: t('action.' + a.name), onclick: () => openAction(x.order_id, a) }))))),
      'console.none'));
  } catch (e) {
    sayError(e);
    if (e.status === 403) forbidden();
  }
}

// A token whose role may not read: no data, nothing to press.
function forbidden() {
  $('#desk').hidden = true;
  $('#order-page').hidden = true;
}

// ---- search ----
async function search(ev) {
  if (ev) ev.preventDefault();
  const q = new URLSearchParams({ limit: '100' });
  const add = (k, sel) => { const v = $(sel).value.trim(); if (v) q.set(k, v); };
  add('state', '#q-state'); add('pharmacy', '#q-pharmacy'); add('courier', '#q-courier'); add('prescription', '#q-rx');
  try {
    const r = await api('operator', 'GET', '/v1/orders?' + q);
    $('#results').replaceChildren(table(['console.order', 'console.state', 'console.since', 'console.pharmacy', 'console.courier', 'console.prescription'],
      (r.orders || []).map((o) => el('tr', {},
        el('td', {}, orderLink(o.order_id)), el('td', { text: o.state }), el('td', { text: formatTime(o.since_ms) }),
        el('td', { text: o.pharmacy_id || '' }), el('td', { text: o.courier_id || '' }), el('td', { text: o.prescription_id || '' }))),
      'console.no_results'));
  } catch (e) {
    sayError(e);
    if (e.status === 403) forbidden();
  }
}

// ---- one order ----
async function showOrder(id) {
  $('#desk').hidden = true;
  $('#order-page').hidden = false;
  $('#order-h').textContent = t('console.order') + ' ' + id;
  $('#order-facts').replaceChildren();
  $('#timeline').replaceChildren(el('p', { class: 'muted', text: t('loading') }));
  try {
    const o = await api('operator', 'GET', '/v1/orders/' + encodeURIComponent(id));
    const fact = (k, v) => [el('dt', { text: t(k, {}, k) }), el('dd', { text: v === undefined || v === '' ? '-' : String(v) })];
    $('#order-facts').replaceChildren(
      ...fact('console.state', o.state), ...fact('console.prescription', o.prescription_id),
      ...fact('console.pharmacy', o.pharmacy_id), ...fact('console.courier', o.courier_id),
      ...fact('console.created', formatTime(o.created_ms)), ...fact('console.fulfilment', t('fulfil.' + o.fulfilment, {}, o.fulfilment)), ...fact('console.attempt', o.attempt));
    $('#timeline').replaceChildren(table(['#', 'console.at', 'console.state', 'console.kind', 'console.pharmacy', 'console.courier', 'console.reason', 'console.actor'],
      (o.timeline || []).map((e) => el('tr', { class: 'event', 'data-kind': e.kind },
        el('td', { text: e.seq }), el('td', { text: formatTime(e.at_ms) }), el('td', { text: e.state }), el('td', { text: e.kind }),
        el('td', { text: e.pharmacy || '' }), el('td', { text: e.courier || '' }), el('td', { text: e.reason || '' }), el('td', { text: e.actor || '' }))),
      'console.no_results'));
  } catch (e) {
    $('#timeline').replaceChildren();
    sayError(e);
    if (e.status === 403) forbidden();
  }
}

function route() {
  const m = /^#order=(.+)$/.exec(location.hash);
  if (m) {
    showOrder(decodeURIComponent(m[1]));
  } else {
    $('#order-page').hidden = true;
    $('#desk').hidden = false;
    loadExceptions();
  }
}

async function main() {
  header('console.title');
  await initTimeZone();
  $('#exc-refresh').addEventListener('click', loadExceptions);
  $('#act-form').addEventListener('submit', submitAction);
  $('#act-cancel').addEventListener('click', () => { pending = null; $('#act-form').hidden = true; });
  $('#search-form').addEventListener('submit', search);
  $('#order-back').addEventListener('click', (ev) => { ev.preventDefault(); history.pushState(null, '', location.pathname); route(); });
  window.addEventListener('hashchange', route);
  route();
  startPanels({ askReason, mayAct: MAY_ACT, mayConfigure: me.role === 'operator' });
  startMap().catch((e) => {
    sayError(e);
    if (e.status === 403) forbidden();
  });
}

main().catch(sayError);
