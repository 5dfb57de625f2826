export interface AppGeneratorSchema {
  name: string;
  frontend?: 'react-vite' | 'none';
  database?: 'none' | 'postgres';
  directory?: string;
  backendPort?: number;
  frontendPort?: number;
  monitoring?: boolean;
  skipFormat?: boolean;
  skipInstall?: boolean;
}
