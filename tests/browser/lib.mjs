// What the browser scenarios share: Debian's Chromium driven by
// playwright-core (from web/node_modules; no browser download), a login by
// link, screenshots kept as test artefacts, and an axe-core run that fails
// on serious or critical violations.
import { createRequire } from 'node:module';
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(new URL('../../web/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const AXE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const args = JSON.parse(process.argv[2] || '{}');
const ARTIFACTS = args.artifacts || process.env.BROWSER_ARTIFACTS || 'browser-artifacts';

// Flags for this closed network: nothing reaches out on its own (Chromium's
// background fetches would hang on it). Playwright gives every launch a
// fresh temporary profile (its own --user-data-dir) and adds --headless.
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', headless: true, args: FLAGS,
  });
}

// A phone or a counter PC; geolocation granted at a point when given.
export async function newPage(browser, { phone = false, geo = null } = {}) {
  const ctx = await browser.newContext({
    viewport: phone ? { width: 390, height: 844 } : { width: 1280, height: 860 },
    isMobile: phone, hasTouch: phone, locale: 'zh-CN',
    geolocation: geo ? { latitude: geo.lat, longitude: geo.lon, accuracy: 10 } : undefined,
    permissions: geo ? ['geolocation'] : [],
  });
  const page = await ctx.newPage();
  page.setDefaultTimeout(30000);
  const log = [];
  page.on('console', (m) => log.push(m.type() + ': ' + m.text()));
  page.on('pageerror', (e) => log.push('pageerror: ' + e.message));
  page.rxdLog = log;
  return page;
}

// Opens a login link and waits for the role's page; the code must be gone
// from the address and the token only in sessionStorage.
export async function loginByLink(page, link, pagePath) {
  await page.goto(link);
  await page.waitForURL((u) => u.pathname === pagePath);
  check(!page.url().includes('code='), 'the login code left the address: ' + page.url());
  const store = await page.evaluate(() => ({
    token: sessionStorage.getItem('rxd.token'), role: sessionStorage.getItem('rxd.role'), local: localStorage.length,
  }));
  check(store.token && store.token.startsWith('rxd1.'), 'no token in sessionStorage');
  check(store.local === 0, 'localStorage holds ' + store.local + ' entries');
  return store;
}

export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name + '.png');
  await page.screenshot({ path, fullPage: true });
  return path;
}

// axe-core's source is evaluated through the DevTools protocol, which the
// page's CSP (script-src 'self') does not govern: the page under test keeps
// its real CSP (no bypassCSP).
export async function axe(page, name) {
  await page.evaluate(AXE + '\n;0');
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  check(!bad.length, name + ': axe found ' + bad.map((v) => v.id + ' (' + v.impact + ', ' +
    v.nodes.length + ' nodes: ' + v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join('; ') + ')').join(', '));
  return r.violations.map((v) => v.id + ':' + v.impact);
}

// The page's weight (bytes of the page and what it loaded from the web
// origin, API calls left out) and its first contentful paint, in ms.
export async function weight(page) {
  return page.evaluate(() => {
    const origin = location.origin;
    const nav = performance.getEntriesByType('navigation')[0];
    let bytes = nav ? nav.encodedBodySize : 0;
    for (const r of performance.getEntriesByType('resource')) {
      if (r.name.startsWith(origin) && !r.name.startsWith(origin + '/v1/')) bytes += r.encodedBodySize;
    }
    const fcp = performance.getEntriesByName('first-contentful-paint')[0];
    return { bytes, first_paint_ms: fcp ? Math.round(fcp.startTime) : null };
  });
}

export function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

// The text of the page's message line once it matches re.
export async function messageMatching(page, re, timeout = 20000) {
  await page.waitForFunction((src) => {
    const m = document.querySelector('#message');
    return m && !m.hidden && new RegExp(src).test(m.textContent);
  }, re.source, { timeout });
  return page.textContent('#message');
}

// Runs a scenario: prints one JSON line with what it saw, exits 1 on failure
// with the page's console log.
export async function run(fn) {
  const browser = await launch();
  const pages = [];
  const out = { ok: false };
  try {
    Object.assign(out, await fn(browser, pages));
    out.ok = true;
  } catch (e) {
    out.error = e.stack || String(e);
    for (const p of pages) {
      out.log = (out.log || []).concat(p.rxdLog || []);
      try { out.failed_shot = await screenshot(p, 'FAILED-' + (args.name || 'page')); } catch (x) { /* closed */ }
    }
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(out));
  process.exit(out.ok ? 0 : 1);
}
