export { initGenerator } from './generators/init/init';
export { appGenerator } from './generators/app/app';
export { loadProfile, parseProfile, ProfileError } from './core/config/profile';
export type { Profile } from './core/config/profile';
