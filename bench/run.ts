import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { printInboundBench, runInboundBench } from './inbound';
import { count, mib, ratio, timed, verdict } from './measure';
import { FIRST_WINDOW, generateLog, measureReadInChild, type ReadFigures } from './read-path';
import { printOperateBench, runOperateBench } from './operate';
import { printOutboundBench, runOutboundBench } from './outbound';
import { printPostgresBench, runPostgresBench } from './postgres';
import { printSoak, runSoak, soakOptionsFrom } from './soak';
import { printTriggerBench, runTriggerBench } from './triggers';
import { runWriteBench, type WriteBench, type WriteFigures, type WriteRound } from './write-path';
import { printWriteCostsBench, runWriteCostsBench } from './write-costs';

/** `--quick` (or SWITCHYARD_BENCH_QUICK=1): every figure, on smaller logs and fewer rounds, in a few minutes. */
const QUICK = process.argv.includes('--quick') || process.env.SWITCHYARD_BENCH_QUICK === '1';
const WRITE = QUICK ? { singleCommands: 1_000, batchCommands: 20_000, batchSize: 100, rounds: 3 } : { singleCommands: 2_000, batchCommands: 50_000, batchSize: 100, rounds: 3 };
const LOG_EVENTS = QUICK ? 200_000 : 1_000_000;
/** The operating benchmark builds its log through the bus (minutes at 1M): SWITCHYARD_BENCH_OPERATE_EVENTS shrinks it. */
const SOAK = soakOptionsFrom(process.argv, QUICK);
const OPERATE_EVENTS = Number(process.env.SWITCHYARD_BENCH_OPERATE_EVENTS ?? (QUICK ? 100_000 : 1_000_000));
const TARGET = { groupCommitRatio: 0.8, readAllPerSecond: 200_000 };
/**
 * RSS still rises for a while after the first 100k events, as V8 sizes its heap; what a
 * log-sized buffer would show is far more: a retained event is ~1 KiB, so keeping even
 * 1 in 30 of 1M events would add ~32 MiB. Growth beyond this is "grew with the log".
 */
const RSS_GROWTH_TOLERANCE = 32 * 2 ** 20;

const groupCommitMet = (batch: WriteFigures) => batch.median.ratio >= TARGET.groupCommitRatio;
const readAllMet = (read: ReadFigures) => read.eventsPerSecond >= TARGET.readAllPerSecond;
const rssGrowth = (read: ReadFigures) => read.peakRss - read.peakRssFirstWindow;
const memoryGrew = (read: ReadFigures) => rssGrowth(read) > RSS_GROWTH_TOLERANCE;

function printWrites({ single, batch }: WriteBench): void {
  console.log('\nWrite path: AddDestination = 1 event + 1 command + 1 destination row; WAL, synchronous=FULL');
  console.log('  raw = the same rows (read back from a bus-written file) through plain prepared INSERTs, BEGIN IMMEDIATE … COMMIT');
  for (const f of [single, batch]) {
    const label = f.mode === 'single' ? 'single' : `batch ${f.batchSize}`;
    const shape = f.mode === 'single' ? 'one transaction per command' : `${f.batchSize} commands per transaction`;
    console.log(`  ${shape}, ${count(f.commands)} commands, median of ${f.rounds.length} rounds (each on fresh files)`);
    const line = (prefix: string, r: WriteRound) =>
      `    ${prefix.padEnd(8)}bus ${label.padEnd(9)}${count(r.bus, 7)} cmd/s   raw ${label.padEnd(9)}${count(r.raw, 7)} cmd/s   ratio ${ratio(r.ratio)}`;
    f.rounds.forEach((r, i) => console.log(line(`round ${i + 1}`, r)));
    const target = f === batch ? `   target >= ${ratio(TARGET.groupCommitRatio)}  ${verdict(groupCommitMet(batch))}` : '';
    console.log(line('median', f.median) + target);
  }
}

function printReads(generationSeconds: number, reads: readonly ReadFigures[]): void {
  console.log(
    `\nRead path: ${count(LOG_EVENTS)} DestinationAdded/DestinationRemoved events ` +
      `(generated in ${generationSeconds.toFixed(1)} s, not a figure); each read in a fresh child process`,
  );
  const window = `${FIRST_WINDOW / 1000}k`;
  const indent = ''.padEnd(12);
  for (const read of reads) {
    const target = read.mode === 'readAll' ? `   target >= ${count(TARGET.readAllPerSecond)}  ${verdict(readAllMet(read))}` : '';
    const growth = rssGrowth(read);
    console.log(`  ${read.mode.padEnd(10)}${count(read.eventsPerSecond, 9)} events/s   ${count(read.events)} events in ${read.seconds.toFixed(2)} s${target}`);
    console.log(
      `${indent}RSS start ${mib(read.rssStart)}   peak over first ${window} ${mib(read.peakRssFirstWindow)}   ` +
        `peak over all ${mib(read.peakRss)}   maxrss ${mib(read.maxRss)}`,
    );
    console.log(
      `${indent}growth after the first ${window}: ${mib(growth)} (${(growth / (read.events - FIRST_WINDOW)).toFixed(1)} B/event)   ` +
        (memoryGrew(read)
          ? `memory GREW with the log (> ${mib(RSS_GROWTH_TOLERANCE)})`
          : `memory did not grow with the log (< ${mib(RSS_GROWTH_TOLERANCE)})`),
    );
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  try {
    console.log(`Switchyard benchmark${QUICK ? ' (--quick)' : ''}: Node ${process.version}, ${cpus().length} cores, files in ${dir}`);
    const { value: summary, seconds } = await timed(async () => {
      const inbound = await runInboundBench(dir, QUICK);
      printInboundBench(inbound);

      const write = await runWriteBench({ dir, ...WRITE });
      printWrites(write);
      printWriteCostsBench(await runWriteCostsBench(dir, WRITE.rounds));

      const log = join(dir, 'log.db');
      const generation = await timed(() => generateLog(log, LOG_EVENTS));
      // One after the other: two readers at once would share the 2 cores and the page cache.
      const readAll = await measureReadInChild('readAll', log);
      const subscribe = await measureReadInChild('subscribe', log);
      printReads(generation.seconds, [readAll, subscribe]);

      const outbound = await runOutboundBench(QUICK);
      printOutboundBench(outbound);

      const soak = await runSoak(SOAK);
      printSoak(soak);

      const triggers = runTriggerBench();
      printTriggerBench(triggers);

      printPostgresBench(await runPostgresBench(dir, QUICK));

      const operate = await runOperateBench(dir, OPERATE_EVENTS);
      printOperateBench(operate);
      return {
        inbound,
        outbound,
        soak,
        triggers,
        operate,
        write: { ...write, groupCommitTarget: TARGET.groupCommitRatio, groupCommitPass: groupCommitMet(write.batch) },
        read: {
          events: LOG_EVENTS,
          generationSeconds: generation.seconds,
          readAll: { ...readAll, target: TARGET.readAllPerSecond, pass: readAllMet(readAll), memoryGrew: memoryGrew(readAll) },
          subscribe: { ...subscribe, memoryGrew: memoryGrew(subscribe) },
        },
      };
    });
    console.log(`\nwhole run ${seconds.toFixed(1)} s`);
    console.log('BENCH_JSON ' + JSON.stringify({ ...summary, seconds }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
