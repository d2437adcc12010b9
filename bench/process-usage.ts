import { readdirSync, readFileSync } from 'node:fs';

/** CPU and memory of the processes in one process group, read from /proc (Linux). */
export interface ProcessUsage {
  pid: number;
  command: string;
  cpuSeconds: number;
  /** Peak resident set (VmHWM), in MiB. */
  peakRssMb: number;
}

const TICKS_PER_SECOND = 100;

function readProcess(pid: number): (ProcessUsage & { group: number; parent: number }) | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command sits in parentheses and may hold spaces; the fields after it are fixed.
    const command = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const parent = Number(fields[1]);
    const group = Number(fields[2]);
    const cpuSeconds = (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { pid, command, group, parent, cpuSeconds, peakRssMb: hwm ? Number(hwm[1]) / 1024 : 0 };
  } catch {
    return undefined; // the process ended while being read
  }
}

function allProcesses(): Array<ProcessUsage & { group: number; parent: number }> {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProcess(Number(name)))
    .filter((usage) => usage !== undefined);
}

export function processGroupUsage(groupId: number): ProcessUsage[] {
  return allProcesses().filter((usage) => usage.group === groupId);
}

/** This process and its direct children, and any other process given with its own direct children (a server started apart). */
export function ownUsage(...others: number[]): ProcessUsage[] {
  const roots = new Set([process.pid, ...others]);
  return allProcesses().filter((usage) => roots.has(usage.pid) || roots.has(usage.parent));
}

/**
 * CPU seconds each role spent between two snapshots, a role being what `roleOf` names a
 * process (processes that appeared in between count from zero).
 */
export function cpuByRole(before: ProcessUsage[], after: ProcessUsage[], roleOf: (usage: ProcessUsage) => string): Map<string, number> {
  const start = new Map(before.map((u) => [u.pid, u.cpuSeconds]));
  const roles = new Map<string, number>();
  for (const usage of after) {
    const role = roleOf(usage);
    roles.set(role, (roles.get(role) ?? 0) + usage.cpuSeconds - (start.get(usage.pid) ?? 0));
  }
  return roles;
}

export function formatRoles(roles: Map<string, number>, per: number, unit: string): string {
  return [...roles.entries()].map(([role, seconds]) => `${role} ${(seconds / per).toFixed(3)} s`).join(', ') + ` per ${unit}`;
}

/** A process and all its descendants (Postgres's backends each start a session of their own, so its group is not enough). */
export function processTreeUsage(rootPid: number): ProcessUsage[] {
  const all = allProcesses();
  const inTree = new Set([rootPid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const usage of all) {
      if (!inTree.has(usage.pid) && inTree.has(usage.parent)) {
        inTree.add(usage.pid);
        grew = true;
      }
    }
  }
  return all.filter((usage) => inTree.has(usage.pid));
}
