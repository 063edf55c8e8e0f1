// CPU time of the processes on a benchmark's path, each with everything it started (HAProxy's
// worker, a bridged stdio server), read from /proc: where a call's cost goes, process by process.
// Linux only; elsewhere `cpuSeconds` returns undefined and the bench prints no breakdown.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

let ticksPerSecond;

/** The kernel's clock ticks per second, the unit of /proc/<pid>/stat's CPU times. */
function clockTicks() {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * CPU seconds (user + system) used so far by each named process and its live descendants, as
 * `{ name: seconds }`; undefined where /proc cannot be read.
 */
export function cpuSeconds(pids) {
  let names;
  try {
    names = readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const ticks = new Map();
  const children = new Map();
  for (const name of names) {
    let text;
    try {
      text = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    // Fields after the command's closing parenthesis: state, ppid, …, utime (12th), stime (13th).
    const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
    const pid = Number(name);
    const parent = Number(fields[1]);
    ticks.set(pid, Number(fields[11]) + Number(fields[12]));
    const siblings = children.get(parent);
    if (siblings === undefined) children.set(parent, [pid]);
    else siblings.push(pid);
  }
  const tree = (pid) =>
    (ticks.get(pid) ?? 0) + (children.get(pid) ?? []).reduce((sum, c) => sum + tree(c), 0);
  return Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, tree(pid) / clockTicks()]));
}

/** Microseconds of CPU per call of each process between two `cpuSeconds` readings. */
export function perCall(before, after, calls) {
  if (before === undefined || after === undefined || calls === 0) return undefined;
  return Object.fromEntries(
    Object.keys(after).map((name) => [name, ((after[name] - (before[name] ?? 0)) / calls) * 1e6]),
  );
}

/**
 * `perCall`'s figures as one line, each with the share of one core the process was busy at
 * `callsPerSecond` (µs per call × calls per second): `haproxy 62 µs (21%) · router-1 135 µs
 * (46%)`. A process near 100% is the path's bottleneck, since a Node process runs its
 * JavaScript on one core; shares that add up to the machine's cores mean the machine is.
 */
export function formatCpu(cpu, callsPerSecond) {
  return Object.entries(cpu)
    .map(([name, us]) => `${name} ${us.toFixed(0)} µs (${((us * callsPerSecond) / 1e4).toFixed(0)}%)`)
    .join(" · ");
}
