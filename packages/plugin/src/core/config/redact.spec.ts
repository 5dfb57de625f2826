import { publicRemoteUrl, redact, redactUrlCredentials, secretValues } from './redact';

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
