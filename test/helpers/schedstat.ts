import { readdirSync, readFileSync } from 'node:fs';

/** The fields of /proc/<pid>/task/<tid>/schedstat, summed over a process's threads. */
function sumSchedstat(pid: number, field: 0 | 2): number {
  let total = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[field]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return total;
}

/** CPU time a process has used so far, in µs (every thread). */
export function cpuUs(pid: number): number {
  return sumSchedstat(pid, 0) / 1000;
}

/** Timeslices a process has run so far (every thread): how often it woke. */
export function wakeups(pid: number): number {
  return sumSchedstat(pid, 2);
}
