/**
 * The headless browser of the browser tests: Debian's chromium driven by playwright-core, with
 * nothing that reaches the network on its own (no background networking, QUIC, component or
 * sync updates).
 */
import { chromium } from "playwright-core";
import type { Browser } from "playwright-core";

/** Debian's chromium (`apt-get install chromium`; `.ci/run` installs it). */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags of every launch. */
export const CHROMIUM_ARGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-quic",
  "--no-first-run",
  "--disable-component-update",
  "--disable-sync",
];

/** Launches headless chromium. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
}
