/**
 * The suite on a clock moved forward: `CLOCK_SHIFT_DAYS=60 npx jest -c scripts/jest-clock-shift.config.js test/<file>.test.ts`.
 * Finds tests whose fixed dates meet a rule on the real clock (see scripts/clock-shift-setup.js and docs/reprocess.md).
 */
const path = require('node:path');
const base = require('../jest.config.js');

module.exports = { ...base, rootDir: path.resolve(__dirname, '..'), setupFiles: [...base.setupFiles, '<rootDir>/scripts/clock-shift-setup.js'], reporters: ['default'] };
