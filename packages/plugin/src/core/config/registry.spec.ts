import {
  blobUrl,
  completeUploadUrl,
  manifestUrl,
  parseBearerChallenge,
  registryBaseUrl,
  tagsUrl,
  uploadUrl,
} from './registry';

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

describe('blob addresses', () => {
  it('builds blob, upload, mount and completion URLs', () => {
    expect(blobUrl('localhost:5055', 'a/b', 'sha256:00')).toBe(
      'http://localhost:5055/v2/a/b/blobs/sha256:00',
    );
    expect(uploadUrl('localhost:5055', 'a/b')).toBe('http://localhost:5055/v2/a/b/blobs/uploads/');
    expect(uploadUrl('localhost:5055', 'a/b', { digest: 'sha256:00', from: 'base/node' })).toBe(
      'http://localhost:5055/v2/a/b/blobs/uploads/?mount=sha256%3A00&from=base%2Fnode',
    );
    expect(
      completeUploadUrl('localhost:5055', '/v2/a/b/blobs/uploads/u1?_state=x', 'sha256:00'),
    ).toBe('http://localhost:5055/v2/a/b/blobs/uploads/u1?_state=x&digest=sha256%3A00');
    expect(completeUploadUrl('reg.example.com', 'https://cdn.example.com/up/u1', 'sha256:00')).toBe(
      'https://cdn.example.com/up/u1?digest=sha256%3A00',
    );
  });
});
