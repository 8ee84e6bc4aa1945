import { esc, REPORT_STYLE } from '../../local/offline-day/report';
import { ScenarioResult } from './scenarios';

/**
 * The prove run as a section of the report page (cli/live-report.ts renders the page with the offline
 * report's renderer, filled from the stage over the run): the verdict, then per scenario its checks
 * with what was seen, the evidence and what only AWS decides.
 */
export function proveSectionHtml(r: { runId: string; at: string; estimatedCostUsd: number | null; scenarios: ReadonlyArray<ScenarioResult> }): string {
  const failed = r.scenarios.filter((s) => !s.pass).length;
  return `<h2 class="${failed === 0 ? 'ok' : 'bad'}">prove run ${esc(r.runId)}: ${r.scenarios.length - failed} of ${r.scenarios.length} scenarios passed</h2>
<p>At ${esc(r.at)}; estimated cost ${r.estimatedCostUsd === null ? 'not estimated' : `$${r.estimatedCostUsd.toFixed(4)} (cost model)`}. The rest of the page is the stage over the run: the run's tasks are the <code>proof</code> job's.</p>
${scenarioSections(r.scenarios)}`;
}

function scenarioSections(scenarios: ReadonlyArray<ScenarioResult>): string {
  return scenarios
    .map((s) => {
      const checks = s.checks.map((c) => `<li class="${c.ok ? 'ok' : 'bad'}">${c.ok ? 'ok' : 'NOT'} ${esc(c.check)}: <code>${esc(c.seen)}</code></li>`).join('');
      const evidence = Object.entries(s.evidence)
        .map(([k, v]) => `<li>${esc(k)}: <code>${esc(Array.isArray(v) ? v.join(', ') : String(v))}</code></li>`)
        .join('');
      return `<h2 class="${s.pass ? 'ok' : 'bad'}">${s.pass ? 'PASS' : 'FAIL'} ${esc(s.scenario)}</h2><ul>${checks}${s.error ? `<li class="bad">error: <code>${esc(s.error)}</code></li>` : ''}</ul><h3>Evidence</h3><ul>${evidence}</ul><h3>Only AWS can decide</h3><ul>${s.awsOnly.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>`;
    })
    .join('\n');
}

/**
 * The prove report alone, as one page: only when the stage's report data could not be read after the
 * run (`reportError` says why), so the verdicts are never lost.
 */
export function proveReportHtml(r: { stack: string; runId: string; at: string; estimatedCostUsd: number | null; scenarios: ReadonlyArray<ScenarioResult>; reportError?: string }): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>scheduled-jobs prove: ${esc(r.stack)}</title>
<style>${REPORT_STYLE}</style></head><body>
<h1>scheduled-jobs prove: ${esc(r.stack)}</h1>
${r.reportError ? `<p class="bad">The stage's report could not be read after the run: ${esc(r.reportError)}</p>` : ''}
${proveSectionHtml(r)}
</body></html>
`;
}
