// The loss curve of a run as a self-contained SVG, drawn from metrics.jsonl rows: training loss per
// step (faint), its moving average (solid), validation loss (dots). No dependencies; opens in a browser.

export interface MetricsRow { step: number; loss?: number; val_loss?: number }

function niceTicks(lo: number, hi: number, n: number): number[] {
  const span = hi - lo || 1, raw = span / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= n) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-12; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

export function renderLossCurve(rows: MetricsRow[], title: string): string {
  const W = 800, H = 450, L = 60, R = 20, Tp = 40, Bt = 50;
  const train = rows.filter((r) => typeof r.loss === "number" && Number.isFinite(r.loss)) as Array<{ step: number; loss: number }>;
  const val = rows.filter((r) => typeof r.val_loss === "number" && Number.isFinite(r.val_loss)) as Array<{ step: number; val_loss: number }>;
  const ys = [...train.map((r) => r.loss), ...val.map((r) => r.val_loss)];
  const xs = [...train.map((r) => r.step), ...val.map((r) => r.step)];
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  let svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">\n`;
  svg += `<rect width="${W}" height="${H}" fill="white"/>\n<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>\n`;
  if (ys.length === 0) return svg + `<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no data yet</text>\n</svg>\n`;
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const y0 = Math.min(...ys), y1 = Math.max(...ys, y0 + 1e-3);
  const px = (x: number) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y: number) => Tp + (1 - (y - y0) / (y1 - y0)) * (H - Tp - Bt);
  for (const t of niceTicks(y0, y1, 6))
    svg += `<line x1="${L}" x2="${W - R}" y1="${py(t).toFixed(1)}" y2="${py(t).toFixed(1)}" stroke="#eee"/><text x="${L - 6}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${t}</text>\n`;
  for (const t of niceTicks(x0, x1, 8))
    svg += `<text x="${px(t).toFixed(1)}" y="${H - Bt + 18}" text-anchor="middle">${t}</text>\n`;
  svg += `<line x1="${L}" x2="${L}" y1="${Tp}" y2="${H - Bt}" stroke="#333"/><line x1="${L}" x2="${W - R}" y1="${H - Bt}" y2="${H - Bt}" stroke="#333"/>\n`;
  svg += `<text x="${W / 2}" y="${H - 12}" text-anchor="middle">optimizer step</text><text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">loss (ce + z-loss)</text>\n`;
  const pts = (a: Array<[number, number]>) => a.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ");
  if (train.length) {
    svg += `<polyline fill="none" stroke="#9ec5e8" stroke-width="1" points="${pts(train.map((r) => [r.step, r.loss]))}"/>\n`;
    const k = Math.max(1, Math.round(train.length / 50));
    const avg = train.map((r, i) => { const a = train.slice(Math.max(0, i - k + 1), i + 1); return [r.step, a.reduce((s, q) => s + q.loss, 0) / a.length] as [number, number]; });
    svg += `<polyline fill="none" stroke="#1f6fb5" stroke-width="2" points="${pts(avg)}"/>\n`;
  }
  for (const r of val) svg += `<circle cx="${px(r.step).toFixed(1)}" cy="${py(r.val_loss).toFixed(1)}" r="3.5" fill="#d9480f"/>\n`;
  svg += `<line x1="${W - 200}" x2="${W - 180}" y1="${Tp + 10}" y2="${Tp + 10}" stroke="#1f6fb5" stroke-width="2"/><text x="${W - 175}" y="${Tp + 14}">train (moving average)</text>\n`;
  svg += `<circle cx="${W - 190}" cy="${Tp + 28}" r="3.5" fill="#d9480f"/><text x="${W - 175}" y="${Tp + 32}">validation</text>\n`;
  return svg + "</svg>\n";
}
