export interface SecretsExecutorSchema {
  command?: 'edit' | 'set' | 'unset' | 'list' | 'check';
  name?: string;
  profile?: string;
  secrets?: string[];
}
