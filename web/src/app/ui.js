// Small DOM helpers shared by the pages: element building (no innerHTML of
// data), times in the region's time zone, countdowns, the message line and
// the page header (who is signed in, language switch, sign out).
import { loadConfig } from './config.js';
import { t, lang, setLang, applyI18n } from './i18n.js';
import { session, signOut } from './session.js';

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export const $ = (sel, root = document) => root.querySelector(sel);

// A table of rows under translated column heads, or the emptyKey line.
export function table(heads, rows, emptyKey) {
  if (!rows.length) return el('p', { class: 'muted', text: t(emptyKey) });
  return el('table', {},
    el('thead', {}, el('tr', {}, ...heads.map((h) => el('th', { scope: 'col', text: t(h) })))),
    el('tbody', {}, ...rows));
}

let tz = 'UTC';
export async function initTimeZone() {
  const cfg = await loadConfig();
  tz = cfg.tz || 'UTC';
  return tz;
}

// A unix-ms time as the region's wall clock (date and time, 24 h).
export function formatTime(ms, withDate = true) {
  if (!ms) return '-';
  const opts = { timeZone: tz, hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' };
  if (withDate) Object.assign(opts, { year: 'numeric', month: '2-digit', day: '2-digit' });
  return new Intl.DateTimeFormat(lang(), opts).format(new Date(ms));
}

// Seconds left to a deadline as m:ss, or the "expired" word.
export function formatLeft(deadlineMs, now = Date.now()) {
  const s = Math.ceil((deadlineMs - now) / 1000);
  if (s <= 0) return t('expired');
  return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
}

// Every element with data-deadline shows its countdown, ticked once a second.
export function startCountdowns() {
  const tick = () => {
    for (const e of document.querySelectorAll('[data-deadline]')) {
      const left = Number(e.dataset.deadline) - Date.now();
      e.textContent = formatLeft(Number(e.dataset.deadline));
      e.classList.toggle('urgent', left < 15000);
    }
  };
  tick();
  return setInterval(tick, 1000);
}

// The page's message line (role=status, or role=alert for errors).
export function say(text, kind = 'info') {
  const box = $('#message');
  if (!box) return;
  box.textContent = text;
  box.className = 'message ' + kind;
  box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  box.hidden = !text;
}

export function sayError(e) {
  say(e && e.message ? e.message : String(e), 'error');
}

// The header: title, who is signed in, language switch, sign-out.
export function header(titleKey) {
  const s = session();
  const bar = $('#topbar');
  bar.replaceChildren(
    el('h1', { 'data-i18n': titleKey, text: t(titleKey) }),
    el('span', { class: 'who', id: 'who', text: s ? s.role + ' ' + s.id : '' }),
    el('button', {
      type: 'button', class: 'secondary', id: 'lang-switch', lang: lang() === 'en' ? 'zh-CN' : 'en',
      text: lang() === 'en' ? '中文' : 'English',
      onclick: () => { setLang(lang() === 'en' ? 'zh-CN' : 'en'); location.reload(); },
    }),
    el('button', {
      type: 'button', class: 'secondary', id: 'sign-out', 'data-i18n': 'sign_out', text: t('sign_out'),
      onclick: () => { signOut(); location.replace('/login/'); },
    }),
  );
  document.title = t(titleKey) + ' · rxdispatch';
  applyI18n();
}

// A short beep through WebAudio (no sound file): a new offer has arrived.
// Browsers allow sound only after the person touched the page once.
let audio = null;
export function beep() {
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.4);
    return true;
  } catch (e) {
    return false;
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
