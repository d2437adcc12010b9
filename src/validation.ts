import type { z } from 'zod';

export interface FieldProblem {
  field: string;
  message: string;
}

/** A zod error as the API reports it: one problem per field; unknown keys named as `unknown <noun> …`. */
export function fieldProblems(error: z.ZodError, unknownKeyNoun: string): FieldProblem[] {
  return error.issues.map((issue) => ({
    field: issue.path.join('.') || (issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : ''),
    message: issue.code === 'unrecognized_keys' ? `unknown ${unknownKeyNoun} ${issue.keys.join(', ')}` : issue.message,
  }));
}
