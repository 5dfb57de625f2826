/** Private temp files (0600 in a 0700 folder), removed by cleanup() on every exit path. */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class PrivateDir {
  readonly path: string;
  constructor(prefix: string) {
    this.path = mkdtempSync(join(tmpdir(), prefix));
    chmodSync(this.path, 0o700);
  }
  write(name: string, content: string): string {
    const file = join(this.path, name);
    writeFileSync(file, content, { mode: 0o600 });
    return file;
  }
  file(name: string): string {
    return join(this.path, name);
  }
  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
