// The console's rosters and figures: every pharmacy (open or closed, load
// against capacity) and every courier seen lately (free, busy or benched,
// load, age of its position) from GET /v1/fleet, filtered as one types; and
// the last hour's figures from GET /v1/figures (orders per state, each
// stage's p50 and p90, click to door, unroutable by reason, acceptance by
// pharmacy). Both are read when shown and on "refresh", the figures once a
// minute too: they are five-minute buckets, a faster refresh shows nothing new.
// A courier can be benched or unbenched and a pharmacy closed or opened from
// its row, with a reason, as the operator API asks.
import { api } from '../app/api.js';
import { t } from '../app/i18n.js';
import { el, $, sayError, table } from '../app/ui.js';

const ROSTER_ROWS = 300; // rows drawn; the filter finds the others
const FIGURES_EVERY_MS = 60000;
const STATES = ['ROUTING', 'OFFERED', 'ACCEPTED', 'READY', 'COURIER_ASSIGNED', 'PICKED_UP', 'RETURNING',
  'DELIVERED', 'COLLECTED', 'RETURNED', 'CANCELLED', 'UNROUTABLE'];

// "12 s", "4 min", "3 h": a position's age at a glance.
function age(ms) {
  if (ms === undefined || ms === null || ms < 0) return '-';
  const s = Math.round(ms / 1000);
  if (s < 120) return t('age.s', { n: s });
  if (s < 7200) return t('age.min', { n: Math.round(s / 60) });
  return t('age.h', { n: Math.round(s / 3600) });
}

// ---- rosters ----
let fleet = { pharmacies: [], couriers: [], truncated: false };
// from console.js: the reason form, and what this token's role may do (a
// desk benches couriers; opening and closing a pharmacy is an operator's)
let act = { askReason: null, mayAct: false, mayConfigure: false };

function fleetButton(kind, id, action) {
  const title = t('fleet.' + action) + ' · ' + id;
  return el('button', { type: 'button', class: 'secondary fleet-' + action, text: t('fleet.' + action),
    onclick: () => act.askReason(title, `/v1/${kind}/${encodeURIComponent(id)}/${action}`, action, null, loadRosters) });
}

function courierStatus(c) {
  if (c.benched) return 'benched';
  return c.load > 0 ? 'busy' : c.available ? 'available' : 'off';
}

function drawRosters() {
  const q = $('#roster-filter').value.trim().toLowerCase();
  const match = (...fields) => !q || fields.some((f) => String(f || '').toLowerCase().includes(q));
  // The busiest first: that is where a desk looks for trouble.
  const ph = fleet.pharmacies.filter((p) => match(p.id, p.name))
    .sort((a, b) => b.load / (b.capacity || 1) - a.load / (a.capacity || 1) || a.id.localeCompare(b.id));
  const co = fleet.couriers.filter((c) => match(c.id, courierStatus(c)));
  $('#roster-count').textContent = t('roster.count', { p: fleet.pharmacies.length, c: fleet.couriers.length }) +
    (fleet.truncated ? ' ' + t('roster.truncated') : '');
  const phHeads = ['roster.id', 'roster.name', 'roster.status', 'roster.load', 'roster.cold'];
  const coHeads = ['roster.id', 'roster.status', 'roster.load', 'roster.pos_age', 'roster.cold'];
  if (act.mayConfigure) phHeads.push('console.actions');
  if (act.mayAct) coHeads.push('console.actions');
  $('#roster-pharmacies').replaceChildren(table(phHeads,
    ph.slice(0, ROSTER_ROWS).map((p) => el('tr', { 'data-pharmacy': p.id, class: p.open ? '' : 'closed' },
      el('td', { text: p.id }), el('td', { text: p.name || '' }),
      el('td', { text: t(p.open ? 'map.open' : 'map.closed') }),
      el('td', { class: p.load >= p.capacity ? 'full' : '', text: p.load + ' / ' + p.capacity }),
      el('td', { text: t(p.cold ? 'yes' : 'no') }),
      act.mayConfigure ? el('td', { class: 'actions' }, fleetButton('pharmacies', p.id, p.open ? 'close' : 'open')) : null)),
    'roster.none'));
  $('#roster-couriers').replaceChildren(table(coHeads,
    co.slice(0, ROSTER_ROWS).map((c) => el('tr', { 'data-courier': c.id, class: 'courier-' + courierStatus(c) },
      el('td', { text: c.id }), el('td', { text: t('roster.' + courierStatus(c)) }),
      el('td', { text: c.load + ' / ' + c.capacity }), el('td', { text: age(c.pos_age_ms) }),
      el('td', { text: t(c.cold ? 'yes' : 'no') }),
      act.mayAct ? el('td', { class: 'actions' }, fleetButton('couriers', c.id, c.benched ? 'unbench' : 'bench')) : null)),
    'roster.none'));
}

