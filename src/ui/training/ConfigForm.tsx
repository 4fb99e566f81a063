// The run's settings: a preset and, over it, the fields of FORM_FIELDS by TRL's names, and the rest behind
// "More settings" (empty = the preset's value, shown as the placeholder). Errors name the field, as config files' do; Enter trains.
// While a run is loaded the form is read-only and shows the run's resolved configuration; it renders again
// only when its own props change, not with each of the run's events.
import { memo } from 'react';
import { type GrpoConfig, PRESETS } from '../../grpo/config.ts';
import {
  FORM_FIELDS,
  type FormField,
  type FormInputs,
  type FormResult,
  fieldText,
  MORE_FIELDS,
} from './config-inputs.ts';

export const ConfigForm = memo(function ConfigForm(props: {
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
  // An error in one of the further settings opens them.
  const moreOpen = !result.ok && MORE_FIELDS.some((f) => f.name === result.field);
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
      {FORM_FIELDS.map((f) => (
        <Field key={f.name} field={f} {...props} shown={shown} />
      ))}
      <details className="config-more" data-testid="config-more" open={moreOpen || undefined}>
        <summary>More settings</summary>
        <div className="config-more-fields">
          {MORE_FIELDS.map((f) => (
            <Field key={f.name} field={f} {...props} shown={shown} />
          ))}
        </div>
      </details>
      {/* Enter in a field submits; the visible Train button lives with the run controls. */}
      <button type="submit" hidden />
      {!result.ok && (
        <p className="error" data-testid="config-error">
          {result.message}
        </p>
      )}
    </form>
  );
});

function Field(props: {
  field: FormField;
  inputs: FormInputs;
  result: FormResult;
  running: GrpoConfig | null;
  shown: GrpoConfig | null;
  onInput: (name: keyof GrpoConfig, value: string) => void;
}) {
  const { field: f, running, result, shown } = props;
  const invalid = !result.ok && result.field === f.name;
  const value = running ? fieldText(running[f.name]) : (props.inputs[f.name] ?? '');
  const placeholder = shown ? fieldText(shown[f.name]) : '';
  const choices = f.kind === 'bool' ? ['true', 'false'] : f.choices;
  return (
    <div className="config-field">
      <label htmlFor={`config-${f.name}`}>{f.name}</label>
      {choices ? (
        <select
          id={`config-${f.name}`}
          name={f.name}
          value={value}
          disabled={running !== null}
          aria-invalid={invalid}
          onChange={(e) => props.onInput(f.name, e.target.value)}
        >
          <option value="">{placeholder} (preset)</option>
          {choices.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
        </select>
      ) : (
        <input
          id={`config-${f.name}`}
          name={f.name}
          inputMode={f.kind === 'number' ? 'decimal' : 'text'}
          value={value}
          placeholder={placeholder}
          readOnly={running !== null}
          aria-invalid={invalid}
          onChange={(e) => props.onInput(f.name, e.target.value)}
        />
      )}
    </div>
  );
}
