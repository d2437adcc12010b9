/**
 * The loader flags this process runs with (tsx from source), and nothing else: no --test,
 * no --inspect. A child process Kiln forks runs its module the way the parent does.
 */
export function loaderArgs(execArgv: string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i]!;
    if (/^--(import|require|loader|experimental-loader)=/.test(arg)) kept.push(arg);
    else if (/^(--(import|require|loader|experimental-loader)|-r)$/.test(arg) && execArgv[i + 1] !== undefined) kept.push(arg, execArgv[++i]!);
  }
  return kept;
}
