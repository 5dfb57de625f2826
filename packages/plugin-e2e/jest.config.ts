export default {
  displayName: 'plugin-e2e',
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/src/**/*.e2e.ts'],
  globalSetup: '<rootDir>/src/global-setup.ts',
  globalTeardown: '<rootDir>/src/global-teardown.ts',
  testTimeout: 600_000,
  // Two suites side by side: each has its own ports (portBlock), app names, deploy folders,
  // registry namespaces and compose projects; the fault matrix has a registry of its own. A third
  // was measured on a clean clone: the e2e took as long (the two cores are busy, not waiting) and
  // timing tests failed (health gates, rollout waits).
  maxWorkers: 2,
};
