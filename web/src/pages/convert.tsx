import { useEffect, useState } from 'preact/hooks';
import { navigate } from '../router.js';
import { describeProblem, kiln } from '../session.js';

/** A property of the conversion form as the OpenAPI document describes it. */
interface FieldSchema {
  type?: string;
  enum?: Array<string | boolean>;
  minimum?: number;
  maximum?: number;
  description?: string;
  anyOf?: FieldSchema[];
  $ref?: string;
}

/** What the file picker offers: images, and the formats a desktop may not file under image/* (HEIC, JPEG XL, PDF). */
const INPUT_TYPES = 'image/*,.heic,.heif,.jxl,application/pdf,.pdf';

/** Asked first; the rest sit under "More options". */
const COMMON = ['output_format', 'width', 'height', 'fit', 'quality'];
/** Fields this page sets in its own way (the file, the URL, the preset). */
const OWN = ['file', 'source_url', 'preset'];

/** The conversion form's fields, from the document the API validates against: the form and the API never disagree. */
function useConversionFields(): Array<[string, FieldSchema]> | undefined {
  const [fields, setFields] = useState<Array<[string, FieldSchema]>>();
  useEffect(() => {
    void fetch('/openapi.json')
      .then((r) => r.json() as Promise<{ components: { schemas: Record<string, { properties?: Record<string, FieldSchema> } & FieldSchema> } }>)
      .then((document) => {
        const schemas = document.components.schemas;
        const resolve = (field: FieldSchema): FieldSchema =>
          field.$ref ? { ...schemas[field.$ref.split('/').pop()!]!, description: field.description } : field;
        const properties = schemas.ConversionForm?.properties ?? {};
        setFields(Object.entries(properties).flatMap(([name, field]): Array<[string, FieldSchema]> => (OWN.includes(name) ? [] : [[name, resolve(field)]])));
      });
  }, []);
  return fields;
}

const label = (name: string) => name.replaceAll('_', ' ').replace(/^./, (c) => c.toUpperCase());

function Field(props: { name: string; schema: FieldSchema; value: string; onChange: (value: string) => void }) {
  const { name, schema, value, onChange } = props;
  const id = `option-${name}`;
  const help = schema.description ? `${id}-help` : undefined;
  const read = (event: Event) => onChange((event.target as HTMLInputElement).value);
  let control;
  if (schema.enum && schema.type !== 'boolean') {
    control = (
      <select id={id} value={value} onChange={read} aria-describedby={help}>
        <option value="">(default)</option>
        {schema.enum.map((choice) => (
          <option value={String(choice)}>{String(choice)}</option>
        ))}
      </select>
    );
  } else if (schema.type === 'boolean') {
    control = (
      <input
        id={id}
        type="checkbox"
        checked={value === 'true'}
        onChange={(event) => onChange((event.target as HTMLInputElement).checked ? 'true' : '')}
        aria-describedby={help}
      />
    );
  } else if (schema.type === 'integer' || schema.type === 'number') {
    control = (
      <input
        id={id}
        type="number"
        inputMode="decimal"
        min={schema.minimum}
        max={schema.maximum}
        step={schema.type === 'integer' ? 1 : 'any'}
        value={value}
        onInput={read}
        aria-describedby={help}
      />
    );
  } else {
    control = <input id={id} type="text" value={value} onInput={read} aria-describedby={help} />;
  }
  return (
    <div class={schema.type === 'boolean' ? 'field field-check' : 'field'}>
      <label for={id}>{label(name)}</label>
      {control}
      {help && (
        <p id={help} class="help">
          {schema.description}
        </p>
      )}
    </div>
  );
}

