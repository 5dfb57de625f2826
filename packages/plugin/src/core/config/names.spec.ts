import {
  imageRef,
  imageRepository,
  registryHost,
  registryPath,
  sshVars,
  validateAppName,
} from './names';

describe('image names', () => {
  it('builds <registry>/<namespace>/<app>_<component>:<tag>', () => {
    expect(imageRef('reg.example.com', 'acme', 'shop', 'backend', 'abc1234')).toBe(
      'reg.example.com/acme/shop_backend:abc1234',
    );
    expect(imageRef('localhost:5055', 'team/sub', 'shop', 'frontend', 'v1')).toBe(
      'localhost:5055/team/sub/shop_frontend:v1',
    );
  });
  it('strips scheme, credentials and slashes from the registry', () => {
    expect(registryHost('https://user:pa55@reg.example.com:5000/')).toBe('reg.example.com:5000');
    expect(imageRepository('http://u:p@localhost:5055', '/acme/', 'shop', 'backend')).toBe(
      'localhost:5055/acme/shop_backend',
    );
  });
  it('gives the repository path the registry API uses', () => {
    expect(registryPath('acme', 'shop', 'backend')).toBe('acme/shop_backend');
    expect(registryPath('', 'shop', 'frontend')).toBe('shop_frontend');
  });
  it('derives per-environment variable names', () => {
    expect(sshVars('production')).toMatchObject({
      host: 'PRODUCTION_SSH_HOST',
      knownHosts: 'PRODUCTION_SSH_KNOWN_HOSTS',
    });
  });
});

describe('validateAppName', () => {
  it.each(['shop', 'my-app', 'a1', 'api2-web'])('accepts %s', (n) =>
    expect(validateAppName(n)).toBeUndefined(),
  );
  it.each(['../x', 'My App', 'a;rm -rf', 'Shop', '1app', 'a--b', 'a_b', 'x-', ''])(
    'rejects %j',
    (n) => expect(validateAppName(n)).toMatch(/not valid|required/),
  );
});
