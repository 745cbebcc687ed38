/** Where a command prints its result (stdout in the real CLI; logs go to stderr). */
export interface CliOutput {
  out(line: string): void;
}

/** The process's stdout. */
export const STDOUT: CliOutput = { out: (line) => void process.stdout.write(`${line}\n`) };
