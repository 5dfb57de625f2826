import { type ExecutorContext, runExecutor } from '@nx/devkit';
import { loadProfile } from '../../core/config/profile';
import { releasedPage } from '../../core/release/browser-test';
import { profileName } from '../../core/release/deploy-model';
import { sshSettings } from '../../remote/connection';
import { readHostStatus } from '../../remote/helper';
import { loadDeployModel } from '../../remote/inventory';
import { conveyorExecutor } from '../../remote/executor';
import { withDeployOptions } from '../deploy-target';
import type { BrowserTestExecutorSchema } from './schema';

/** The app's browser tests: the project `<app>-e2e` and its `e2e` target (Playwright). */
const e2eTarget = (app: string) => ({ project: `${app}-e2e`, target: 'e2e' });

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

/**
 * The app's browser tests against a released environment: the page the deploy serves (or
 * --baseUrl) must show the release that is live on the environment's first host (read there).
 * A failure fails the target: the generated workflow runs it on staging before production's
 * promotion.
 */
export default async function browserTest(
  own: BrowserTestExecutorSchema,
  context: ExecutorContext,
) {
  return conveyorExecutor(
    'browser-test',
    context,
    async ({ app, root, env, secrets, dir, say }) => {
      const options = withDeployOptions(own, context);
      const profile = loadProfile(root, profileName(options), env);
      const model = await loadDeployModel(root, app, options, profile, env, secrets);
      const page = own.baseUrl ?? releasedPage(model);
      const target = e2eTarget(app);
      if (!context.projectsConfigurations?.projects[target.project]?.targets?.[target.target])
        throw new Error(
          `${target.project} has no ${target.target} target: the app generator writes it for an app with a frontend.`,
        );
      const host = model.hosts[0];
      const call = { profile: host.profile, app, ssh: sshSettings(profile, env, dir), secrets };
      const live = (await readHostStatus(call)).status?.current?.tag;
      if (!live) throw new Error(`${app} has no live release on ${host.name}: deploy it first.`);
      say(`Browser tests of ${app} at ${page}: the page must show ${live}.`);
      const passed = await withEnv({ BASE_URL: page, EXPECT_IMAGE_TAG: live }, async () => {
        for await (const r of await runExecutor(target, {}, context)) if (!r.success) return false;
        return true;
      });
      say(
        passed
          ? `Browser tests of ${app} passed against ${live} at ${page}.`
          : `Browser tests of ${app} failed against ${live} at ${page}: see the report above and the screenshots under dist/.playwright/.`,
      );
      return passed;
    },
  );
}
