export interface BrowserTestExecutorSchema {
  profile?: string;
  baseUrl?: string;
  ansibleDir?: string;
}
