// Scenario (b): a courier signs in by link on a phone, goes available (its
// position comes from the browser's geolocation, at the pharmacy), sees the
// assignment, accepts, picks up (the address appears), enters a wrong
// handover code (the API's refusal is shown) and then the right one.
// Args: link, order_id, code, wrong, geo {lat, lon}, artifacts.
import { args, run, newPage, loginByLink, screenshot, axe, check, messageMatching, weight } from './lib.mjs';

run(async (browser, pages) => {
  const page = await newPage(browser, { phone: true, geo: args.geo });
  pages.push(page);
  await loginByLink(page, args.link, '/courier/');
  await page.locator('#position', { hasText: '位置已发送' }).waitFor();
  // The network drops: fixes are buffered, then sent when it is back.
  const ctx = page.context();
  await ctx.setOffline(true);
  await ctx.setGeolocation({ latitude: args.geo.lat + 0.0003, longitude: args.geo.lon, accuracy: 10 });
  await page.locator('#position', { hasText: /待发送 \d+ 个位置/ }).waitFor();
  const offline = await page.textContent('#position');
  await ctx.setOffline(false);
  await page.locator('#position', { hasText: /^位置已发送/ }).waitFor();
  await page.click('#go-on');
  await page.locator('#avail-state', { hasText: '接单中' }).waitFor();
  const card = page.locator(`.assignment[data-order="${args.order_id}"]`);
  await card.waitFor({ timeout: 45000 });
  const before = await card.textContent();
  check(!(await card.locator('.address').count()), 'no address before pickup');
  const mapHref = await card.locator('a.maplink').first().getAttribute('href');
  check(mapHref.startsWith('geo:'), 'a geo: link to open the map app: ' + mapHref);
  const shot = await screenshot(page, 'courier-assignment');
  const load = await weight(page);
  const violations = await axe(page, 'courier page');

  await card.locator('button.accept').click();
  await card.locator('button.accept').waitFor({ state: 'detached' });
  await card.locator('button.pickup').click();
  await card.locator('.address').waitFor();
  const address = await card.locator('.address').textContent();

  await card.locator('input.code').fill(args.wrong);
  await card.locator('button.deliver').click();
  const refused = await messageMatching(page, /交接码错误/);
  check(await page.getAttribute('#message', 'role') === 'alert', 'the refusal is an alert');
  await screenshot(page, 'courier-wrong-code');
  await axe(page, 'courier page, wrong code');

  await card.locator('input.code').fill(args.code);
  await card.locator('button.deliver').click();
  const delivered = await messageMatching(page, /已送达/);
  await card.waitFor({ state: 'detached', timeout: 20000 });
  await screenshot(page, 'courier-delivered');
  const position = await page.textContent('#position');
  return { load, offline, before, address, refused, delivered, shot, violations, map: mapHref, position };
});
