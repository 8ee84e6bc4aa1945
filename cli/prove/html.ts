import { ScenarioResult } from './scenarios';

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The prove report as one self-contained HTML page (no scripts, no external assets), for the deploy
 * review: per scenario its verdict, checks with what was seen, the evidence and what only AWS decides.
 */
export function proveReportHtml(r: { stack: string; runId: string; at: string; estimatedCostUsd: number | null; scenarios: ReadonlyArray<ScenarioResult> }): string {
  const failed = r.scenarios.filter((s) => !s.pass).length;
  const rows = r.scenarios
    .map((s) => {
      const checks = s.checks.map((c) => `<li class="${c.ok ? 'ok' : 'bad'}">${c.ok ? 'ok' : 'NOT'} ${esc(c.check)}: <code>${esc(c.seen)}</code></li>`).join('');
      const evidence = Object.entries(s.evidence)
        .map(([k, v]) => `<li>${esc(k)}: <code>${esc(Array.isArray(v) ? v.join(', ') : String(v))}</code></li>`)
        .join('');
      return `<section><h2 class="${s.pass ? 'ok' : 'bad'}">${s.pass ? 'PASS' : 'FAIL'} ${esc(s.scenario)}</h2><ul>${checks}${s.error ? `<li class="bad">error: <code>${esc(s.error)}</code></li>` : ''}</ul><h3>Evidence</h3><ul>${evidence}</ul><h3>Only AWS can decide</h3><ul>${s.awsOnly.map((a) => `<li>${esc(a)}</li>`).join('')}</ul></section>`;
    })
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>scheduled-jobs prove: ${esc(r.stack)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}code{font-size:.9em;word-break:break-all}.ok{color:#176b2c}.bad{color:#b00020}section{border-top:1px solid #ccc}</style></head>
<body><h1>scheduled-jobs prove: ${esc(r.stack)}</h1>
<p>Run <code>${esc(r.runId)}</code> at ${esc(r.at)}; estimated cost ${r.estimatedCostUsd === null ? 'not estimated' : `$${r.estimatedCostUsd.toFixed(4)} (cost model)`}. <strong class="${failed === 0 ? 'ok' : 'bad'}">${r.scenarios.length - failed} of ${r.scenarios.length} scenarios passed.</strong></p>
${rows}
</body></html>
`;
}
