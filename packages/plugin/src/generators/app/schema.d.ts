export interface AppGeneratorSchema {
  name: string;
  frontend?: 'react-vite' | 'none';
  directory?: string;
  backendPort?: number;
  frontendPort?: number;
  monitoring?: boolean;
  skipFormat?: boolean;
  skipInstall?: boolean;
}
