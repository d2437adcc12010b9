/** The messages between a process and its template thread (template.ts, template-process.ts). */
export interface TemplateRequest {
  id: number;
  template: string;
  input: unknown;
  maxBytes: number;
}

export type TemplateReply = { id: number; body: string } | { id: number; error: string } | { ready: true };

/** JSONata's errors carry a code and a position in the template; they are part of the message users see. */
export function describeTemplateError(error: unknown): string {
  if (typeof error === 'object' && error !== null && 'message' in error) {
    const { message, code, position } = error as { message: string; code?: string; position?: number };
    return [code, message, position !== undefined ? `(at character ${position})` : undefined].filter(Boolean).join(' ');
  }
  return String(error);
}
