import { formatFiles, getProjects, logger, readJson, readNxJson, Tree } from '@nx/devkit';
import { parse } from 'yaml';
import { GENERATED_MARKER, WORKFLOW_FILE, WorkflowSettings, workflowYaml } from './lib/workflow';
import { deployedPorts } from '../sync/lib/ports';
import type { CiGeneratorSchema } from './schema';

export { WORKFLOW_FILE, GENERATED_MARKER } from './lib/workflow';

/** What ensureCiWorkflow did with .github/workflows/ci-cd.yml. */
export type CiWorkflowChange = 'created' | 'updated' | 'unchanged' | 'kept';

export class CiOptionsError extends Error {
  override name = 'CiOptionsError';
}

const BRANCH = /^(?!\/|.*\/\/|.*\.\.|.*\/$|.*\.lock$)[A-Za-z0-9._/-]+$/;

const PLAYWRIGHT_PACKAGES = ['@playwright/test', '@nx/playwright', 'playwright'];

/** Whether a project of the workspace is a Conveyor app's browser tests (tag conveyor:browser-test). */
export function hasBrowserTests(tree: Tree): boolean {
  return [...getProjects(tree).values()].some((p) => p.tags?.includes('conveyor:browser-test'));
}

/**
 * The workspace has Playwright tests of its own (the test job runs them) when its package.json
 * depends on Playwright and a project other than a Conveyor app's browser tests has a Playwright
 * config; Conveyor's own browser tests need a released app (the deploy job runs them).
 */
export function hasPlaywright(tree: Tree): boolean {
  if (!dependsOnPlaywright(tree)) return false;
  return [...getProjects(tree).values()].some(
    (p) =>
      !p.tags?.includes('conveyor:browser-test') &&
      (tree.children(p.root).some((f) => f.startsWith('playwright.config.')) ||
        Object.values(p.targets ?? {}).some((t) =>
          String(t.executor ?? '').startsWith('@nx/playwright'),
        )),
  );
}

function dependsOnPlaywright(tree: Tree): boolean {
  if (!tree.exists('package.json')) return false;
  const pkg = readJson<Record<string, Record<string, string> | undefined>>(tree, 'package.json');
  return PLAYWRIGHT_PACKAGES.some(
    (name) => pkg['dependencies']?.[name] ?? pkg['devDependencies']?.[name],
  );
}

export function workflowSettings(tree: Tree, options: CiGeneratorSchema = {}): WorkflowSettings {
  const branch = (options.branch ?? readNxJson(tree)?.defaultBase ?? 'main').trim();
  if (!BRANCH.test(branch)) {
    throw new CiOptionsError(
      `--branch must be a git branch name (letters, digits, ".", "_", "-", "/"), got "${options.branch}".`,
    );
  }
  const apps = deployedPorts(tree)
    .map((a) => a.app)
    .sort();
  return { branch, playwright: hasPlaywright(tree), browserTests: hasBrowserTests(tree), apps };
}

function sameWorkflow(a: string, b: string): boolean {
  try {
    return JSON.stringify(parse(a)) === JSON.stringify(parse(b));
  } catch {
    return false;
  }
}

/**
 * Writes the workspace's CI/CD workflow when it is missing, rewrites it when it is Conveyor's
 * (its first line is the generated marker) and differs, and keeps it when the user took it over
 * (removed the marker). The app generator calls this for every new app.
 */
export function ensureCiWorkflow(tree: Tree, options: CiGeneratorSchema = {}): CiWorkflowChange {
  const content = workflowYaml(workflowSettings(tree, options));
  if (!tree.exists(WORKFLOW_FILE)) {
    tree.write(WORKFLOW_FILE, content);
    return 'created';
  }
  const existing = tree.read(WORKFLOW_FILE, 'utf-8') ?? '';
  if (sameWorkflow(existing, content)) return 'unchanged';
  if (!existing.includes(GENERATED_MARKER)) {
    logger.warn(
      `${WORKFLOW_FILE} was changed by hand (its "${GENERATED_MARKER}" line is gone): it is kept as it is. ` +
        'Delete the file and run nx g @conveyor/plugin:ci to get the current one.',
    );
    return 'kept';
  }
  tree.write(WORKFLOW_FILE, content);
  return 'updated';
}

export async function ciGenerator(tree: Tree, options: CiGeneratorSchema = {}) {
  const change = ensureCiWorkflow(tree, options);
  if (change !== 'created' && change !== 'updated') {
    logger.info(`${WORKFLOW_FILE} is ${change === 'kept' ? 'kept' : 'up to date'}.`);
  }
  if (!options.skipFormat) await formatFiles(tree);
}

export default ciGenerator;
