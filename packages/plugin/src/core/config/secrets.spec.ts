import {
  formatDotenv,
  missingMessage,
  missingSecrets,
  parseDotenv,
  parseSecretsText,
  pick,
  secretsFile,
} from './secrets';

describe('parseDotenv', () => {
  it('reads NAME=value lines, quotes, export, comments and blanks', () => {
    expect(
      parseDotenv(
        '# comment\n\nexport A=1\nB = two words \nC="x\\ny \\"q\\""\nD=\'$lit=\'\nE=\n',
        'f',
      ),
    ).toEqual({ A: '1', B: 'two words', C: 'x\ny "q"', D: '$lit=', E: '' });
  });

  it('names the line, never the text, of a line that is not an assignment', () => {
    expect(() => parseDotenv('A=1\nsuper-secret-value\n', 'config/secrets/s.vault')).toThrow(
      'config/secrets/s.vault, line 2: expected NAME=value.',
    );
    try {
      parseDotenv('hunter2hunter2', 'f');
    } catch (e) {
      expect((e as Error).message).not.toContain('hunter2');
    }
  });

  it('refuses bad names, twice-set names and unclosed quotes', () => {
    expect(() => parseDotenv('lower=1', 'f')).toThrow('not a secret name');
    expect(() => parseDotenv('A=1\nA=2', 'f')).toThrow('f, line 2: A is set twice.');
    expect(() => parseDotenv('A="open', 'f')).toThrow('not closed');
    expect(() => parseDotenv("A='open", 'f')).toThrow('not closed');
  });
});

describe('formatDotenv', () => {
  it('round-trips any value', () => {
    const secrets = {
      B: 'plain',
      A: 'with "quotes", \\backslash\\, $dollar, # hash',
      C: 'multi\nline\r\n\tand tab',
      D: "it's",
      E: '=',
    };
    const text = formatDotenv(secrets);
    expect(text.split('\n')[0]).toMatch(/^A="/);
    expect(parseDotenv(text, 'f')).toEqual(secrets);
  });
});

describe('parseSecretsText', () => {
  it('reads dotenv', () => {
    expect(parseSecretsText('A=1\nB=2\n', 'cmd')).toEqual({ A: '1', B: '2' });
  });

  it('reads a flat JSON object, Vault KV v2 and v1, and AWS SecretString', () => {
    expect(parseSecretsText('{"A":"1","B":2}', 'cmd')).toEqual({ A: '1', B: '2' });
    const vault2 = { data: { data: { DATABASE_URL: 'postgres://x' }, metadata: { version: 3 } } };
    expect(parseSecretsText(JSON.stringify(vault2), 'cmd')).toEqual({
      DATABASE_URL: 'postgres://x',
    });
    const vault1 = { lease_duration: 3600, data: { API_KEY: 'k' } };
    expect(parseSecretsText(JSON.stringify(vault1), 'cmd')).toEqual({ API_KEY: 'k' });
    const aws = { Name: 'shop', SecretString: '{"API_KEY":"k2"}', VersionId: 'v' };
    expect(parseSecretsText(JSON.stringify(aws), 'cmd')).toEqual({ API_KEY: 'k2' });
  });

  it('reports malformed JSON without quoting it', () => {
    expect(() => parseSecretsText('{"A": "hunter2', 'cmd')).toThrow(
      'cmd: output starts with "{" but is not valid JSON.',
    );
    expect(() => parseSecretsText('{"a":{"b":[1]}}', 'cmd')).toThrow('not an object of names');
  });
});

describe('declared secrets', () => {
  it('finds the missing ones (empty counts) and picks only the declared', () => {
    const all = { A: '1', B: '', C: '3' };
    expect(missingSecrets(['A', 'B', 'D'], all)).toEqual(['B', 'D']);
    expect(pick(['C', 'A'], all)).toEqual({ A: '1', C: '3' });
  });

  it('says which key is missing, where, and how to add it', () => {
    expect(missingMessage('shop', 'staging', secretsFile('staging'), ['API_KEY'])).toBe(
      'shop declares secret API_KEY, which config/secrets/staging.vault (profile "staging") does not have. ' +
        'Add it: nx run shop:secrets --configuration=staging set API_KEY (value on stdin). The host was not touched.',
    );
  });
});
