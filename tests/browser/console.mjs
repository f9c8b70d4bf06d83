// Scenario (c): a courier's session cannot open the console: the page shows
// "not allowed for this role" and no data. Scenario (d), when args.order_id
// is given with an operator link: the exception desk lists the order and the
// operator clears it with an action (args.action) and a reason.
// Args: link, login_page, order_id?, action?, artifacts, name.
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
  return { load, seen, done, kinds, shot, violations };
});
