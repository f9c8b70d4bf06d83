// The console's live map (Leaflet, loaded by the page as /vendor/leaflet):
// pharmacies (open or closed, load against capacity), couriers (available,
// busy, benched; position age; load) and the live orders by state, from one
// snapshot (GET /v1/fleet, GET /v1/orders) then the state machine's events
// (GET /v1/live, a long-poll), never by polling every order. Positions are
// not events: the couriers' are fetched again every COURIER_REFRESH_MS.
// Without a tile server (config.json "tiles" empty) the map is a plain grid
// with the outline of where the region's pharmacies and couriers are; with
// GCJ-02 tiles every point is shifted from WGS-84 for drawing only.
import { api } from '../app/api.js';
import { loadConfig } from '../app/config.js';
import { t } from '../app/i18n.js';
import { el, $, sleep } from '../app/ui.js';
import { wgs84ToGcj02 } from '../app/gcj02.js';

const LIVE = ['ROUTING', 'OFFERED', 'ACCEPTED', 'READY', 'COURIER_ASSIGNED', 'PICKED_UP', 'RETURNING'];
const WITH_COURIER = new Set(['COURIER_ASSIGNED', 'PICKED_UP', 'RETURNING']);
const COURIER_REFRESH_MS = 5000;
const PHARMACY_REFRESH_MS = 30000;
const ORDER_PAGES_MAX = 20; // of 200: a snapshot of up to 4,000 live orders
const GRID_LINES = 40; // about as many grid lines across the region, at a round step
const MAX_ZOOM = 18;

const L = window.L;
let map;
let display = (lat, lon) => [lat, lon];
const pharmacies = new Map(); // id -> { d, m }
const couriers = new Map();
const orders = new Map(); // id -> { state, pharmacy, courier, m }
let cursor = '';
let gridDrawn = false;

// What the map did, read by loadtest/mapload: each couriers' refresh (fetch
// and draw times, couriers drawn) and the events applied, with their age
// when drawn. Bounded: the last STATS_KEEP of each.
const STATS_KEEP = 2000;
const stats = { refreshes: [], lags: [], events: 0, snapshots: 0 };
window.rxdMapStats = stats;
const keep = (list, x) => { list.push(x); if (list.length > STATS_KEEP) list.shift(); };

// A marker's classes carry what the page and its tests look for.
function setClass(marker, cls) {
  const e = marker.getElement && marker.getElement();
  if (e) e.setAttribute('class', 'leaflet-interactive ' + cls);
  marker.options.className = cls;
}

function place(store, id, lat, lon, cls, radius, tip) {
  if (typeof lat !== 'number' || typeof lon !== 'number') return;
  const at = display(lat, lon);
  let x = store.get(id);
  if (!x || !x.m) {
    const m = L.circleMarker(at, { radius, className: cls, weight: 1 }).addTo(map);
    x = Object.assign(x || {}, { m });
    store.set(id, x);
  } else {
    x.m.setLatLng(at);
    setClass(x.m, cls);
  }
  // rebinding would make a new tooltip per marker on every refresh
  if (x.m.getTooltip()) x.m.setTooltipContent(tip);
  else x.m.bindTooltip(tip);
}

function pharmacyClass(p) {
  const full = p.capacity > 0 && p.load >= p.capacity;
  return 'm-pharmacy ' + (p.open ? 'open' : 'closed') + (full ? ' full' : '') + ' p-' + p.id;
}

function courierClass(c) {
  const state = c.benched ? 'benched' : c.load > 0 ? 'busy' : c.available ? 'available' : 'off';
  return 'm-courier ' + state + ' c-' + c.id;
}

function drawPharmacy(p) {
  const x = pharmacies.get(p.id) || {};
  x.d = p;
  pharmacies.set(p.id, x);
  place(pharmacies, p.id, p.lat, p.lon, pharmacyClass(p), 7,
    `${p.name || p.id} · ${t(p.open ? 'map.open' : 'map.closed')} · ${p.load}/${p.capacity}`);
}

function drawCourier(c) {
  const x = couriers.get(c.id) || {};
  x.d = c;
  couriers.set(c.id, x);
  const age = c.pos_age_ms == null ? '-' : Math.round(c.pos_age_ms / 1000) + ' s';
  place(couriers, c.id, c.lat, c.lon, courierClass(c), 5,
    `${c.id} · ${c.load}/${c.capacity} · ${t('map.pos_age')} ${age}`);
}