/** Drop or pick files (or give a URL), choose options from the API's own schema, then follow the work on its page. */
export function Convert() {
  const fields = useConversionFields();
  const [files, setFiles] = useState<File[]>([]);
  const [url, setUrl] = useState('');
  const [values, setValues] = useState<Record<string, string>>({});
  const [presets, setPresets] = useState<string[]>([]);
  const [preset, setPreset] = useState('');
  const [problem, setProblem] = useState<{ message: string; errors: string[] } | undefined>();
  const [busy, setBusy] = useState(false);
  const [dragging, setDragging] = useState(false);
  useEffect(() => {
    void kiln()
      .json<{ data: Array<{ name: string }> }>('GET', '/v1/presets?limit=100')
      .then(
        (page) => setPresets(page.data.map((p) => p.name)),
        () => undefined,
      );
  }, []);
  /** The options as the API's types have them (a URL goes as JSON, where 300 and "300" differ). */
  const options = (): Record<string, unknown> => {
    const chosen: Record<string, unknown> = preset ? { preset } : {};
    const schemas = new Map(fields ?? []);
    for (const [name, value] of Object.entries(values)) {
      if (value === '') continue;
      const schema = schemas.get(name);
      const numeric = schema?.type === 'integer' || schema?.type === 'number' || (schema?.anyOf !== undefined && value !== 'true');
      chosen[name] = value === 'true' ? true : numeric && Number.isFinite(Number(value)) ? Number(value) : value;
    }
    return chosen;
  };
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setProblem(undefined);
    try {
      const client = kiln();
      const inputs = url.trim() ? [url.trim()] : files;
      if (inputs.length === 1) navigate(`/conversions/${(await client.convert(inputs[0]!, options())).id}`);
      else navigate(`/jobs/${(await client.createJob(inputs, options())).id}`);
    } catch (failure) {
      setProblem(describeProblem(failure));
    } finally {
      setBusy(false);
    }
  };
  const set = (name: string) => (value: string) => setValues((current) => ({ ...current, [name]: value }));
  const [presetName, setPresetName] = useState('');
  const [presetSaved, setPresetSaved] = useState<string | undefined>();
  /** The options chosen, kept under a name (replacing a preset of that name). */
  const savePreset = async (event: Event) => {
    event.preventDefault();
    setProblem(undefined);
    setPresetSaved(undefined);
    const { preset: _base, ...chosen } = options();
    const name = presetName.trim();
    try {
      await kiln().savePreset(name, chosen);
      if (!presets.includes(name)) setPresets([...presets, name]);
      setPresetSaved(name);
    } catch (failure) {
      setProblem(describeProblem(failure));
    }
  };
  const common = fields?.filter(([name]) => COMMON.includes(name)) ?? [];
  const more = fields?.filter(([name]) => !COMMON.includes(name)) ?? [];
  return (
    <>
      <h1>Convert</h1>
      <form class="convert" onSubmit={(event) => void submit(event)}>
        <div
          class={dragging ? 'drop dragging' : 'drop'}
          onDragOver={(event) => {
            event.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={(event) => {
            event.preventDefault();
            setDragging(false);
            setFiles([...(event.dataTransfer?.files ?? [])]);
          }}
        >
          <label for="files">Images (drop them here, or choose)</label>
          <input id="files" type="file" multiple accept={INPUT_TYPES} onChange={(event) => setFiles([...((event.target as HTMLInputElement).files ?? [])])} />
          {files.length > 0 && (
            <p aria-live="polite">
              {files.length} file{files.length === 1 ? '' : 's'}: {files.map((f) => f.name).join(', ')}
            </p>
          )}
        </div>
        <div class="field">
          <label for="source-url">Or a URL Kiln fetches</label>
          <input id="source-url" type="url" value={url} onInput={(event) => setUrl((event.target as HTMLInputElement).value)} />
        </div>
        {presets.length > 0 && (
          <div class="field">
            <label for="preset">Preset</label>
            <select id="preset" value={preset} onChange={(event) => setPreset((event.target as HTMLSelectElement).value)}>
              <option value="">(none)</option>
              {presets.map((name) => (
                <option value={name}>{name}</option>
              ))}
            </select>
          </div>
        )}
        <fieldset>
          <legend>Options</legend>
          {!fields && <p aria-busy="true">Loading the options…</p>}
          {common.map(([name, schema]) => (
            <Field key={name} name={name} schema={schema} value={values[name] ?? ''} onChange={set(name)} />
          ))}
          {more.length > 0 && (
            <details>
              <summary>More options</summary>
              {more.map(([name, schema]) => (
                <Field key={name} name={name} schema={schema} value={values[name] ?? ''} onChange={set(name)} />
              ))}
            </details>
          )}
        </fieldset>
        {problem && (
          <div class="error" role="alert">
            <p>{problem.message}</p>
            {problem.errors.length > 1 && (
              <ul>
                {problem.errors.map((message) => (
                  <li>{message}</li>
                ))}
              </ul>
            )}
          </div>
        )}
        <button type="submit" disabled={busy || (files.length === 0 && url.trim() === '')}>
          {busy ? 'Uploading…' : 'Convert'}
        </button>
      </form>
      <form class="inline-form save-preset" onSubmit={(event) => void savePreset(event)}>
        <label for="preset-name">Save these options as the preset</label>
        <input
          id="preset-name"
          required
          pattern="[a-z0-9][a-z0-9._\-]{0,63}"
          value={presetName}
          onInput={(event) => setPresetName((event.target as HTMLInputElement).value)}
        />
        <button type="submit">Save preset</button>
        {presetSaved && <span role="status">Saved the preset {presetSaved}.</span>}
      </form>
    </>
  );
}
