/**
 * What an executor prints. Nx runs each task in its own process and captures these lines for its
 * output and cache; plain console calls keep that process free of `@nx/devkit` at run time, whose
 * loading costs every task about 150 ms here.
 */
export const log = {
  info: (message: string): void => console.info(message),
  warn: (message: string): void => console.warn(message),
  error: (message: string): void => console.error(message),
};
