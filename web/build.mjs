// Builds web/dist/ from web/src/ (plain ES modules: copied as they are) and
// the npm packages the pages load (Leaflet's dist files under
// dist/vendor/leaflet/). Nothing time-dependent is stamped, so the same
// sources and lock file give the same bytes.
import { cpSync, mkdirSync, rmSync, readdirSync, statSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const dist = join(here, 'dist');
const nm = join(here, 'node_modules');

const VENDOR = [
  // [package file or folder, where it goes under dist/]
  ['leaflet/dist/leaflet.js', 'vendor/leaflet/leaflet.js'],
  ['leaflet/dist/leaflet.css', 'vendor/leaflet/leaflet.css'],
  ['leaflet/dist/images', 'vendor/leaflet/images'],
  ['leaflet/LICENSE', 'vendor/leaflet/LICENSE'],
];

rmSync(dist, { recursive: true, force: true });
mkdirSync(dist, { recursive: true });
cpSync(src, dist, { recursive: true });
for (const [from, to] of VENDOR) {
  const f = join(nm, from);
  if (!existsSync(f)) throw new Error(from + ' is missing: run scripts/web-build (npm ci in web/)');
  mkdirSync(dirname(join(dist, to)), { recursive: true });
  cpSync(f, join(dist, to), { recursive: true });
}
for (const page of ['login', 'console', 'pharmacy', 'courier']) {
  if (!existsSync(join(dist, page, 'index.html'))) throw new Error(page + '/index.html is missing');
}

let files = 0;
let bytes = 0;
(function walk(d) {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    const s = statSync(p);
    if (s.isDirectory()) walk(p);
    else { files++; bytes += s.size; }
  }
})(dist);
console.log('web/dist: ' + files + ' files, ' + bytes + ' bytes');
