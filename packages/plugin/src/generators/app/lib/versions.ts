/**
 * Exact versions the generated projects are checked with on Node 20 (the app e2e installs these).
 * vitest 5 and jsdom 30+ need Node 22; typescript-eslint 8 needs TypeScript < 6.1.
 */
export const backendDependencies = {
  fastify: '5.12.8',
  // The /metrics Prometheus format; 15.x supports Node 20 and bundles with esbuild.
  'prom-client': '15.1.3',
};

/** --database=postgres: the client, and the migration library (SQL files, Postgres advisory lock). */
export const databaseDependencies = {
  pg: '8.23.1',
  'node-pg-migrate': '8.0.4',
};

export const databaseDevDependencies = {
  '@types/pg': '8.23.1',
};

export const frontendDependencies = {
  react: '19.3.1',
  'react-dom': '19.3.1',
};

export const devDependencies = {
  esbuild: '0.28.2',
  typescript: '5.9.3',
  vitest: '4.1.12',
  eslint: '9.39.5',
  '@eslint/js': '9.39.5',
  'typescript-eslint': '8.74.0',
  globals: '17.14.0',
  '@types/node': '20.19.43',
};

export const frontendDevDependencies = {
  vite: '8.3.8',
  '@vitejs/plugin-react': '6.3.0',
  '@types/react': '19.3.0',
  '@types/react-dom': '19.3.0',
  jsdom: '29.1.1',
  '@testing-library/react': '16.3.3',
  '@testing-library/dom': '10.4.2',
  'eslint-plugin-react-hooks': '7.1.1',
};

/**
 * The browser tests (an app with a frontend): Playwright the Nx way, @nx/playwright pinned to the
 * workspace's Nx.
 */
export const e2eDevDependencies = {
  '@nx/playwright': '23.2.1',
  '@playwright/test': '1.65.2',
};
