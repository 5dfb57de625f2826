import { run } from './run';

const SECRET = 'abcdef123456';

/** A process that prints the secret in two writes, 0.1 s apart: two chunks on our side. */
const split = (stream: 'out' | 'err') => ({
  argv: [
    'sh',
    '-c',
    `printf 'token=abcdef' ${stream === 'err' ? '>&2' : ''}; sleep 0.1; printf '123456 done\\nnext line\\n' ${stream === 'err' ? '>&2' : ''}`,
  ],
});

describe('run', () => {
  let written: string[];
  beforeEach(() => {
    written = [];
    for (const s of [process.stdout, process.stderr])
      jest.spyOn(s, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      });
  });
  afterEach(() => jest.restoreAllMocks());

  it('redacts a secret split across two chunks of stdout (result, stream and lines)', async () => {
    const lines: string[] = [];
    const r = await run(split('out'), { secrets: [SECRET], onLine: (l) => lines.push(l) });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('token=*** done\nnext line\n');
    expect(r.output).toBe(r.stdout);
    expect(written.join('')).toBe(r.stdout);
    expect(lines).toEqual(['token=*** done', 'next line']);
  });

  it('redacts a secret split across two chunks of stderr', async () => {
    const r = await run(split('err'), { secrets: [SECRET] });
    expect(r.stderr).toBe('token=*** done\nnext line\n');
    expect(written.join('')).not.toContain('abcdef');
  });

  it('shows what only looked like the start of a secret once the process ends', async () => {
    const r = await run(
      { argv: ['sh', '-c', "printf 'last: abc'"] },
      { secrets: [SECRET], stream: false },
    );
    expect(r.stdout).toBe('last: abc');
    expect(r.output).toBe('last: abc');
  });
});