// An order is drawn where it is: at its courier once it has one, else at
// its pharmacy; an order with neither is only counted.
function drawOrder(id) {
  const o = orders.get(id);
  const c = WITH_COURIER.has(o.state) && couriers.get(o.courier);
  const p = pharmacies.get(o.pharmacy);
  const at = c && c.d ? c.d : p && p.d ? p.d : null;
  if (!at) return;
  place(orders, id, at.lat, at.lon, `m-order s-${o.state} o-${id}`, 3, `${id} · ${o.state}`);
}

function forgetOrder(id) {
  const o = orders.get(id);
  if (o && o.m) o.m.remove();
  orders.delete(id);
}

function setOrder(id, state, pharmacy, courier) {
  if (!LIVE.includes(state)) {
    forgetOrder(id);
    return;
  }
  const o = orders.get(id) || {};
  Object.assign(o, { state, pharmacy: pharmacy || o.pharmacy || '', courier: courier || '' });
  orders.set(id, o);
  drawOrder(id);
}

function legend() {
  const count = (pred, m) => [...m.values()].filter((x) => x.d && pred(x.d)).length;
  const byState = {};
  for (const o of orders.values()) byState[o.state] = (byState[o.state] || 0) + 1;
  const item = (key, n, attrs) => el('span', Object.assign({ class: 'legend-item' }, attrs),
    el('span', { class: 'swatch ' + key }), `${t('map.' + key, {}, key)} ${n}`);
  $('#map-legend').replaceChildren(
    item('pharmacy-open', count((p) => p.open, pharmacies), { 'data-kind': 'pharmacy-open' }),
    item('pharmacy-closed', count((p) => !p.open, pharmacies), { 'data-kind': 'pharmacy-closed' }),
    item('courier-available', count((c) => !c.benched && !c.load && c.available, couriers), { 'data-kind': 'courier-available' }),
    item('courier-busy', count((c) => !c.benched && c.load > 0, couriers), { 'data-kind': 'courier-busy' }),
    item('courier-benched', count((c) => c.benched, couriers), { 'data-kind': 'courier-benched' }),
    ...LIVE.map((s) => item('state-' + s, byState[s] || 0, { 'data-state': s })));
}

// A grid and the outline (convex hull) of what the region holds: the map
// without a tile server.
function drawGrid() {
  const pts = [...pharmacies.values(), ...couriers.values()].filter((x) => x.d).map((x) => [x.d.lat, x.d.lon]);
  if (!pts.length) return;
  const lats = pts.map((p) => p[0]);
  const lons = pts.map((p) => p[1]);
  const span = Math.max(Math.max(...lats) - Math.min(...lats), Math.max(...lons) - Math.min(...lons), 0.01);
  const step = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10].find((x) => span / x <= GRID_LINES) || 10;
  const s = Math.max(-85, Math.floor(Math.min(...lats) / step - 2) * step);
  const n = Math.min(85, Math.ceil(Math.max(...lats) / step + 2) * step);
  const w = Math.max(-180, Math.floor(Math.min(...lons) / step - 2) * step);
  const e = Math.min(180, Math.ceil(Math.max(...lons) / step + 2) * step);
  const line = (a, b) => L.polyline([a, b], { className: 'm-grid', weight: 1, interactive: false }).addTo(map);
  for (let y = s; y <= n + step / 2; y += step) line([y, w], [y, e]);
  for (let x = w; x <= e + step / 2; x += step) line([s, x], [n, x]);
  L.polygon(hull(pts), { className: 'm-outline', weight: 2, fill: false, interactive: false }).addTo(map);
  gridDrawn = true;
}

// The view holds what the region holds, once; then the person moves it.
let fitted = false;
function fitOnce() {
  const pts = [...pharmacies.values(), ...couriers.values()].filter((x) => x.d).map((x) => display(x.d.lat, x.d.lon));
  if (fitted || !pts.length) return;
  map.fitBounds(pts, { padding: [20, 20], maxZoom: 15 });
  fitted = true;
}

// Andrew's monotone chain.
function hull(pts) {
  const p = pts.slice().sort((a, b) => a[1] - b[1] || a[0] - b[0]);
  if (p.length < 3) return p;
  const cross = (o, a, b) => (a[1] - o[1]) * (b[0] - o[0]) - (a[0] - o[0]) * (b[1] - o[1]);
  const half = (list) => {
    const h = [];
    for (const q of list) {
      while (h.length >= 2 && cross(h[h.length - 2], h[h.length - 1], q) <= 0) h.pop();
      h.push(q);
    }
    h.pop();
    return h;
  };
  return half(p).concat(half(p.slice().reverse()));
}

