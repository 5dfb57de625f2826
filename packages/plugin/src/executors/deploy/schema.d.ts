export interface DeployExecutorSchema {
  profile?: string;
  /** Given on the command line: a digits-only tag may arrive as a number (see cliText). */
  tag?: string | number;
  healthTimeout?: number;
  lockTimeout?: number;
  dryRun?: boolean;
  force?: boolean;
  ansibleDir: string;
  composeFile: string;
  backendPort: number;
  frontendPort?: number;
  loginCommand?: string;
  breakLock?: boolean;
  replaceAbandoned?: boolean;
  moveFrom?: string;
  healthPath?: string;
  versionCheck?: boolean;
  readyChecks?: { port: number; path: string; env?: string }[];
  composeEnv?: string[];
  strategy?: 'recreate' | 'blue-green' | 'canary';
  domain?: string;
  secrets?: string[];
  /** Workspace folder of the app's SQL migrations (an app with a database). */
  migrations?: string;
  allowBreakingMigration?: boolean;
  /** e2e: the app's browser tests run against the new colour before its switch. */
  gate?: { e2e?: boolean };
  promote?: boolean;
  abort?: boolean;
}
