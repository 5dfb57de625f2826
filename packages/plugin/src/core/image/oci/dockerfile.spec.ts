import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { instructions, planDockerfile, substitute, words } from './dockerfile';

// ejs ships no types; the app generator renders its templates with the same call.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { render } = require('ejs') as {
  render: (template: string, data: Record<string, unknown>) => string;
};
const TEMPLATES = join(__dirname, '../../../generators/app/files');
/** The generated Dockerfile, its template rendered (ejs) with the values `app` gives it. */
function generated(component: 'backend' | 'frontend', hasDatabase = false): string {
  return render(readFileSync(join(TEMPLATES, component, 'Dockerfile__tmpl__'), 'utf8'), {
    backendProject: 'shop-backend',
    frontendProject: 'shop-frontend',
    backendRoot: 'apps/shop/backend',
    frontendRoot: 'apps/shop/frontend',
    buildInfoFile: 'build-info.json',
    env: { port: 'PORT' },
    containerPort: { backend: 8080 },
    hasDatabase,
  });
}

describe('planDockerfile: what is assembled', () => {
  it('the generated backend Dockerfile of an app with a database: its migrations and their runner too', () => {
    const plan = planDockerfile(generated('backend', true), {});
    expect(plan.kind).toBe('assemble');
    const copies = plan.kind === 'assemble' ? plan.steps.filter((s) => s.kind === 'copy') : [];
    expect(
      copies.map((c) => [c.kind === 'copy' ? c.sources : [], c.kind === 'copy' && c.dest]),
    ).toEqual([
      [['main.js'], '/app/'],
      [['migrate.js'], '/app/'],
      [['migrations'], '/app/migrations/'],
      [['build-info.json'], '/app/'],
    ]);
  });

  it('the generated backend Dockerfile, with the base from the build arg', () => {
    const plan = planDockerfile(generated('backend'), {
      NODE_IMAGE: 'localhost:5055/base/node:20',
    });
    expect(plan).toEqual({
      kind: 'assemble',
      base: 'localhost:5055/base/node:20',
      steps: [
        { kind: 'workdir', values: ['/app'], text: 'WORKDIR /app' },
        {
          kind: 'env',
          values: [],
          pairs: [
            ['NODE_ENV', 'production'],
            ['PORT', '8080'],
          ],
          text: 'ENV NODE_ENV=production PORT=8080',
        },
        { kind: 'expose', values: ['8080/tcp'], text: 'EXPOSE 8080' },
        { kind: 'user', values: ['65534:65534'], text: 'USER 65534:65534' },
        expect.objectContaining({ kind: 'copy', sources: ['main.js'], dest: '/app/', uid: 0 }),
        expect.objectContaining({ kind: 'copy', sources: ['build-info.json'], dest: '/app/' }),
        { kind: 'cmd', values: ['node', 'main.js'], text: 'CMD ["node", "main.js"]' },
      ],
    });
  });

  it('the generated frontend Dockerfile; the ARG default when no build arg is given', () => {
    const plan = planDockerfile(generated('frontend'), {});
    expect(plan.kind).toBe('assemble');
    if (plan.kind !== 'assemble') return;
    expect(plan.base).toBe('nginx:1.27-alpine');
    expect(plan.steps.filter((s) => s.kind === 'copy')).toEqual([
      expect.objectContaining({ sources: ['nginx.conf'], dest: '/etc/nginx/conf.d/default.conf' }),
      expect.objectContaining({ sources: ['html'], dest: '/usr/share/nginx/html/' }),
    ]);
  });

  it('ENV and LABEL forms, substitution, continuation lines, ENTRYPOINT shell form, COPY flags', () => {
    const plan = planDockerfile(
      [
        '# syntax=docker/dockerfile:1',
        'ARG BASE=reg.example.com/base:1',
        'FROM $BASE AS app',
        'ARG DIR=/srv',
        'ENV A=1 \\',
        '    B="two words"',
        'ENV C ${A}-and-${B}',
        'LABEL "com.example.x"="y z" other=$A',
        'WORKDIR ${DIR}',
        'WORKDIR sub',
        'COPY --chown=1000:1000 --chmod=0700 a b ./',
        'COPY ["c d", "/opt/"]',
        'EXPOSE 80 53/udp',
        'ENTRYPOINT exec node x.js',
      ].join('\n'),
      {},
    );
    expect(plan).toMatchObject({
      kind: 'assemble',
      base: 'reg.example.com/base:1',
      steps: [
        {
          kind: 'env',
          pairs: [
            ['A', '1'],
            ['B', 'two words'],
          ],
        },
        { kind: 'env', pairs: [['C', '1-and-two words']] },
        {
          kind: 'label',
          pairs: [
            ['com.example.x', 'y z'],
            ['other', '1'],
          ],
        },
        { kind: 'workdir', values: ['/srv'] },
        { kind: 'workdir', values: ['/srv/sub'] },
        { kind: 'copy', sources: ['a', 'b'], dest: '/srv/sub/', uid: 1000, gid: 1000, mode: 0o700 },
        { kind: 'copy', sources: ['c d'], dest: '/opt/' },
        { kind: 'expose', values: ['80/tcp', '53/udp'] },
        { kind: 'entrypoint', values: ['/bin/sh', '-c', 'exec node x.js'] },
      ],
    });
  });
});

