import { planImage, validateBuildArgs, validateImages } from './plan';

const spec = {
  component: 'backend' as const,
  dockerfile: 'apps/shop/backend/Dockerfile',
  context: [{ from: 'dist/x', to: '.' }],
};

describe('build-push plan', () => {
  it('names the release and content references of an image', () => {
    const plan = planImage({
      spec,
      app: 'shop',
      registry: 'localhost:5055',
      namespace: 'acme',
      tag: 'abc1234',
      hash: 'f'.repeat(64),
    });
    expect(plan).toMatchObject({
      repository: 'acme/shop_backend',
      ref: 'localhost:5055/acme/shop_backend:abc1234',
      contentTag: `content-${'f'.repeat(32)}`,
    });
  });
  it('validates the images option with messages naming the entry', () => {
    expect(() => validateImages([])).toThrow(/at least one entry/);
    expect(() => validateImages([{ ...spec, component: 'db' }])).toThrow(
      'images[0].component must be "backend" or "frontend", got "db"',
    );
    expect(() => validateImages([spec, spec])).toThrow(
      'images[1]: component "backend" is listed twice',
    );
    expect(() => validateImages([{ ...spec, context: [] }])).toThrow('images[0].context is empty');
  });
  it('validates build args from the command line', () => {
    expect(validateBuildArgs({ NODE_IMAGE: 'node:20', N: 1 })).toEqual({
      NODE_IMAGE: 'node:20',
      N: '1',
    });
    expect(validateBuildArgs(undefined)).toEqual({});
    expect(() => validateBuildArgs({ 'BAD-NAME': 'x' })).toThrow(
      '"BAD-NAME" is not a valid build arg name',
    );
    expect(() => validateBuildArgs('x')).toThrow(/must be a map/);
  });
});
