export { initGenerator } from './generators/init/init';
export { appGenerator } from './generators/app/app';
export { databaseGenerator } from './generators/database/database';
export { loadProfile, parseProfile, ProfileError } from './core/config/profile';
export type { Profile } from './core/config/profile';
