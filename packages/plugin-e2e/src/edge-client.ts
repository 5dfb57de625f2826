/**
 * Requests to an edge on this machine as a browser would send them to its name: to 127.0.0.1 at
 * the edge's port, with the name as SNI and Host, the certificate checked against the ACME CA's
 * root (Pebble's issuing root).
 */
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';

export interface EdgeAt {
  http: number;
  https: number;
  /** The root the edge's certificates must chain to (PEM). */
  root: string;
}

/** GET https://<name>:<edge port><path>, the certificate checked against the root. */
export function viaEdgeAt(
  edge: EdgeAt,
  name: string,
  path: string,
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    https
      .get(
        {
          host: '127.0.0.1',
          port: edge.https,
          path,
          servername: name,
          headers: { Host: name },
          ca: edge.root,
          timeout: 5000,
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
        },
      )
      .on('error', reject);
  });
}

/** GET http://<name>:<edge http port><path>: its status and Location. */
export function plainHttpAt(
  edge: EdgeAt,
  name: string,
  path: string,
): Promise<{ status: number; location?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(
        { host: '127.0.0.1', port: edge.http, path, headers: { Host: name }, timeout: 5000 },
        (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, location: res.headers.location }),
          );
        },
      )
      .on('error', reject);
  });
}

/** The serial number of the certificate the edge presents for name (checked against the root). */
export const certSerialAt = (edge: EdgeAt, name: string) =>
  new Promise<string>((resolve, reject) => {
    const s = tls.connect(
      { host: '127.0.0.1', port: edge.https, servername: name, ca: edge.root },
      () => {
        resolve(s.getPeerCertificate().serialNumber);
        s.end();
      },
    );
    s.on('error', reject);
  });
