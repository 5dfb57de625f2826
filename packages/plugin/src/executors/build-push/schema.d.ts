import type { ImageSpec } from '../../core/image/images';

export interface BuildPushExecutorSchema {
  profile?: string;
  /** Given on the command line: a digits-only tag may arrive as a number (see cliText). */
  tag?: string | number;
  push?: boolean;
  engine?: 'docker' | 'podman' | 'auto';
  /** Assemble images over the registry API when the Dockerfile allows it (default true). */
  assemble?: boolean;
  buildArgs?: Record<string, string>;
  images: ImageSpec[];
}