async function loadRosters() {
  try {
    const [p, c] = await Promise.all([
      api('operator', 'GET', '/v1/fleet?kind=pharmacies'),
      api('operator', 'GET', '/v1/fleet?kind=couriers'),
    ]);
    fleet = { pharmacies: p.pharmacies || [], couriers: c.couriers || [], truncated: p.truncated || c.truncated };
    drawRosters();
  } catch (e) {
    sayError(e);
  }
}

// ---- the last hour's figures ----
const ms = (v) => (v === null || v === undefined ? '-' : v < 120000 ? (v / 1000).toFixed(0) + ' s' : (v / 60000).toFixed(1) + ' min');

function drawFigures(f) {
  const entered = f.entered || {};
  const live = f.live || {};
  const stages = f.stages || {};
  const c2d = f.click_to_door || {};
  $('#fig-c2d').textContent = t('fig.c2d', { n: c2d.n || 0, p50: ms(c2d.p50_ms), p90: ms(c2d.p90_ms) });
  $('#fig-states').replaceChildren(table(['console.state', 'fig.entered', 'fig.live', 'fig.stage_n', 'fig.p50', 'fig.p90'],
    STATES.filter((s) => entered[s] || live[s] || stages[s]).map((s) => {
      const st = stages[s] || {};
      return el('tr', { 'data-state': s },
        el('td', { text: t('map.state-' + s, {}, s) }), el('td', { text: entered[s] || 0 }), el('td', { text: live[s] || 0 }),
        el('td', { text: st.n || 0 }), el('td', { text: ms(st.p50_ms) }), el('td', { text: ms(st.p90_ms) }));
    }), 'fig.none'));
  const unr = Object.entries(f.unroutable || {}).sort((a, b) => b[1] - a[1]);
  $('#fig-unroutable').replaceChildren(table(['console.reason', 'fig.orders'],
    unr.map(([r, n]) => el('tr', {}, el('td', { text: r }), el('td', { text: n }))), 'fig.none'));
  $('#fig-acceptance').replaceChildren(table(['console.pharmacy', 'fig.offers', 'fig.accepted', 'fig.declined', 'fig.rate'],
    (f.acceptance || []).map((a) => el('tr', { class: a.rate < 0.5 ? 'low' : '' },
      el('td', { text: a.pharmacy }), el('td', { text: a.offers }), el('td', { text: a.accepted }),
      el('td', { text: a.declined }), el('td', { text: Math.round(a.rate * 100) + ' %' }))), 'fig.none'));
}

async function loadFigures() {
  try {
    drawFigures(await api('operator', 'GET', '/v1/figures?window_s=3600'));
  } catch (e) {
    sayError(e);
  }
}

export function startPanels(actions) {
  act = actions;
  $('#roster-filter').addEventListener('input', drawRosters);
  $('#roster-refresh').addEventListener('click', loadRosters);
  $('#fig-refresh').addEventListener('click', loadFigures);
  loadRosters();
  loadFigures();
  setInterval(() => { if (!document.hidden) loadFigures(); }, FIGURES_EVERY_MS);
}
