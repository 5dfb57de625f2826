import { manifestUrl, parseBearerChallenge, registryBaseUrl, tagsUrl } from './registry';

describe('registry addresses', () => {
  it('uses http on loopback and https elsewhere, unless a scheme is given', () => {
    expect(registryBaseUrl('localhost:5055')).toBe('http://localhost:5055');
    expect(registryBaseUrl('127.0.0.1:5055')).toBe('http://127.0.0.1:5055');
    expect(registryBaseUrl('reg.example.com')).toBe('https://reg.example.com');
    expect(registryBaseUrl('http://reg.internal:5000/')).toBe('http://reg.internal:5000');
    expect(registryBaseUrl('https://u:p@reg.example.com')).toBe('https://reg.example.com');
  });
  it('builds manifest and tag list URLs', () => {
    expect(manifestUrl('localhost:5055', 'acme/shop_backend', 'abc')).toBe(
      'http://localhost:5055/v2/acme/shop_backend/manifests/abc',
    );
    expect(tagsUrl('reg.example.com', 'acme/shop_backend')).toBe(
      'https://reg.example.com/v2/acme/shop_backend/tags/list',
    );
  });
  it('parses bearer challenges', () => {
    expect(
      parseBearerChallenge(
        'Bearer realm="https://auth.example.com/token",service="registry",scope="repository:a/b:pull"',
      ),
    ).toEqual({
      realm: 'https://auth.example.com/token',
      service: 'registry',
      scope: 'repository:a/b:pull',
    });
    expect(parseBearerChallenge('Basic realm="x"')).toBeUndefined();
    expect(parseBearerChallenge(null)).toBeUndefined();
  });
});
