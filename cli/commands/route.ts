import type { Command } from 'commander';
import { loadCity } from '../../config/index.ts';

function num(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got ${JSON.stringify(v)}`);
  return n;
}

/** `gridwatch route --category C --lat Y --lon X`: which rules send such a case where, and why. */
export function registerRoute(program: Command): void {
  program
    .command('route')
    .description('show which routing rules match a category at a place and time, and why')
    .requiredOption('--category <code>', 'category code, e.g. illegal_parking')
    .requiredOption('--lat <deg>', 'latitude', num)
    .requiredOption('--lon <deg>', 'longitude', num)
    .option('--at <time>', 'when (ISO 8601); now when absent')
    .option('--config <file>', 'city config (YAML)', 'config/demo-city.yaml')
    .option('--json', 'print JSON')
    .action(async (opts: { category: string; lat: number; lon: number; at?: string; config: string; json?: boolean }) => {
      const { RoutingTable } = await import('../../router/index.ts');
      const city = loadCity(opts.config);
      if (!city.categories.has(opts.category)) {
        process.stderr.write(`unknown category ${JSON.stringify(opts.category)}; the city has: ${[...city.categories.keys()].join(', ')}\n`);
        process.exitCode = 2;
        return;
      }
      const at = opts.at ? new Date(opts.at) : new Date();
      if (Number.isNaN(at.getTime())) throw new Error(`--at: not a time: ${opts.at}`);
      const hit = city.grid.locate(opts.lat, opts.lon);
      const path = hit?.path ?? [];
      const decision = new RoutingTable(city).route(opts.category, path, at);
      const sla = city.config.sla;
      const policies = decision.departments.map((d) => ({ department: d, sla: sla.find((p) => (!p.categories || p.categories.includes(opts.category)) && (!p.departments || p.departments.includes(d))) ?? sla[sla.length - 1]! }));
      if (opts.json) {
        process.stdout.write(JSON.stringify({ category: opts.category, path, ...decision, sla: policies.map((p) => ({ department: p.department, policy: p.sla.id, sign_within_s: p.sla.sign_within_s, resolve_within_s: p.sla.resolve_within_s })) }, null, 2) + '\n');
        return;
      }
      const out: string[] = [];
      out.push(`place: ${hit ? `cell ${hit.cell.id} (${path.join(' / ')})` : 'outside every grid cell'}; local time ${decision.localTime} (${city.config.city.timezone})`);
      if (decision.isDefault) out.push(`no rule matched: default route to ${decision.departments[0]} (routing.default_department)`);
      for (const m of decision.matches) out.push(`rule ${m.rule} → ${m.departments.join(', ')}: ${m.why}`);
      for (const p of policies) out.push(`SLA for ${p.department}: policy ${p.sla.id}, sign within ${p.sla.sign_within_s} s, resolve within ${p.sla.resolve_within_s} s`);
      out.push(`dispatch to: ${decision.departments.join(', ')}${decision.departments.length > 1 ? ' (joint handling)' : ''}`);
      process.stdout.write(out.join('\n') + '\n');
    });
}
