import { nextCommands, profileOutputs, serverName } from './server';

describe('server', () => {
  it("names the outputs after the profile's variables", () => {
    expect(profileOutputs('staging')).toEqual({
      host: 'STAGING_SSH_HOST',
      user: 'STAGING_SSH_USER',
      deployPath: 'STAGING_DEPLOY_PATH',
    });
    expect(profileOutputs('eu-prod').host).toBe('EU_PROD_SSH_HOST');
  });

  it('names the server so every provider takes it: lower case, digits and "-", no "-" at the ends', () => {
    expect(serverName('shop', 'staging')).toBe('shop-staging');
    expect(serverName('Shop', 'eu_prod')).toBe('shop-eu-prod');
    expect(serverName('a'.repeat(70), 'staging')).toHaveLength(60);
  });

  it('goes from an empty account to a deployed app in three commands', () => {
    expect(nextCommands('shop', 'production')).toEqual([
      'terraform init && terraform apply',
      'nx run shop:bootstrap --configuration=production',
      'nx run shop:deploy --configuration=production',
    ]);
  });
});
