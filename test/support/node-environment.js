/**
 * Jest's node environment plus a safety net for promises that reject outside any test file's run.
 *
 * While a file runs, jest-circus owns the process's 'unhandledRejection' listeners and fails the
 * test (or the file) the rejection belongs to. Between files (after one file's run has finished,
 * while the next is loaded and collected) nobody listens: node crashes the process. CI runs jest
 * in band on two cores, so one late rejection (a test's un-awaited promise that failed seconds
 * after its file ended) took every remaining suite down with it.
 *
 * The net must live here, in the environment's own realm: test code's `process` is a copy made by
 * jest-util's createProcessObject, with its own listeners that node never calls (checked: a
 * `process.on('unhandledRejection')` in a test file does not stop the crash).
 *
 * Nothing is hidden. A rejection caught by the net is written to stderr at once and, unless it is
 * caught later (node's 'rejectionHandled'),
 * - fails the next test file that starts in this process: it is added to that file's unhandled
 *   errors with a message that says it came from outside the file's run (its stack names the
 *   origin), while that file's own tests still run and report;
 * - or, after the last file, sets the process's exit code to 1.
 * In band (CI) that keeps the other suites running and still fails the run. In a worker process
 * (jest -w N) jest 30 itself only prints such a rejection and the run passes: the net makes the
 * worker's next file fail, but after a worker's last file the rejection is still only printed.
 * Checked by experiment (two scratch files, a rejection timed into the next file's setup):
 * without the net the in-band process crashed and the second file never ran.
 */
const { TestEnvironment } = require('jest-environment-node');

const NET = Symbol.for('scheduled-jobs.test.strayRejections');

/** An error's stack, also for errors made in a test file's realm (where `instanceof Error` is false). */
const stackOf = (reason) => (reason && typeof reason === 'object' && typeof reason.stack === 'string' ? reason.stack : String(reason));

/** The stray rejections not yet reported, kept on the real process (one net per process). */
function strayRejections() {
  if (process[NET]) return process[NET];
  const stray = new Map();
  process[NET] = stray;
  process.on('unhandledRejection', (reason, promise) => {
    stray.set(promise, reason);
    process.stderr.write(`\nAn unhandled promise rejection outside any test file's run (unless it is caught later, the next test file in this process fails with it, or the run exits 1):\n${stackOf(reason)}\n`);
  });
  // Handled after all (a late catch): not a failure.
  process.on('rejectionHandled', (promise) => stray.delete(promise));
  // After the last file there is no file left to fail: the exit code says it (jest only ever raises it).
  process.on('exit', () => {
    if (stray.size > 0) process.exitCode = 1;
  });
  return stray;
}

class NodeEnvironmentWithRejectionNet extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    strayRejections();
  }

  async handleTestEvent(event, state) {
    if (event.name !== 'run_start' || !process[NET] || process[NET].size === 0) return;
    for (const reason of process[NET].values()) {
      const error = new Error(`A promise rejected outside any test file's run, most likely left by an earlier file (its stack says where it began): ${stackOf(reason)}`);
      state.unhandledErrors.push(error);
    }
    process[NET].clear();
  }
}

module.exports = NodeEnvironmentWithRejectionNet;
