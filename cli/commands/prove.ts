import { writeFileSync } from 'node:fs';
import { ProveDriver, ProveTiming } from '../prove/driver';
import { proveReportHtml, proveSectionHtml } from '../prove/html';
import { renderLiveHtml } from '../live-report';
import { collectLiveReport } from './report';
import { proofRunCostUsd } from '../prove/cost';
import { runScenario, ScenarioResult, SCENARIOS } from '../prove/scenarios';
import { EXIT_FAILED, UsageError } from '../errors';
import { CliDeps, CliIo } from '../io';
import { CommonOptions, Session } from '../session';

/** Options of `prove`. */
export interface ProveOptions extends CommonOptions {
  /** Only these scenarios (repeat or comma-separate). @default all */
  readonly scenario?: string[];
  /** Longest wait for one execution or message, seconds. @default 180 */
  readonly waitSeconds?: string;
  /** Between polls, ms. @default 1000 */
  readonly pollMs?: string;
  /** Wait before the lost-task query, seconds. @default the stage's paramLog.bufferSeconds + 60 */
  readonly settleSeconds?: string;
  /** Also write the report as one HTML page to this file. */
  readonly html?: string;
}

function positive(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a number of at least 0, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * `scheduled-jobs prove --stage <sandbox>`: drives the proof job of a deployed sandbox stage through
 * the scenarios of docs/prove.md and prints PASS/FAIL with the evidence. Refuses any stage without
 * `sandbox: true` before any AWS call. Exit 0 when every scenario passed, 1 otherwise.
 */
export async function prove(session: Session, o: ProveOptions, io: CliIo, deps: CliDeps): Promise<number> {
  if (!session.config.sandbox) {
    throw new UsageError(`Stage ${session.stage} is not a sandbox: prove runs only against a stage with sandbox: true`, `Deploy a sandbox stage (stages.<name>.sandbox: true in bin/config.ts) and run prove --stage <name>; see docs/prove.md.`);
  }
  const wanted = (o.scenario ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const unknown = wanted.filter((w) => !SCENARIOS.some((s) => s.name === w));
  if (unknown.length > 0) throw new UsageError(`Unknown scenario ${unknown.join(', ')}`, `Scenarios: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const scenarios = wanted.length === 0 ? SCENARIOS : SCENARIOS.filter((s) => wanted.includes(s.name));
  const timing: ProveTiming = {
    waitMs: positive('--wait-seconds', o.waitSeconds, 180) * 1000,
    pollMs: positive('--poll-ms', o.pollMs, 1000),
    settleMs: positive('--settle-seconds', o.settleSeconds, session.config.paramLog.bufferSeconds + 60) * 1000,
    sleep: deps.sleep,
    now: () => deps.now().getTime(),
  };
  // Priced by the cost model over the stage's synthesized template (seconds), before anything runs.
  let estimate: { usd: number; lines: Array<[string, number]> } | null = null;
  let estimateError: string | undefined;
  try {
    estimate = proofRunCostUsd(session.config);
  } catch (e) {
    estimateError = e instanceof Error ? e.message : String(e);
  }
  const driver = new ProveDriver(session, timing);
  if (!o.json) {
    io.out(`Proving stack ${session.stackName} (run ${driver.runId}): ${scenarios.length} scenario(s).\n`);
    if (estimate) io.out(`Estimated cost of this run: $${estimate.usd.toFixed(4)} (the cost model, scripts/cost/model.ts, at list prices; the largest item: ${[...estimate.lines].sort((x, y) => y[1] - x[1])[0]?.[0] ?? 'none'})\n\n`);
    else io.out(`Cost of this run not estimated: the cost model failed: ${estimateError}.\n\n`);
  }
  const runStart = deps.now();
  const results: ScenarioResult[] = [];
  for (const s of scenarios) {
    const r = await runScenario(s, driver);
    results.push(r);
    if (!o.json) {
      io.out(`${r.pass ? 'PASS' : 'FAIL'}  ${s.name}: ${s.title}\n`);
      for (const c of r.checks) io.out(`      ${c.ok ? 'ok ' : 'NOT'} ${c.check}: ${c.seen}\n`);
      if (r.error) io.out(`      error: ${r.error}\n`);
      for (const [k, v] of Object.entries(r.evidence)) io.out(`      ${k}: ${Array.isArray(v) ? v.join(', ') : v}\n`);
      io.out(`      only AWS can decide: ${r.awsOnly.join('; ')}\n`);
    }
  }
  const failed = results.filter((r) => !r.pass).length;
  if (o.html) {
    const run = { stack: session.stackName, runId: driver.runId, at: runStart.toISOString(), estimatedCostUsd: estimate?.usd ?? null, scenarios: results };
    // The report page (`scheduled-jobs report`, the offline report's renderer) over the run's period,
    // read from the stage after the run, with the scenarios under its verdict.
    let page: string;
    try {
      const live = await collectLiveReport(session, { since: new Date(runStart.getTime() - 60_000), now: deps.now(), timeoutMs: timing.waitMs, deps });
      page = renderLiveHtml(live, { section: proveSectionHtml(run) });
    } catch (e) {
      page = proveReportHtml({ ...run, reportError: e instanceof Error ? e.message : String(e) });
    }
    writeFileSync(o.html, page);
    if (!o.json) io.out(`Report written to ${o.html}\n`);
  }
  if (o.json) io.out(`${JSON.stringify({ stack: session.stackName, runId: driver.runId, estimatedCostUsd: estimate ? Number(estimate.usd.toFixed(4)) : null, passed: results.length - failed, failed, scenarios: results }, null, 2)}\n`);
  else io.out(`\n${failed === 0 ? 'All' : `${results.length - failed} of`} ${results.length} scenario(s) passed.\n`);
  return failed === 0 ? 0 : EXIT_FAILED;
}