async function loadFleet(kind) {
  const t0 = performance.now();
  const r = await api('operator', 'GET', '/v1/fleet?kind=' + kind);
  const t1 = performance.now();
  for (const x of r[kind] || []) (kind === 'pharmacies' ? drawPharmacy : drawCourier)(x);
  if (kind === 'couriers') {
    for (const id of orders.keys()) drawOrder(id);
    keep(stats.refreshes, { at: Date.now(), fetch_ms: t1 - t0, draw_ms: performance.now() - t1, n: (r.couriers || []).length });
  }
}

async function loadOrders() {
  for (const id of [...orders.keys()]) forgetOrder(id);
  let next = '';
  for (let page = 0; page < ORDER_PAGES_MAX; page++) {
    const r = await api('operator', 'GET', '/v1/orders?limit=200' + (next ? '&cursor=' + encodeURIComponent(next) : ''));
    for (const o of r.orders || []) setOrder(o.order_id, o.state, o.pharmacy_id, o.courier_id);
    next = r.next_cursor;
    if (!next) break;
  }
}

// The cursor is taken before the snapshot, so an event between the two is
// applied again, never missed (applying one is idempotent).
async function snapshot() {
  const r = await api('operator', 'GET', '/v1/live');
  cursor = r.events[0].id;
  stats.snapshots++;
  await loadFleet('pharmacies');
  await loadFleet('couriers');
  await loadOrders();
  if (!gridDrawn && !map.rxdTiles) drawGrid();
  fitOnce();
  legend();
}

function apply(e) {
  if (e.subject === 'order') {
    setOrder(e.sid, e.state, e.pharmacy, e.courier);
  } else if (e.subject === 'courier' && couriers.get(e.sid)) {
    const c = couriers.get(e.sid).d;
    c.benched = e.kind === 'op_benched' ? true : e.kind === 'op_unbenched' ? false : c.benched;
    drawCourier(c);
  } else if (e.subject === 'pharmacy' && pharmacies.get(e.sid)) {
    const p = pharmacies.get(e.sid).d;
    p.open = e.kind === 'op_opened' ? true : e.kind === 'op_closed' ? false : p.open;
    drawPharmacy(p);
  }
}

async function follow() {
  for (;;) {
    let r;
    try {
      r = await api('operator', 'GET', '/v1/live?wait=25&after=' + encodeURIComponent(cursor));
    } catch (e) {
      if (e.status === 403 || e.status === 401) return;
      await sleep(2000);
      continue;
    }
    for (const e of r.events || []) {
      if (e.kind === 'reset' || e.kind === 'start') {
        await snapshot();
        continue;
      }
      cursor = e.id;
      apply(e);
      stats.events++;
      if (e.at_ms) keep(stats.lags, Date.now() - e.at_ms);
    }
    legend();
  }
}

async function every(ms, fn) {
  for (;;) {
    await sleep(ms);
    try {
      await fn();
      legend();
    } catch (e) {
      if (e.status === 403 || e.status === 401) return;
    }
  }
}

// #map=lat,lon,zoom: a view to open on or go to (a shared link; the tests).
function viewFromHash() {
  const v = /^#map=(-?[\d.]+),(-?[\d.]+),(\d+)$/.exec(location.hash);
  if (!v) return;
  map.setView(display(Number(v[1]), Number(v[2])), Math.min(MAX_ZOOM, Number(v[3])));
  fitted = true;
}

export async function startMap() {
  const cfg = await loadConfig();
  map = L.map('map', { zoomControl: true, attributionControl: false, minZoom: 2, maxZoom: MAX_ZOOM });
  map.setView([30.59, 114.3], 12);
  viewFromHash();
  window.addEventListener('hashchange', viewFromHash);
  if (cfg.tiles) {
    L.tileLayer(cfg.tiles, { maxZoom: 19 }).addTo(map);
    map.rxdTiles = true;
    if (cfg.tiles_crs !== 'wgs84') display = wgs84ToGcj02;
  }
  await snapshot();
  follow();
  every(COURIER_REFRESH_MS, () => loadFleet('couriers'));
  every(PHARMACY_REFRESH_MS, () => loadFleet('pharmacies'));
}
