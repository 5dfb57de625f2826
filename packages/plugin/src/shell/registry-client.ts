/** Talks to an OCI distribution registry over HTTP (basic auth, or bearer tokens from its challenge). */
import {
  blobUrl,
  completeUploadUrl,
  MANIFEST_ACCEPT,
  manifestUrl,
  parseBearerChallenge,
  pingUrl,
  uploadUrl,
} from '../core/config/registry';
import { registryHost } from '../core/config/names';

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

  private async request(
    url: string,
    init: RequestInit = {},
    scope?: string,
    timeoutMs = 15000,
  ): Promise<Response> {
    const headers = new Headers(init.headers);
    const token = scope ? this.tokens.get(scope) : undefined;
    if (token) headers.set('Authorization', `Bearer ${token}`);
    else if (this.basic()) headers.set('Authorization', this.basic() as string);
    let res: Response;
    try {
      res = await fetch(url, { ...init, headers, signal: AbortSignal.timeout(timeoutMs) });
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
        return this.request(url, init, scope ?? challenge.scope ?? '', timeoutMs);
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
    // A cross-repository mount needs two scopes (push here, pull there): one parameter each.
    for (const s of scope.split(' ').filter(Boolean)) u.searchParams.append('scope', s);
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

  private fail(what: string, res: Response, detail = ''): RegistryError {
    return new RegistryError(
      `${what} on ${registryHost(this.registry)} failed: HTTP ${res.status}${detail ? ` ${detail}` : ''}.`,
    );
  }

  /** Whether the repository holds the blob. */
  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const res = await this.request(
      blobUrl(this.registry, repository, digest),
      { method: 'HEAD' },
      `repository:${repository}:pull,push`,
    );
    if (res.status === 404) return false;
    if (!res.ok) throw this.fail(`Checking blob ${digest} in ${repository}`, res);
    return true;
  }

  /** A blob's bytes (pull access to the repository is enough). */
  async getBlob(repository: string, digest: string): Promise<Buffer> {
    const res = await this.request(
      blobUrl(this.registry, repository, digest),
      {},
      `repository:${repository}:pull`,
      600_000,
    );
    if (!res.ok) throw this.fail(`Reading blob ${digest} of ${repository}`, res);
    return Buffer.from(await res.arrayBuffer());
  }

  /**
   * Links a blob that another repository of this registry holds, without uploading it. False when
   * the registry cannot (it then opens an upload, which is abandoned; the caller uploads).
   */
  async mountBlob(repository: string, digest: string, from: string): Promise<boolean> {
    const res = await this.request(
      uploadUrl(this.registry, repository, { digest, from }),
      { method: 'POST' },
      `repository:${repository}:pull,push repository:${from}:pull`,
    );
    if (res.status === 201) return true;
    if (res.status === 202) {
      const location = res.headers.get('location');
      if (location) {
        await this.request(
          new URL(location, pingUrl(this.registry)).toString(),
          { method: 'DELETE' },
          `repository:${repository}:pull,push`,
        ).catch(() => undefined);
      }
      return false;
    }
    if (res.status === 401 || res.status === 403 || res.status === 404) return false;
    throw this.fail(`Mounting ${digest} from ${from} into ${repository}`, res);
  }

  /** Uploads a blob in one request (POST to open, PUT with the digest to complete). */
  async uploadBlob(repository: string, digest: string, data: Buffer): Promise<void> {
    const scope = `repository:${repository}:pull,push`;
    const open = await this.request(
      uploadUrl(this.registry, repository),
      { method: 'POST' },
      scope,
    );
    const location = open.headers.get('location');
    if (open.status !== 202 || !location)
      throw this.fail(`Starting an upload to ${repository}`, open);
    const res = await this.request(
      completeUploadUrl(this.registry, location, digest),
      {
        method: 'PUT',
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(data.length),
        },
        body: data,
      },
      scope,
      600_000,
    );
    if (res.status !== 201 && !res.ok)
      throw this.fail(`Uploading ${digest} to ${repository}`, res, await res.text());
  }
}
