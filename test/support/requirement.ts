/** CI sets CI=true (some set 1); there, a test that cannot run is a failure, not a skip. */
export const inCi = (env: NodeJS.ProcessEnv = process.env): boolean => env.CI !== undefined && !['', '0', 'false'].includes(env.CI.toLowerCase());

/** What a suite needs from this machine: what its tests are, and how CI provides it. */
export interface Requirement {
  /** e.g. 'docker runtime tests' */
  readonly tests: string;
  /** e.g. '.ci/run installs docker.io and runs as root' */
  readonly ciProvides: string;
}

/**
 * What a suite with a requirement does: run; skip with a warning on a developer's machine
 * without it; or, in CI, fail saying why — a skipped test there would read as a passed one.
 */
export function suiteMode(requirement: Requirement, unavailable: string | undefined, env: NodeJS.ProcessEnv = process.env): { run: true } | { skip: string } | { fail: string } {
  if (unavailable === undefined) return { run: true };
  if (inCi(env)) return { fail: `${requirement.tests} cannot run in CI (CI=${env.CI}): ${unavailable}. ${requirement.ciProvides}.` };
  return { skip: `${requirement.tests} SKIPPED: ${unavailable} (${requirement.ciProvides})` };
}

/** `describe` for a suite with a requirement: runs, skips with a warning, or in CI fails (see suiteMode). */
export function describeWhere(requirement: Requirement, unavailable: string | undefined, name: string, body: () => void): void {
  const mode = suiteMode(requirement, unavailable);
  if ('run' in mode) describe(name, body);
  else if ('fail' in mode) {
    describe(name, () => {
      it(`has what the ${requirement.tests} need`, () => {
        throw new Error(mode.fail);
      });
    });
  } else {
    console.warn(mode.skip);
    describe.skip(name, body);
  }
}
