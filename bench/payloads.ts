// Record values for the cost benchmarks that are neither a repeated byte (which any compression
// erases, flattering a store that compresses) nor only noise: JSON business events of an exact
// size, varied per record (ids, timestamps, amounts, a free-text note), from a seeded generator
// so that runs compare. A 1 KiB one deflates to 510-610 bytes on its own (~1.8x), in the range
// of real single-event JSON; random bytes stand for payloads that are already compressed or encrypted.
import { mulberry32 } from '../test/helpers/mulberry32';

/** The records' PRNG: the same seed gives the same records in every run. */
export const seeded = mulberry32;

const WORDS = 'the a customer order shipped delayed warehouse refund payment card declined address updated package carrier tracking delivered returned item size color promo applied loyalty points cart checkout session mobile web android ios browser page view search query results filter price low high'.split(' ');
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'okhttp/4.12.0',
];
const TYPES = ['order.created', 'order.updated', 'payment.captured', 'shipment.dispatched', 'cart.abandoned', 'page.viewed'];
const COUNTRIES = ['DE', 'US', 'FR', 'GB', 'JP', 'BR', 'IN', 'NL'];

/** One JSON event of exactly `size` bytes (ASCII). */
export function jsonEvent(r: () => number, size: number): Uint8Array {
  const hex = (n: number): string => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)]!;
  const ev = {
    event_id: `${hex(8)}-${hex(4)}-4${hex(3)}-${hex(4)}-${hex(12)}`,
    type: pick(TYPES),
    occurred_at: new Date(1764547200000 + Math.floor(r() * 86400000)).toISOString(),
    customer: { id: `cus_${hex(12)}`, email: `user${Math.floor(r() * 1e6)}@example.com`, country: pick(COUNTRIES) },
    items: Array.from({ length: 1 + Math.floor(r() * 4) }, () => ({ sku: `SKU-${Math.floor(r() * 100000)}`, qty: 1 + Math.floor(r() * 5), price: Math.round(r() * 20000) / 100 })),
    total: Math.round(r() * 50000) / 100,
    session: { ip: `${Math.floor(r() * 223) + 1}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}.${Math.floor(r() * 256)}`, user_agent: pick(AGENTS) },
    note: '',
  };
  const bare = JSON.stringify(ev).length;
  let note = '';
  while (bare + note.length < size) note += (note ? ' ' : '') + pick(WORDS);
  ev.note = note.slice(0, Math.max(0, size - bare));
  return new TextEncoder().encode(JSON.stringify(ev).slice(0, size).padEnd(size, ' '));
}

/** `size` random bytes (seeded): what an already-compressed or encrypted value looks like. */
export function randomValue(r: () => number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = Math.floor(r() * 256);
  return out;
}
