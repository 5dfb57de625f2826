/** Talks to an OCI distribution registry over HTTP (basic auth, or bearer tokens from its challenge). */
import { MANIFEST_ACCEPT, manifestUrl, parseBearerChallenge, pingUrl } from '../core/registry';
import { registryHost } from '../core/names';

export interface RegistryCredentials {
  user: string;
  password: string;
}

export class RegistryError extends Error {
  override name = 'RegistryError';
}

export class RegistryClient {
  private tokens = new Map<string, string>();

  constructor(
    readonly registry: string,
    private readonly credentials?: RegistryCredentials,
  ) {}

  private basic(): string | undefined {
    if (!this.credentials) return undefined;
    return (
      'Basic ' +
      Buffer.from(`${this.credentials.user}:${this.credentials.password}`).toString('base64')
    );
  }

  private async request(url: string, init: RequestInit = {}, scope?: string): Promise<Response> {
    const headers = new Headers(init.headers);
    const token = scope ? this.tokens.get(scope) : undefined;
    if (token) headers.set('Authorization', `Bearer ${token}`);
    else if (this.basic()) headers.set('Authorization', this.basic() as string);
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(15000) });
    } catch (error) {
      const cause =
        (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new RegistryError(
        `Registry ${registryHost(this.registry)} is unreachable (${cause}). Is it running, and is REGISTRY_URL right?`,
      );
    }
    if (res.status === 401 && !token) {
      const challenge = parseBearerChallenge(res.headers.get('www-authenticate'));
      if (challenge) {
        await this.fetchToken(challenge, scope ?? challenge.scope ?? '');
        return this.request(url, init, scope ?? challenge.scope ?? '');
      }
    }
    return res;
  }

  private async fetchToken(
    challenge: { realm: string; service?: string; scope?: string },
    scope: string,
  ) {
    const u = new URL(challenge.realm);
    if (challenge.service) u.searchParams.set('service', challenge.service);
    if (scope) u.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    const basic = this.basic();
    if (basic) headers['Authorization'] = basic;
    const res = await fetch(u, { headers, signal: AbortSignal.timeout(15000) });
    if (!res.ok)
      throw new RegistryError(
        `Registry ${registryHost(this.registry)} refused the login (token endpoint: HTTP ${res.status}).`,
      );
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token)
      throw new RegistryError(`Registry ${registryHost(this.registry)} returned no token.`);
    this.tokens.set(scope, token);
  }

  /** Checks the registry answers and accepts our credentials (or needs none). */
  async ping(): Promise<void> {
    const res = await this.request(pingUrl(this.registry));
    if (res.status === 401) {
      throw new RegistryError(
        this.credentials
          ? `Registry ${registryHost(this.registry)} refused the login for user "${this.credentials.user}" (HTTP 401).`
          : `Registry ${registryHost(this.registry)} needs a login: set REGISTRY_USER and REGISTRY_PASS.`,
      );
    }
    if (!res.ok)
      throw new RegistryError(
        `Registry ${registryHost(this.registry)} answered HTTP ${res.status} on /v2/.`,
      );
  }

  /** The manifest of repository:reference, or undefined when the registry does not have it. */
  async getManifest(
    repository: string,
    reference: string,
  ): Promise<{ body: string; contentType: string; digest: string } | undefined> {
    const scope = `repository:${repository}:pull,push`;
    const res = await this.request(
      manifestUrl(this.registry, repository, reference),
      { headers: { Accept: MANIFEST_ACCEPT } },
      scope,
    );
    if (res.status === 404) return undefined;
    if (!res.ok)
      throw new RegistryError(
        `Reading ${repository}:${reference} from ${registryHost(this.registry)} failed: HTTP ${res.status}.`,
      );
    const body = await res.text();
    return {
      body,
      contentType: res.headers.get('content-type') ?? 'application/vnd.oci.image.manifest.v1+json',
      digest: res.headers.get('docker-content-digest') ?? '',
    };
  }

  /** Adds a tag to an existing manifest: no layer moves. Returns the digest. */
  async putManifest(
    repository: string,
    tag: string,
    manifest: { body: string; contentType: string },
  ): Promise<string> {
    const scope = `repository:${repository}:pull,push`;
    const res = await this.request(
      manifestUrl(this.registry, repository, tag),
      { method: 'PUT', headers: { 'Content-Type': manifest.contentType }, body: manifest.body },
      scope,
    );
    if (res.status !== 201 && !res.ok) {
      throw new RegistryError(
        `Tagging ${repository}:${tag} on ${registryHost(this.registry)} failed: HTTP ${res.status} ${await res.text()}`,
      );
    }
    return res.headers.get('docker-content-digest') ?? '';
  }
}
