import { noticeText, telegramUrl } from './notify';

const base = {
  app: 'shop',
  environment: 'staging',
  action: 'deploy' as const,
  seconds: 12.34,
  deployer: 'ci',
};

describe('Telegram notice', () => {
  it('says app, environment, tag, result and duration on success', () => {
    const text = noticeText(
      {
        ...base,
        tag: 'abc1234',
        outcome: 'ok',
        live: 'abc1234',
        previous: '9f8e7d6',
      },
      [],
    );
    expect(text.split('\n')[0]).toBe('✅ shop: deploy of abc1234 to staging succeeded');
    expect(text).toContain('app: shop');
    expect(text).toContain('environment: staging');
    expect(text).toContain('tag: abc1234');
    expect(text).toContain('result: ok');
    expect(text).toContain('previous: 9f8e7d6');
    expect(text).toContain('duration: 12.3s');
  });
  it('says what is live after an automatic rollback', () => {
    const text = noticeText(
      {
        ...base,
        tag: 'bad0001',
        outcome: 'rolled-back',
        live: 'abc1234',
        error: 'health check failed',
      },
      [],
    );
    expect(text.split('\n')[0]).toBe(
      '⚠️ shop: deploy of bad0001 to staging failed; rolled back to abc1234',
    );
    expect(text).toContain('live now: abc1234');
    expect(text).toContain('error: health check failed');
  });
  it('names a rollback without a tag as the previous release', () => {
    expect(
      noticeText({ ...base, action: 'rollback', tag: '', outcome: 'failed', error: 'x' }, []),
    ).toContain('rollback of (previous) to staging failed');
  });
  it('redacts secret values from the host error and details before sending', () => {
    const secret = 'hunter2-registry-pass';
    const text = noticeText(
      {
        ...base,
        tag: 'bad0001',
        outcome: 'failed',
        error: `docker login failed: password ${secret} rejected`,
        details: [`web-1: failed (${secret})`],
      },
      [secret],
    );
    expect(text).not.toContain(secret);
    expect(text).toContain('error: docker login failed: password *** rejected');
    expect(text).toContain('host web-1: failed (***)');
  });
  it('does not leave part of a secret where a long error is cut', () => {
    const secret = 'S3CRET-value-that-is-long';
    const error = `${'x'.repeat(290)}${secret} and more`;
    const text = noticeText({ ...base, tag: 'bad0001', outcome: 'failed', error }, [secret]);
    expect(text).not.toContain('S3CRET');
    expect(text).toContain('***');
  });
  it('builds the Bot API URL from a configurable base', () => {
    expect(telegramUrl('http://127.0.0.1:9999/', 'T0K')).toBe(
      'http://127.0.0.1:9999/botT0K/sendMessage',
    );
  });
});
