/** What an image is built from: a Dockerfile and files staged into a build context. */
import type { Component } from '../config/names';

export interface ContextEntry {
  /** Workspace-relative file or folder. */
  from: string;
  /** Path inside the staged build context. */
  to: string;
}

export interface ImageSpec {
  component: Component;
  dockerfile: string;
  context: ContextEntry[];
}
