// Stock CSV parsing, in the page: "drug_code,quantity" per line (a header
// line, blank lines and # comments are skipped; ; or tab also separate). Rows
// that the stock API would refuse are rejected here with the reason, so the
// pharmacist sees them before anything is sent.
const CODE = /^[A-Za-z0-9._:-]{1,64}$/;
export const STOCK_MAX_ENTRIES = 2000;
export const QTY_MAX = 1000000;

export function parseStockCsv(text) {
  const items = {};
  const rejected = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const cells = line.split(/[,;\t]/).map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
    if (i === 0 && !/^\d+$/.test(cells[1] || '')) return; // header
    const [code, qty] = cells;
    let why = '';
    // why: a word of i18n.js (csv.*), shown in the person's language
    if (cells.length < 2) why = 'csv.columns';
    else if (!CODE.test(code)) why = 'csv.code';
    else if (!/^\d+$/.test(qty) || Number(qty) > QTY_MAX) why = 'csv.quantity';
    else if (code in items) why = 'csv.repeated';
    else if (Object.keys(items).length >= STOCK_MAX_ENTRIES) why = 'csv.too_many';
    if (why) rejected.push({ line: i + 1, text: raw, why });
    else items[code] = Number(qty);
  });
  return { items, rejected };
}
