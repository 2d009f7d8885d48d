// One-off: a 100k table in a namespace, the exporter on it, its body saved, optional cpu profile.
import { writeFileSync } from 'node:fs';
import { startExporter } from '../test/helpers/exporter';
import { BenchTable } from '../bench/conntrack/table';
import { raiseTableLimits } from '../bench/conntrack/sysctls';
import { fetchTimed } from '../bench/conntrack/measure';

async function main() {
  const limits = raiseTableLimits(200_000);
  const bench = await BenchTable.create();
  try {
    await bench.change('create', 100_000, { offset: 0, hosts: 1000 });
    const extra = (process.env.ARGS ?? '').split(' ').filter((a) => a);
    const exporter = await startExporter(bench.ns, ['--no-resolve-hosts', '--max-hosts', '1000', '--mode', 'events', ...extra], {
      port: 9321, startTimeoutMs: 120000, launcher: process.env.NODEFLAGS ? ['sh', '-c', `exec "$0" ${process.env.NODEFLAGS} "$@" 1>&2`] : process.env.PROFDIR ? ['sh', '-c', `exec "$0" --cpu-prof --cpu-prof-dir=${process.env.PROFDIR} "$@"`] : [],
      program: process.env.PROGRAM,
      
    });
    const body = await exporter.scrape();
    writeFileSync('/tmp/prof/real-body.txt', body);
    const n = Number(process.env.N ?? 0);
    const { readFileSync } = await import('node:fs');
    const pid = exporter.process.pid!;
    const times = () => { const st = readFileSync(`/proc/${pid}/stat`, 'utf8'); const f = st.slice(st.lastIndexOf(')') + 2).split(' '); return [Number(f[11]) * 10, Number(f[12]) * 10]; };
    for (let i = 0; i < 10; i++) await fetchTimed(bench.ns, `${exporter.url}/metrics`, { gzip: process.env.GZ === '1' });
    const [u0, s0] = times();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await fetchTimed(bench.ns, `${exporter.url}/metrics`, { gzip: process.env.GZ === '1' });
    const [u1, s1] = times();
    console.log(`per scrape: user ${((u1 - u0) / n).toFixed(2)} ms, sys ${((s1 - s0) / n).toFixed(2)} ms, wall per loop ${((performance.now() - t0) / n).toFixed(1)} ms`);
    await exporter.stop();
    if (process.env.STDERR) writeFileSync(process.env.STDERR, exporter.stderr());
  } finally {
    await bench.destroy();
    limits.restore();
  }
}
void main();
