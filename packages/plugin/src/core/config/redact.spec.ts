import {
  publicRemoteUrl,
  redact,
  redactStream,
  redactUrlCredentials,
  secretValues,
} from './redact';

describe('redact', () => {
  const key =
    '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n';
  const env = {
    REGISTRY_PASS: 'hunter2-pass',
    TELEGRAM_TOKEN: '123456:ABCdef',
    SSH_KEY_B64: Buffer.from(key).toString('base64'),
    REGISTRY_URL: 'reg.example.com',
  };
  it('masks every secret value, the decoded SSH key lines too', () => {
    const s = secretValues(env);
    const text = `login hunter2-pass to https://api/bot123456:ABCdef/sendMessage ${env.SSH_KEY_B64} b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ`;
    const out = redact(text, s);
    expect(out).not.toContain('hunter2-pass');
    expect(out).not.toContain('123456:ABCdef');
    expect(out).not.toContain(env.SSH_KEY_B64);
    expect(out).not.toContain('b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ');
    expect(out).toContain('***');
  });
  it('does not treat non-secret variables as secret', () => {
    expect(redact('reg.example.com', secretValues(env))).toBe('reg.example.com');
  });
  it('removes user:password from URLs', () => {
    expect(redactUrlCredentials('https://u:p@reg.example.com/v2/')).toBe(
      'https://reg.example.com/v2/',
    );
    expect(redactUrlCredentials('u:p@reg.example.com')).toBe('reg.example.com');
    expect(redactUrlCredentials('reg.example.com:5000')).toBe('reg.example.com:5000');
  });
});

describe('publicRemoteUrl', () => {
  it.each([
    ['https://user:ghp_TOKEN123@github.com/acme/shop.git', 'https://github.com/acme/shop.git'],
    ['https://ghp_TOKEN123@github.com/acme/shop.git', 'https://github.com/acme/shop.git'],
    [
      'https://oauth2:glpat-TOKEN@gitlab.example.com:8443/acme/shop',
      'https://gitlab.example.com:8443/acme/shop',
    ],
    // A password its owner did not percent-encode: "@", "?" and "#" before the host.
    ['https://me:p@ss?w#rd@git.example.com/acme/shop.git', 'https://git.example.com/acme/shop.git'],
    [
      'https://git.example.com/acme/shop.git?private_token=TOKEN',
      'https://git.example.com/acme/shop.git',
    ],
    ['https://git.example.com/acme/shop.git#TOKEN', 'https://git.example.com/acme/shop.git'],
    ['https://git.example.com?token=TOKEN', 'https://git.example.com'],
    ['ssh://git@git.example.com:2222/acme/shop.git', 'ssh://git.example.com:2222/acme/shop.git'],
    ['git@github.com:acme/shop.git', 'github.com:acme/shop.git'],
    ['user:TOKEN@host:acme/shop.git', 'host:acme/shop.git'],
    ['  https://t@h/x.git\n', 'https://h/x.git'],
  ])('%s -> %s', (url, shown) => {
    expect(publicRemoteUrl(url)).toBe(shown);
    expect(publicRemoteUrl(url)).not.toMatch(/TOKEN|ghp_|glpat|p@ss/);
  });

  it('leaves URLs without secrets and local paths as they are', () => {
    for (const url of [
      'https://github.com/acme/shop.git',
      'github.com:acme/shop.git',
      '/srv/git/shop.git',
      '../shop',
      'file:///srv/git/shop.git',
    ]) {
      expect(publicRemoteUrl(url)).toBe(url);
    }
  });
});

describe('redactStream', () => {
  const feed = (secrets: string[], pieces: string[]) => {
    const r = redactStream(secrets);
    const shown = pieces.map((p) => r.push(p));
    return { shown, all: shown.join('') + r.end() };
  };
  it('masks a secret split across pieces, wherever it is cut', () => {
    const text = 'login with hunter2-pass then go\n';
    for (let i = 1; i < text.length; i++) {
      const { all } = feed(['hunter2-pass'], [text.slice(0, i), text.slice(i)]);
      expect(all).toBe('login with *** then go\n');
    }
    expect(feed(['hunter2-pass'], [...text]).all).toBe('login with *** then go\n');
  });
  it('masks a secret of several lines split across pieces', () => {
    const key = 'line-one-secret\nline-two-secret';
    expect(feed([key], ['a line-one-', 'secret\nline-two', '-secret b']).all).toBe('a *** b');
  });
  it('shows at once what cannot start a secret, and holds only a possible start', () => {
    const { shown, all } = feed(['hunter2-pass'], ['progress 50%\n', 'progress hun', 'gry\n']);
    expect(shown).toEqual(['progress 50%\n', 'progress ', 'hungry\n']);
    expect(all).toBe('progress 50%\nprogress hungry\n');
  });
  it('holds a whole secret across the cut with the longer secret that starts in it', () => {
    const { all } = feed(['abcd', 'cdefgh'], ['xxabcd', 'efgh yy']);
    expect(all).not.toContain('cdefgh');
    expect(all).not.toContain('abcd');
  });
  it('passes text through without secrets', () => {
    expect(feed([], ['a', 'b']).shown).toEqual(['a', 'b']);
  });
});
