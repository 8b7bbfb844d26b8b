// Turns the rounds into medians, Tessera/reference ratios, the issue's targets, a table, the JSON file in
// bench/results/ and a comparison with the previous file.
import fs from 'node:fs';
import path from 'node:path';
import type { CostRow } from './cost.ts';

export interface Row {
  round: number;
  scenario: string;
  server: string;
  /** Requests/s, or complete flows/s for flow scenarios. */
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpuPct: number;
  firstError?: string;
}

export interface Summary extends Omit<Row, 'round' | 'firstError'> {
  /** rps per fully used server core: rps / (CPU% / 100). */
  perCore: number;
  /** This server's rps / the reference's, per round, and their median (Tessera rows only). */
  ratios?: number[];
  ratio?: number;
}

export interface Memory {
  server: string;
  idleMb: number;
  logins: number;
  /** RSS after the first half of the logins: growth that goes on in the second half is live data or a leak. */
  halfwayMb: number;
  afterMb: number;
  settledMb: number;
  growthMb: number;
  /** Live data after full GCs (the heap probe), read after each RSS reading: V8 heap and memory outside it, MB. */
  live?: Record<'idle' | 'halfway' | 'after', { heapMb: number; externalMb: number }>;
  flowsPerS: number;
  p99: number;
  errors: number;
  cpuPct: number;
  firstError?: string;
}

export interface Target {
  name: string;
  value: string;
  goal: string;
  pass: boolean;
}

export interface Results {
  version: 1;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
  rows: Row[];
  summary: Summary[];
  memory: Memory[];
  targets: Target[];
  /** With MONGODB_URI: store commands per operation (bench/cost.ts). */
  mongoCost?: CostRow[];
}

