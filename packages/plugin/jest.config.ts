export default {
  displayName: 'plugin',
  rootDir: __dirname,
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.spec.json' }] },
  moduleFileExtensions: ['ts', 'js', 'json'],
  testMatch: ['<rootDir>/src/**/*.spec.ts'],
  // Builds the host helper's zipapp from its sources (src/host/conveyor-host.pyz).
  globalSetup: '<rootDir>/jest.global-setup.ts',
  modulePathIgnorePatterns: ['<rootDir>/src/.*/files/'],
};
