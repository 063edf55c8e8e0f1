/** Runs the real `haproxy -c` (Debian package `haproxy`) over a rendered config. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Result of `haproxy -c -f <file>`. */
export interface HaproxyCheck {
  readonly status: number | null;
  readonly output: string;
}

/** Check a config text with the real binary; throws when haproxy is not installed. */
export function haproxyCheck(configText: string): HaproxyCheck {
  const dir = mkdtempSync(join(tmpdir(), "haproxy-check-"));
  try {
    const file = join(dir, "haproxy.cfg");
    writeFileSync(file, configText);
    const r = spawnSync("haproxy", ["-c", "-f", file], { encoding: "utf8", timeout: 30_000 });
    if (r.error) throw new Error(`cannot run haproxy (apt-get install haproxy): ${r.error.message}`);
    return { status: r.status, output: `${r.stdout}${r.stderr}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Lines of one section of a rendered config (`backend router`), without indentation. */
export function sectionLines(cfg: string, header: string): string[] {
  const block = cfg.split("\n\n").find((b) => b.startsWith(`${header}\n`));
  if (block === undefined) throw new Error(`no section ${header}`);
  return block
    .split("\n")
    .slice(1)
    .map((l) => l.trim());
}
