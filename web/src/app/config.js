// The page's configuration: /config.json of the web service (region, time
// zone, API origins, map tiles), fetched once per page.
let cached = null;

export async function loadConfig() {
  if (!cached) {
    const r = await fetch('/config.json', { cache: 'no-store' });
    if (!r.ok) throw new Error('config.json: HTTP ' + r.status);
    cached = await r.json();
  }
  return cached;
}
