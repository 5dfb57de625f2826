/** Exact versions the generated projects are checked with (the app e2e installs these). */
export const backendDependencies = {
  fastify: '5.6.2',
};

export const frontendDependencies = {
  react: '19.2.0',
  'react-dom': '19.2.0',
};

export const devDependencies = {
  esbuild: '0.25.12',
  typescript: '5.9.3',
  vitest: '4.0.10',
  eslint: '9.39.1',
  '@eslint/js': '9.39.1',
  'typescript-eslint': '8.47.0',
  globals: '16.5.0',
  '@types/node': '20.19.25',
};

export const frontendDevDependencies = {
  vite: '7.2.2',
  '@types/react': '19.2.5',
  '@types/react-dom': '19.2.3',
  jsdom: '27.2.0',
  '@testing-library/react': '16.3.0',
};
