// Scenario (c): a courier's session cannot open the console: the page shows
// "not allowed for this role" and no data. Scenario (d), when args.order_id
// is given with an operator link: the exception desk lists the order and the
// operator clears it with an action (args.action) and a reason; before that
// it reads the rosters (args.pharmacy_id, args.courier_id) and the last
// hour's PICKED_UP row, and benches the courier from its roster row.
// Args: link, login_page, order_id?, action?, pharmacy_id?, courier_id?, artifacts, name.
import { args, run, newPage, loginByLink, screenshot, axe, check, messageMatching, weight } from './lib.mjs';

run(async (browser, pages) => {
  const page = await newPage(browser);
  pages.push(page);
  await loginByLink(page, args.link, args.login_page);
  if (!args.order_id) {
    const origin = new URL(page.url()).origin;
    await page.goto(origin + '/console/');
    const msg = await messageMatching(page, /此角色无权/);
    check(await page.locator('#desk').isHidden(), 'the desk is hidden');
    check((await page.locator('table tr').count()) === 0, 'no rows shown');
    const shot = await screenshot(page, 'console-forbidden');
    const violations = await axe(page, 'console (forbidden)');
    // The English switch: remembered for the session, across the reload.
    await page.click('#lang-switch');
    const english = await messageMatching(page, /Not allowed for this role/);
    check(await page.getAttribute('html', 'lang') === 'en', 'html lang is en');
    // Signing out empties sessionStorage and leaves for the login page.
    await page.click('#sign-out');
    await page.waitForURL((u) => u.pathname === '/login/');
    check(await page.evaluate(() => sessionStorage.getItem('rxd.token')) === null, 'the token is gone');
    await page.locator('#token-input').waitFor();
    await screenshot(page, 'login');
    const loginViolations = await axe(page, 'login page');
    return { message: msg, english, shot, violations, loginViolations };
  }
  const row = page.locator(`#exceptions tr[data-order="${args.order_id}"]`);
  await row.waitFor();
  const seen = await row.textContent();
  // The rosters and figures load beside the desk: the test's pharmacy and
  // courier found through the filter, the PICKED_UP row of the last hour.
  await page.fill('#roster-filter', args.pharmacy_id);
  const phRow = page.locator(`#roster-pharmacies tr[data-pharmacy="${args.pharmacy_id}"]`);
  await phRow.waitFor();
  const pharmacyRow = await phRow.textContent();
  await page.fill('#roster-filter', args.courier_id);
  const coRow = page.locator(`#roster-couriers tr[data-courier="${args.courier_id}"]`);
  await coRow.waitFor();
  const courierClass = await coRow.getAttribute('class');
  // The desk benches the courier from its row (with a reason); the roster,
  // read again from the API, shows it benched.
  await coRow.locator('button.fleet-bench').click();
  await page.fill('#act-reason', 'browser test: benched from the roster');
  await page.click('#act-submit');
  await page.locator(`#roster-couriers tr[data-courier="${args.courier_id}"].courier-benched`).waitFor();
  const benched = await page.locator(`#roster-couriers tr[data-courier="${args.courier_id}"]`).getAttribute('class');
  const figRow = page.locator('#fig-states tr[data-state="PICKED_UP"]');
  await figRow.waitFor();
  const pickedUpRow = (await figRow.locator('td').allTextContents()).slice(1).join(' ');
  await page.locator('#roster-h').scrollIntoViewIfNeeded();
  await screenshot(page, 'console-panels');
  await page.fill('#roster-filter', '');
  const shot = await screenshot(page, 'console-desk');
  const load = await weight(page);
  const violations = await axe(page, 'console desk');
  await row.locator('button.act-' + args.action).click();
  await page.fill('#act-reason', 'browser test: cleared from the desk');
  await page.click('#act-submit');
  const done = await messageMatching(page, new RegExp(args.order_id));
  await row.waitFor({ state: 'detached' });

  await page.goto(new URL(page.url()).origin + '/console/#order=' + encodeURIComponent(args.order_id));
  await page.locator('#timeline tr.event').first().waitFor();
  const kinds = await page.locator('#timeline tr.event').evaluateAll((rs) => rs.map((r) => r.dataset.kind));
  await screenshot(page, 'console-order');
  await axe(page, 'console order page');
  return { load, seen, done, kinds, shot, violations, pharmacy_row: pharmacyRow,
    courier_class: courierClass, benched_class: benched, picked_up_row: pickedUpRow };
});
