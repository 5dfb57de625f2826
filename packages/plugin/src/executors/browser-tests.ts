/**
 * The app's browser tests (the project `<app>-e2e`, its Playwright target `e2e`) run against a
 * page: by the browser-test target after a release, and by a deploy's gate.e2e before the switch.
 */
import { type ExecutorContext, runExecutor } from '@nx/devkit';

const e2eTarget = (app: string) => ({ project: `${app}-e2e`, target: 'e2e' });

/** Why the app's browser tests cannot run in this workspace (undefined: they can). */
export function browserTestsMissing(app: string, context: ExecutorContext): string | undefined {
  const target = e2eTarget(app);
  return context.projectsConfigurations?.projects[target.project]?.targets?.[target.target]
    ? undefined
    : `${target.project} has no ${target.target} target: the app generator writes it for an app with a frontend.`;
}

/** Runs a target with these environment variables set, and puts the old values back. */
async function withEnv(vars: Record<string, string>, run: () => Promise<boolean>) {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await run();
  } finally {
    for (const [k, v] of Object.entries(saved))
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
  }
}

/** Whether the browser tests pass against `page`, which must show the release `tag`. */
export async function runBrowserTests(
  context: ExecutorContext,
  app: string,
  page: string,
  tag: string,
): Promise<boolean> {
  const missing = browserTestsMissing(app, context);
  if (missing) throw new Error(missing);
  return withEnv({ BASE_URL: page, EXPECT_IMAGE_TAG: tag }, async () => {
    for await (const r of await runExecutor(e2eTarget(app), {}, context))
      if (!r.success) return false;
    return true;
  });
}
