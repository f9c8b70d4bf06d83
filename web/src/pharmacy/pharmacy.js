// The pharmacy workbench: the offer inbox (long-poll), each offer with its
// countdown and a beep when it arrives; accept, reject with a reason; the
// orders this pharmacy took (kept in this tab's sessionStorage: the API has
// no list of them) with ready / collected / returned; open and close; stock
// upload from a CSV file.
import { requireSession } from '../app/session.js';
import { api } from '../app/api.js';
import { t } from '../app/i18n.js';
import { el, $, header, say, sayError, initTimeZone, startCountdowns, formatLeft, beep, sleep } from '../app/ui.js';
import { parseStockCsv } from './stockcsv.js';

const me = requireSession();
const pid = encodeURIComponent(me.id);
const REASONS = ['out_of_stock', 'cannot_verify', 'closing', 'no_cold_storage', 'busy', 'other'];
const HELD_KEY = 'rxd.pharmacy.held';
// The usual next step from the state this tab last saw (it is not told when
// a courier comes, so every step stays offered).
const NEXT = { ACCEPTED: 'ready', READY: 'collected', RETURNING: 'returned' };

// ---- orders we hold: { id: state } ----
function held() {
  try { return JSON.parse(sessionStorage.getItem(HELD_KEY) || '{}'); } catch (e) { return {}; }
}
function remember(id, state) {
  const h = held();
  if (['COLLECTED', 'RETURNED', 'PICKED_UP', 'DELIVERED', 'CANCELLED'].includes(state)) delete h[id];
  else h[id] = state;
  sessionStorage.setItem(HELD_KEY, JSON.stringify(h));
  drawHeld();
}

async function act(id, action, body) {
  try {
    const r = await api('pharmacy', 'POST', '/v1/orders/' + encodeURIComponent(id) + '/' + action, body);
    const state = (r && r.state) || '';
    say(action === 'accept' ? t('pharmacy.accepted', { id }) : action === 'reject' ? t('pharmacy.rejected', { id })
      : t('pharmacy.done', { id, state }), 'ok');
    if (action === 'reject') return true;
    remember(id, state);
    return true;
  } catch (e) {
    sayError(e);
    return false;
  }
}

function drawHeld() {
  const h = held();
  const ids = Object.keys(h).sort();
  $('#held').replaceChildren(...(ids.length ? ids.map((id) => el('div', { class: 'card held', 'data-order': id },
    el('h3', { text: id }), el('p', { class: 'state', text: h[id] }),
    el('div', { class: 'row' }, ...['ready', 'collected', 'returned'].map((a) => el('button', {
      type: 'button', class: a + (a === NEXT[h[id]] ? '' : ' secondary'), text: t('pharmacy.' + a), onclick: () => act(id, a),
    })))))
    : [el('p', { class: 'muted', text: t('pharmacy.held_none') })]));
}

// ---- the inbox ----
const drawn = new Map(); // order id -> card

function offerCard(o) {
  const reasonId = 'reason-' + o.order_id;
  const reason = el('select', { id: reasonId, class: 'reject-reason' },
    ...REASONS.map((r) => el('option', { value: t('reason.' + r), text: t('reason.' + r) })));
  const items = el('ul', { class: 'items' }, ...(o.items || []).map((it) =>
    el('li', { text: it.quantity + ' × ' + (it.name || it.drug_code) + ' (' + it.drug_code + ')' + (it.cold_chain ? ' · ' + t('pharmacy.cold') : '') })));
  const c = el('article', { class: 'card offer', 'data-order': o.order_id, 'aria-label': o.order_id },
    el('h3', { text: o.order_id }),
    el('dl', { class: 'facts' },
      el('dt', { text: t('pharmacy.accept_by') }), el('dd', {}, el('span', { class: 'countdown', 'data-deadline': o.accept_by, text: formatLeft(o.accept_by) })),
      el('dt', { text: t('pharmacy.items') }), el('dd', {}, items),
      el('dt', { text: t('pharmacy.distance') }), el('dd', { text: (o.distance_m || 0) + ' m · ' + t('fulfil.' + o.fulfilment, {}, o.fulfilment) }),
      el('dt', { text: t('pharmacy.priority') }), el('dd', { text: o.priority || '' })),
    o.cold_chain ? el('span', { class: 'badge cold', text: t('pharmacy.cold') }) : null,
    el('div', { class: 'row' },
      el('button', { type: 'button', class: 'accept', text: t('pharmacy.accept'),
        onclick: async () => { if (await act(o.order_id, 'accept')) gone(o.order_id); } }),
      el('label', { for: reasonId, text: t('pharmacy.reason') }), reason,
      el('button', { type: 'button', class: 'reject danger', text: t('pharmacy.reject'),
        onclick: async () => { if (await act(o.order_id, 'reject', { reason: reason.value })) gone(o.order_id); } })));
  return c;
}

