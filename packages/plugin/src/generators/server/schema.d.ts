export interface ServerGeneratorSchema {
  app: string;
  provider: 'aws' | 'azure' | 'gcp' | 'hetzner';
  profile?: string;
  skipFormat?: boolean;
}
