// The service worker: keeps the page's own files (HTML, scripts, kernels, tokenizer) so the page opens with
// no network once visited. Network first, so an updated build is picked up; the cache when offline.
// Cached responses keep their COOP/COEP headers, so the page stays cross-origin isolated offline.
// Model files are not handled here: the engine worker keeps them in Cache Storage itself (model_source.ts).

declare const __SHELL__: string[];
declare const __BUILD__: string;

interface FetchEvent extends Event { request: Request; respondWith(r: Promise<Response>): void }
interface ExtendableEvent extends Event { waitUntil(p: Promise<unknown>): void }
interface SwScope { skipWaiting(): Promise<void>; clients: { claim(): Promise<void> }; registration: { scope: string };
  addEventListener(t: "install" | "activate", f: (e: ExtendableEvent) => void): void; addEventListener(t: "fetch", f: (e: FetchEvent) => void): void }

const sw = globalThis as unknown as SwScope;
const SHELL = `openelm-shell-${__BUILD__}`;
const shellUrls = () => new Set(__SHELL__.map((p) => new URL(p, sw.registration.scope).href));

sw.addEventListener("install", (e) => {
  e.waitUntil(caches.open(SHELL).then((c) => c.addAll([...shellUrls()])).then(() => sw.skipWaiting()));
});

sw.addEventListener("activate", (e) => {
  e.waitUntil(caches.keys().then((keys) => Promise.all(keys.filter((k) => k.startsWith("openelm-shell-") && k !== SHELL).map((k) => caches.delete(k))))
    .then(() => sw.clients.claim()));
});

sw.addEventListener("fetch", (e) => {
  const url = new URL(e.request.url);
  url.search = ""; // the page's URL parameters do not change the file
  if (e.request.method !== "GET" || !shellUrls().has(url.href)) return;
  e.respondWith(fetch(e.request).then((r) => {
    if (r.ok) { const copy = r.clone(); void caches.open(SHELL).then((c) => c.put(url.href, copy)); }
    return r;
  }).catch(async () => (await caches.match(url.href)) ?? Response.error()));
});
