import { contentHash } from './hash';

const base = {
  dockerfile: 'FROM x\nCOPY main.js .\n',
  files: [{ path: 'main.js', data: 'console.log(1)' }],
  buildArgs: { NODE_IMAGE: 'n' },
};

describe('contentHash', () => {
  it('is stable for the same inputs in any order', () => {
    const a = contentHash({
      ...base,
      files: [
        { path: 'a', data: '1' },
        { path: 'b', data: '2' },
      ],
    });
    const b = contentHash({
      ...base,
      files: [
        { path: 'b', data: '2' },
        { path: 'a', data: '1' },
      ],
    });
    expect(a).toBe(b);
    expect(a).toMatch(/^[0-9a-f]{64}$/);
  });
  it('changes with the code, the Dockerfile, a build arg or a file name', () => {
    const h = contentHash(base);
    expect(contentHash({ ...base, files: [{ path: 'main.js', data: 'console.log(2)' }] })).not.toBe(
      h,
    );
    expect(contentHash({ ...base, dockerfile: 'FROM y\nCOPY main.js .\n' })).not.toBe(h);
    expect(contentHash({ ...base, buildArgs: { NODE_IMAGE: 'other' } })).not.toBe(h);
    expect(
      contentHash({ ...base, files: [{ path: 'index.js', data: 'console.log(1)' }] }),
    ).not.toBe(h);
  });
  it('ignores the build-info file, which changes every commit', () => {
    const h = contentHash(base);
    expect(
      contentHash({
        ...base,
        files: [...base.files, { path: 'build-info.json', data: '{"git_sha":"abc"}' }],
      }),
    ).toBe(h);
  });
  it('does not let file boundaries shift content between files', () => {
    const a = contentHash({
      ...base,
      files: [
        { path: 'a', data: 'xy' },
        { path: 'b', data: 'z' },
      ],
    });
    const b = contentHash({
      ...base,
      files: [
        { path: 'a', data: 'x' },
        { path: 'b', data: 'yz' },
      ],
    });
    expect(a).not.toBe(b);
  });
});