export const median = (xs: number[]) => {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

export function percentile(xs: number[], p: number): number {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}

export function summarize(rows: Row[], reference = 'reference'): Summary[] {
  const out: Summary[] = [];
  const keys = [...new Set(rows.map((r) => `${r.scenario}\u0000${r.server}`))];
  for (const key of keys) {
    const [scenario, server] = key.split('\u0000');
    const mine = rows.filter((r) => r.scenario === scenario && r.server === server);
    const s: Summary = {
      scenario, server,
      rps: median(mine.map((r) => r.rps)),
      p50: median(mine.map((r) => r.p50)),
      p99: median(mine.map((r) => r.p99)),
      errors: mine.reduce((a, r) => a + r.errors, 0),
      cpuPct: median(mine.map((r) => r.cpuPct)),
      perCore: median(mine.map((r) => r.rps / Math.max(r.cpuPct / 100, 0.01))),
    };
    if (server !== reference) {
      const ratios = mine
        .map((r) => [r, rows.find((x) => x.scenario === scenario && x.server === reference && x.round === r.round)] as const)
        .filter(([, ref]) => ref && ref.rps > 0)
        .map(([r, ref]) => r.rps / ref!.rps);
      if (ratios.length) (s.ratios = ratios), (s.ratio = median(ratios));
    }
    out.push(s);
  }
  return out;
}

const f = (n: number, d = 0) => (Number.isFinite(n) ? n.toFixed(d) : '–');
/** autocannon records whole milliseconds: 0 means under 1 ms. */
const ms = (n: number) => (n === 0 ? '<1' : f(n, 1));

export function table(summary: Summary[], units: Record<string, string>): string {
  const head = ['scenario', 'server', 'rate', 'p50 ms', 'p99 ms', 'errors', 'CPU %', 'rate/core', 'ratio (rounds)'];
  const lines = summary.map((s) => [
    s.scenario, s.server, `${f(s.rps, s.rps < 100 ? 1 : 0)} ${units[s.scenario] ?? 'req/s'}`, ms(s.p50), ms(s.p99), String(s.errors),
    f(s.cpuPct), f(s.perCore, s.perCore < 100 ? 1 : 0), s.ratio === undefined ? '' : `${s.ratio.toFixed(2)}× (${s.ratios!.map((r) => r.toFixed(2)).join(' ')})`,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 7 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [row(head), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(row)].join('\n');
}

export function memoryTable(memory: Memory[]): string {
  return memory
    .map((m) => `${m.server}: RSS idle ${f(m.idleMb, 1)} MB → halfway ${f(m.halfwayMb, 1)} MB → after ${m.logins} logins ${f(m.afterMb, 1)} MB (${f(m.settledMb, 1)} MB 5 s later), ` +
      `growth ${f(m.growthMb, 1)} MB (second half ${f(m.afterMb - m.halfwayMb, 1)} MB); ` +
      `${f(m.flowsPerS, 1)} logins/s, p99 ${f(m.p99)} ms, CPU ${f(m.cpuPct)} %, errors ${m.errors}${m.firstError ? ` (${m.firstError})` : ''}` +
      (m.live ? `\n${' '.repeat(m.server.length + 2)}${liveText(m.live, m.logins)}` : ''))
    .join('\n');
}

/** The live-data line: what full GCs leave, and how much each login added in each half (linear = live artifacts). */
function liveText(live: NonNullable<Memory['live']>, logins: number): string {
  const total = (x: { heapMb: number; externalMb: number }) => x.heapMb + x.externalMb;
  const kbPerLogin = (from: typeof live.idle, to: typeof live.idle) => ((total(to) - total(from)) * 1024) / (logins / 2);
  return `live after full GC: idle ${f(live.idle.heapMb, 1)} MB heap + ${f(live.idle.externalMb, 1)} MB outside it → halfway ` +
    `${f(live.halfway.heapMb, 1)} + ${f(live.halfway.externalMb, 1)} MB → after ${f(live.after.heapMb, 1)} + ${f(live.after.externalMb, 1)} MB; ` +
    `per login ${f(kbPerLogin(live.idle, live.halfway), 2)} KB (first half), ${f(kbPerLogin(live.halfway, live.after), 2)} KB (second half)`;
}

export function targetsText(targets: Target[]): string {
  const w = Math.max(...targets.map((t) => t.name.length));
  return targets.map((t) => `${t.pass ? 'PASS' : 'MISS'}  ${t.name.padEnd(w)}  ${t.value}  (goal ${t.goal})`).join('\n');
}

export function resultsDir(root: string): string {
  const dir = path.join(root, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** The newest earlier results file, if any (names are timestamps, so they sort by time). */
export function previous(dir: string): Results | null {
  const files = fs.readdirSync(dir).filter((n) => /^\d{4}-.*\.json$/.test(n)).sort();
  if (!files.length) return null;
  try {
    return { ...(JSON.parse(fs.readFileSync(path.join(dir, files[files.length - 1]), 'utf8')) as Results), startedAt: files[files.length - 1] };
  } catch {
    return null;
  }
}

export function save(dir: string, results: Results): string {
  const file = path.join(dir, `${results.startedAt.replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  return file;
}

export function compare(prev: Results, now: Results): string {
  const lines = [`vs ${prev.startedAt}${prev.quick ? ' (quick run)' : ''}:`];
  for (const s of now.summary) {
    const p = prev.summary.find((x) => x.scenario === s.scenario && x.server === s.server);
    if (!p) continue;
    const d = ((s.rps - p.rps) / p.rps) * 100;
    lines.push(`  ${`${s.scenario} / ${s.server}`.padEnd(40)} ${f(p.rps, 1).padStart(8)} → ${f(s.rps, 1).padStart(8)}  (${d >= 0 ? '+' : ''}${f(d, 1)} %)  p99 ${f(p.p99, 1)} → ${f(s.p99, 1)} ms`);
  }
  for (const m of now.memory) {
    const p = prev.memory.find((x) => x.server === m.server);
    if (p) lines.push(`  ${`RSS idle / ${m.server}`.padEnd(40)} ${f(p.idleMb, 1).padStart(8)} → ${f(m.idleMb, 1).padStart(8)} MB; growth ${f(p.growthMb, 1)} → ${f(m.growthMb, 1)} MB`);
  }
  for (const t of now.targets) {
    const p = prev.targets.find((x) => x.name === t.name);
    if (p && p.pass !== t.pass) lines.push(`  target "${t.name}": ${p.pass ? 'PASS' : 'MISS'} → ${t.pass ? 'PASS' : 'MISS'}`);
  }
  return lines.join('\n');
}
