// The run's settings: a preset and, over it, the fields of FORM_FIELDS by TRL's names (empty = the
// preset's value, shown as the placeholder). Errors name the field, as config files' do; Enter trains.
// While a run is loaded the form is read-only and shows the run's resolved configuration.
import { type GrpoConfig, PRESETS } from '../../grpo/config.ts';
import { FORM_FIELDS, type FormInputs, type FormResult } from './config-inputs.ts';

export function ConfigForm(props: {
  preset: string;
  inputs: FormInputs;
  result: FormResult;
  /** The loaded run's configuration: the form then shows it, read-only. */
  running: GrpoConfig | null;
  onPreset: (preset: string) => void;
  onInput: (name: keyof GrpoConfig, value: string) => void;
  onSubmit: () => void;
}) {
  const { running, result } = props;
  const shown = running ?? (result.ok ? result.config : null);
  return (
    <form
      className="config-form"
      data-testid="config-form"
      onSubmit={(e) => {
        e.preventDefault();
        props.onSubmit();
      }}
    >
      <label>
        preset
        <select
          value={props.preset}
          disabled={running !== null}
          onChange={(e) => props.onPreset(e.target.value)}
        >
          {Object.keys(PRESETS).map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </select>
      </label>
      {FORM_FIELDS.map((f) => {
        const invalid = !result.ok && result.field === f.name;
        const value = running ? String(running[f.name]) : (props.inputs[f.name] ?? '');
        const placeholder = shown ? String(shown[f.name]) : '';
        return (
          <div key={f.name} className="config-field">
            <label htmlFor={`config-${f.name}`}>{f.name}</label>
            {f.kind === 'choice' ? (
              <select
                id={`config-${f.name}`}
                name={f.name}
                value={value}
                disabled={running !== null}
                aria-invalid={invalid}
                onChange={(e) => props.onInput(f.name, e.target.value)}
              >
                <option value="">{placeholder} (preset)</option>
                {f.choices?.map((c) => (
                  <option key={c} value={c}>
                    {c}
                  </option>
                ))}
              </select>
            ) : (
              <input
                id={`config-${f.name}`}
                name={f.name}
                inputMode="decimal"
                value={value}
                placeholder={placeholder}
                readOnly={running !== null}
                aria-invalid={invalid}
                onChange={(e) => props.onInput(f.name, e.target.value)}
              />
            )}
          </div>
        );
      })}
      {/* Enter in a field submits; the visible Train button lives with the run controls. */}
      <button type="submit" hidden />
      {!result.ok && (
        <p className="error" data-testid="config-error">
          {result.message}
        </p>
      )}
    </form>
  );
}
