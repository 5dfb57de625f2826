export interface DatabaseGeneratorSchema {
  app: string;
  database?: 'postgres';
  skipFormat?: boolean;
  skipInstall?: boolean;
}
