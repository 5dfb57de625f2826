import type { ImageSpec } from '../../core/images';

export interface BuildPushExecutorSchema {
  profile?: string;
  tag?: string;
  push?: boolean;
  engine?: 'docker' | 'podman' | 'auto';
  buildArgs?: Record<string, string>;
  images: ImageSpec[];
}
