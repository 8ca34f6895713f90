// The console's strings: every text shown comes from a catalog
// (i18n/<lang>.json), English and French; a Go test fails when a key is
// missing in either or used here without being defined.

/** @type {Record<string, string>} */
let catalog = {};
/** @type {string} */
export let lang = 'en';

/** Loads the catalog of the browser's preferred supported language. */
export async function load() {
  const wanted = (navigator.languages || [navigator.language || 'en']).map((l) => l.slice(0, 2).toLowerCase());
  lang = wanted.find((l) => l === 'fr' || l === 'en') || 'en';
  const res = await fetch(`i18n/${lang}.json`);
  catalog = await res.json();
  document.documentElement.lang = lang;
}

/**
 * Returns the text of key with {name} placeholders filled from vars.
 * @param {string} key
 * @param {Record<string, string|number>} [vars]
 */
export function t(key, vars) {
  const s = catalog[key] ?? key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}

/** @param {string|null|undefined} iso */
export function date(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso));
}

/** @param {string|null|undefined} iso */
export function day(iso) {
  if (!iso) return '';
  return new Intl.DateTimeFormat(lang, { dateStyle: 'medium' }).format(new Date(iso));
}

/**
 * "in 6 days", "3 hours ago", localized.
 * @param {string} iso
 */
export function relative(iso) {
  const diff = (new Date(iso).getTime() - Date.now()) / 1000;
  const rtf = new Intl.RelativeTimeFormat(lang, { numeric: 'auto' });
  /** @type {[Intl.RelativeTimeFormatUnit, number][]} */
  const units = [['year', 31536000], ['month', 2592000], ['week', 604800], ['day', 86400], ['hour', 3600], ['minute', 60]];
  for (const [unit, secs] of units) {
    if (Math.abs(diff) >= secs) return rtf.format(Math.round(diff / secs), unit);
  }
  return rtf.format(Math.round(diff), 'second');
}