function gone(id) {
  const c = drawn.get(id);
  if (c) c.remove();
  drawn.delete(id);
  if (!drawn.size) $('#offers').replaceChildren(el('p', { class: 'muted', text: t('pharmacy.none') }));
}

function drawOffers(orders) {
  const box = $('#offers');
  const now = new Set(orders.map((o) => o.order_id));
  for (const id of [...drawn.keys()]) if (!now.has(id)) gone(id);
  let fresh = false;
  for (const o of orders) {
    if (drawn.has(o.order_id)) continue;
    if (!drawn.size) box.replaceChildren();
    const c = offerCard(o);
    drawn.set(o.order_id, c);
    box.append(c);
    fresh = true;
  }
  if (fresh) {
    beep();
    say(t('pharmacy.new_offer'), 'info');
  }
}

async function pollOffers() {
  for (;;) {
    try {
      const r = await api('pharmacy', 'GET', '/v1/pharmacies/' + pid + '/orders?wait=25');
      const orders = (r && r.orders) || [];
      drawOffers(orders);
      // The call answers at once while an offer waits: pace the loop.
      if (orders.length) await sleep(2000);
    } catch (e) {
      sayError(e);
      if (e.status === 403) return;
      await sleep(3000);
    }
  }
}

// ---- open / close ----
async function setOpen(open) {
  try {
    await api('pharmacy', 'PUT', '/v1/pharmacies/' + pid + '/status', { open });
    const key = open ? 'pharmacy.is_open' : 'pharmacy.is_closed';
    $('#open-state').dataset.i18n = key;
    $('#open-state').textContent = t(key);
  } catch (e) {
    sayError(e);
  }
}

// ---- stock ----
async function uploadStock(ev) {
  ev.preventDefault();
  const file = $('#stock-file').files[0];
  if (!file) return;
  const { items, rejected } = parseStockCsv(await file.text());
  const out = $('#stock-result');
  out.replaceChildren();
  if (rejected.length) {
    out.append(el('h3', { text: t('pharmacy.stock_rejected') + ' (' + rejected.length + ')' }),
      el('ul', { class: 'rejected' }, ...rejected.map((r) => el('li', { text: '#' + r.line + ' "' + r.text + '": ' + t(r.why) }))));
  }
  const n = Object.keys(items).length;
  if (!n) {
    say(t('pharmacy.stock_none'), 'error');
    return;
  }
  try {
    await api('pharmacy', 'PUT', '/v1/pharmacies/' + pid + '/stock', { items });
    say(t('pharmacy.stock_ok', { n }), 'ok');
  } catch (e) {
    sayError(e);
  }
}

async function main() {
  header('pharmacy.title');
  $('#who').textContent = me.id;
  await initTimeZone();
  $('#open-btn').addEventListener('click', () => setOpen(true));
  $('#close-btn').addEventListener('click', () => setOpen(false));
  $('#stock-form').addEventListener('submit', uploadStock);
  $('#act-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    act($('#act-id').value.trim(), ev.submitter ? ev.submitter.name : 'ready');
  });
  drawHeld();
  startCountdowns();
  pollOffers();
}

main().catch(sayError);
