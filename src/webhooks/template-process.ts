import jsonata from 'jsonata';
import { describeTemplateError, type TemplateReply, type TemplateRequest } from './template-protocol.js';

/**
 * The child process that renders payload templates. JSONata has no I/O; this process's
 * heap is small (a template that builds too much dies here, not in Kiln) and it is killed
 * when a render runs too long (template.ts).
 */

const compiled = new Map<string, jsonata.Expression>();
const MAX_COMPILED = 200;

function compile(template: string): jsonata.Expression {
  let expression = compiled.get(template);
  if (!expression) {
    expression = jsonata(template);
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    compiled.set(template, expression);
  }
  return expression;
}

async function render({ id, template, input, maxBytes }: TemplateRequest): Promise<TemplateReply> {
  try {
    const result: unknown = await compile(template).evaluate(input);
    const body = result === undefined || typeof result === 'function' ? undefined : JSON.stringify(result);
    if (body === undefined) return { id, error: 'the template produced no value for this event' };
    if (Buffer.byteLength(body) > maxBytes) return { id, error: `the template's output is larger than ${maxBytes} bytes` };
    return { id, body };
  } catch (error) {
    return { id, error: describeTemplateError(error) };
  }
}

process.on('message', (request: TemplateRequest) => {
  void render(request).then((reply) => process.send!(reply));
});
// The parent gone, nothing is left to render for.
process.on('disconnect', () => process.exit(0));
process.send!({ ready: true });
