/** Jest runs TypeScript through SWC (fast, no type check); `npm test` type-checks with tsc first. */
module.exports = {
  testEnvironment: 'node',
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
