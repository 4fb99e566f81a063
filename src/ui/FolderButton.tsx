// A button that opens the browser's folder picker and hands over the picked folder's files with their
// paths within it, as a drop does.
import { useEffect, useRef } from 'react';
import { type DroppedEntry, inputEntries } from '../data/files/drop-browser.ts';

export function FolderButton(props: {
  label: string;
  disabled?: boolean;
  testId: string;
  onEntries: (entries: DroppedEntry[]) => void;
}) {
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    // Folder pickers need the non-standard attribute, which React does not pass through by name.
    input.current?.setAttribute('webkitdirectory', '');
  }, []);
  return (
    <>
      <button type="button" disabled={props.disabled} onClick={() => input.current?.click()}>
        {props.label}
      </button>
      <input
        ref={input}
        type="file"
        hidden
        multiple
        data-testid={props.testId}
        onChange={(e) => {
          if (e.target.files && e.target.files.length > 0) props.onEntries(inputEntries(e.target.files));
          // The same folder picked again is a new pick.
          e.target.value = '';
        }}
      />
    </>
  );
}
