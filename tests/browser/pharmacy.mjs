// Scenario (a): a pharmacist signs in by link, sees the offer with its
// countdown, accepts it and marks it ready; then uploads a stock CSV with a
// bad row, which the page rejects and shows. Args: link, order_id, artifacts.
import { args, run, newPage, loginByLink, screenshot, axe, check, messageMatching, weight } from './lib.mjs';

run(async (browser, pages) => {
  const page = await newPage(browser);
  pages.push(page);
  await loginByLink(page, args.link, '/pharmacy/');
  const offer = page.locator(`.offer[data-order="${args.order_id}"]`);
  await offer.waitFor();
  const c1 = await offer.locator('.countdown').textContent();
  check(/^\d+:\d\d$/.test(c1), 'countdown shows m:ss, not ' + JSON.stringify(c1));
  // It ticks once a second: within 5 s it shows another value.
  await page.waitForFunction(([id, was]) => {
    const e = document.querySelector(`.offer[data-order="${id}"] .countdown`);
    return e && e.textContent !== was;
  }, [args.order_id, c1], { timeout: 5000 });
  const c2 = await offer.locator('.countdown').textContent();
  const secs = (c) => { const [m, x] = c.split(':'); return Number(m) * 60 + Number(x); };
  check(/^\d+:\d\d$/.test(c2) && secs(c2) < secs(c1), 'the countdown goes down (' + c1 + ' then ' + c2 + ')');
  const items = await offer.locator('.items').textContent();
  const shot = await screenshot(page, 'pharmacy-offer');
  const load = await weight(page);
  const violations = await axe(page, 'pharmacy workbench');

  await offer.locator('button.accept').click();
  await offer.waitFor({ state: 'detached' });
  const held = page.locator(`.held[data-order="${args.order_id}"]`);
  await held.locator('.state', { hasText: 'ACCEPTED' }).waitFor();
  await held.locator('button.ready').click();
  await held.locator('.state', { hasText: 'READY' }).waitFor();

  await page.setInputFiles('#stock-file', {
    name: 'stock.csv', mimeType: 'text/csv',
    buffer: Buffer.from('drug_code,quantity\nPZN-100,40\nbad code!,3\nPZN-200,7\n'),
  });
  await page.click('#stock-form button[type=submit]');
  const msg = await messageMatching(page, /库存已更新：2 /);
  const rejected = await page.locator('#stock-result .rejected li').allTextContents();
  check(rejected.length === 1 && rejected[0].includes('bad code!'), 'one rejected row shown: ' + JSON.stringify(rejected));
  await screenshot(page, 'pharmacy-after');
  await page.setViewportSize({ width: 768, height: 1024 }); // a tablet at the counter
  await screenshot(page, 'pharmacy-tablet');
  await axe(page, 'pharmacy workbench on a tablet');
  return { load, countdown: [c1, c2], items, shot, violations, stock_message: msg, rejected };
});
