// Scenario (e): the operator watches the live map. The order is drawn at
// its pharmacy, changes colour as it passes its states (the pharmacy's and
// the courier's calls are made from here, through the gateways), follows
// its courier once assigned, and the courier's marker moves when the
// courier reports a new position.
// Args: link, order_id, courier_id, pharmacy_api, pharmacy_token,
// courier_api, courier_token, view and moved ({lat, lon}), artifacts, name.
import { args, run, newPage, loginByLink, screenshot, axe, check, weight } from './lib.mjs';

async function call(base, method, path, token, body) {
  const r = await fetch(base + path, {
    method, headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  check(r.ok, method + ' ' + path + ': HTTP ' + r.status + ' ' + (await r.text()));
}

const cls = (page, sel) => page.locator(sel).first().getAttribute('class');

run(async (browser, pages) => {
  const page = await newPage(browser);
  pages.push(page);
  await loginByLink(page, args.link, '/console/');
  // the stack holds other tests' places far away: open on this one's
  await page.goto(new URL(page.url()).origin + `/console/#map=${args.view.lat},${args.view.lon},13`);
  const order = `#map path[class~="o-${args.order_id}"]`;
  const courier = `#map path[class~="c-${args.courier_id}"]`;
  await page.locator(order).waitFor();
  const states = [];
  const seen = async () => {
    const c = (await cls(page, order)) || '';
    const s = (c.match(/s-([A-Z_]+)/) || [])[1];
    if (s && states[states.length - 1] !== s) states.push(s);
    return s;
  };
  await seen();
  const load = await weight(page);
  const shot = await screenshot(page, 'console-map');
  const violations = await axe(page, 'console map');
  const legendOffered = await page.locator('#map-legend [data-state="OFFERED"]').textContent();

  await call(args.pharmacy_api, 'POST', `/v1/orders/${args.order_id}/accept`, args.pharmacy_token);
  await call(args.pharmacy_api, 'POST', `/v1/orders/${args.order_id}/ready`, args.pharmacy_token);
  const until = async (want, ms) => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if ((await seen()) === want) return;
      await page.waitForTimeout(100);
    }
    throw new Error(`the order's marker never showed ${want} (saw ${states.join(', ')})`);
  };
  await until('COURIER_ASSIGNED', 30000);
  // assigned: the order is drawn where its courier is
  const centre = async (sel) => {
    const b = await page.locator(sel).first().boundingBox();
    return [b.x + b.width / 2, b.y + b.height / 2];
  };
  const [o, c] = [await centre(order), await centre(courier)];
  const atCourier = Math.hypot(o[0] - c[0], o[1] - c[1]) < 1.5;

  const before = await page.locator(courier).first().boundingBox();
  await call(args.courier_api, 'PUT', `/v1/couriers/${args.courier_id}/location`, args.courier_token,
    { lat: args.moved.lat, lon: args.moved.lon, ts_ms: Date.now() });
  let after = before;
  const end = Date.now() + 15000;
  while (Date.now() < end) {
    after = await page.locator(courier).first().boundingBox();
    if (after && after.width > 0 && Math.abs(after.y - before.y) > 2) break;
    await page.waitForTimeout(200);
  }
  const courierClass = await cls(page, courier);
  await screenshot(page, 'console-map-assigned');
  const visible = await page.locator(courier).first().isVisible();
  return { visible, states, atCourier, moved_px: Math.round(before.y - after.y), courierClass, legendOffered, load, shot, violations };
});