describe('planDockerfile: what goes through the engine, and says why', () => {
  const reason = (text: string, args: Record<string, string> = {}) => {
    const plan = planDockerfile(text, args);
    return plan.kind === 'engine' ? plan.reason : 'assembled';
  };
  it.each([
    ['FROM a\nRUN echo hi', 'line 2: RUN needs a container'],
    ['FROM a\nADD https://example.com/x /x', 'line 2: ADD (a URL or an archive to unpack)'],
    [
      'FROM a AS build\nCOPY x /x\nFROM b\nCOPY --from=build /x /x',
      'line 3: a second FROM (a multi-stage build)',
    ],
    ['FROM --platform=linux/amd64 a', 'line 1: FROM with --platform=linux/amd64'],
    [
      'FROM a\nCOPY --chown=node:node x /x',
      'line 2: COPY --chown with a user name (numeric ids are assembled)',
    ],
    ['FROM a\nCOPY *.js /x/', 'line 2: COPY source "*.js" (wildcards, ..)'],
    ['FROM a\nCOPY ../x /x', 'line 2: COPY source "../x" (wildcards, ..)'],
    [
      'FROM a\nHEALTHCHECK CMD true',
      'line 2: HEALTHCHECK (assembled: FROM, ARG, COPY, ENV, WORKDIR, USER, EXPOSE, LABEL, CMD, ENTRYPOINT)',
    ],
    ['FROM scratch\nCOPY x /x', 'line 1: FROM scratch'],
    ['ARG B\nFROM ${B}', 'line 2: FROM ${B}: the build arg is empty'],
    ['# escape=`\nFROM a', 'line 1: "# escape=`" is not assembled'],
    ['COPY x /x', 'line 1: COPY before FROM'],
    ['# nothing', 'no FROM'],
  ])('%j', (text, why) => expect(reason(text)).toBe(why));
});

describe('Dockerfile words', () => {
  it('joins continuation lines and skips comments', () => {
    expect(
      instructions('FROM a\n\n# c\nENV A=1 \\\n  # inside\n  B=2\n').map((i) => i.text),
    ).toEqual(['FROM a', 'ENV A=1 B=2']);
  });
  it('splits quoted words and substitutes variables', () => {
    expect(words(`a "b c" 'd e' f\\ g`)).toEqual(['a', 'b c', 'd e', 'f g']);
    expect(substitute('${A}/$B/${C:-c}/${A:+set}/\\$A', { A: 'a', B: 'b' })).toBe('a/b/c/set/$A');
  });
});
