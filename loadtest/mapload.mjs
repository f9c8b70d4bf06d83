// loadtest/mapload.mjs: one console in headless Chromium for loadtest/mapload.
// Logs in by the link, opens the console, waits until the map's snapshot is
// drawn, then for args.seconds counts the frames the page paints
// (requestAnimationFrame), its long tasks (over 50 ms on the main thread)
// and reads window.rxdMapStats (web/src/console/map.js): every couriers'
// refresh (fetch and draw times) and every live event applied (its age when
// drawn). Prints one JSON line.
// Args: link, seconds, artifacts, name.
import { args, run, newPage, loginByLink, screenshot } from '../tests/browser/lib.mjs';

run(async (browser, pages) => {
  const page = await newPage(browser);
  pages.push(page);
  await loginByLink(page, args.link, '/console/');
  await page.waitForFunction(() => window.rxdMapStats && window.rxdMapStats.snapshots > 0, null, { timeout: 120000 });
  const before = await page.evaluate(() => ({
    refreshes: window.rxdMapStats.refreshes.length, events: window.rxdMapStats.events,
    lags: window.rxdMapStats.lags.length,
  }));
  const seen = await page.evaluate(async (seconds) => {
    let frames = 0;
    const gaps = [];
    let last = performance.now();
    let going = true;
    const tick = (now) => { frames++; gaps.push(now - last); last = now; if (going) requestAnimationFrame(tick); };
    requestAnimationFrame(tick);
    const longTasks = [];
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) longTasks.push(e.duration); });
    try { obs.observe({ type: 'longtask', buffered: false }); } catch (e) { /* not offered */ }
    await new Promise((r) => setTimeout(r, seconds * 1000));
    going = false;
    obs.disconnect();
    // summaries, not the samples: the one JSON line stays short
    gaps.sort((a, b) => a - b);
    return {
      frames, seconds, gap_p99_ms: gaps[Math.floor(gaps.length * 0.99)] || 0, gap_max_ms: gaps[gaps.length - 1] || 0,
      long_tasks: longTasks.length, long_task_max_ms: longTasks.length ? Math.max(...longTasks) : 0,
      markers: document.querySelectorAll('#map path.leaflet-interactive').length,
      couriers_drawn: document.querySelectorAll('#map path.m-courier').length,
      heap_bytes: performance.memory ? performance.memory.usedJSHeapSize : null,
    };
  }, args.seconds);
  const stats = await page.evaluate(() => window.rxdMapStats);
  seen.refreshes = stats.refreshes.slice(before.refreshes);
  seen.lags = stats.lags.slice(before.lags);
  seen.events = stats.events - before.events;
  seen.shot = await screenshot(page, args.name || 'mapload');
  return seen;
});
