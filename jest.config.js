/** Jest runs TypeScript through SWC (fast, no type check); `npm test` type-checks with tsc first. */
module.exports = {
  // A late rejection between test files fails the next file instead of crashing the in-band run (see the file).
  testEnvironment: '<rootDir>/test/support/node-environment.js',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }],
    // msw 2 (offline job stubs, local/job-stubs.ts) depends on ESM-only packages: compile just those.
    '^.+/node_modules/(until-async|rettime)/.+\\.m?js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(until-async|rettime)/)'],
  setupFiles: ['<rootDir>/local/polyfills.ts'],
  testTimeout: 60000,
  reporters: ['default', '<rootDir>/test/support/summary-reporter.js'],
};
