/** The doctor's own options; the app's hosts, ports and strategy come from its deploy target. */
export interface DoctorExecutorSchema {
  profile?: string;
  minFreeGiB?: number;
}
