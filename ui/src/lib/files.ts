// Files the registrar picks, and sheets sent to the system's print dialog.

/** A picked file's bytes as base64 (what `import_file` takes). */
export function readBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result ?? '');
      // A data URL: "data:<type>;base64,<bytes>".
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error('the file could not be read'));
    reader.readAsDataURL(file);
  });
}

/**
 * The hidden print frame's sandbox: this page may write into it
 * (`allow-same-origin`) and open the print dialog from it (`allow-modals`);
 * nothing in it runs as script. The documents are the backend's card sheets
 * and day reports: every name in them is escaped and each carries its own
 * script-free Content-Security-Policy, and this keeps a name that ever
 * slipped through from running with the app's origin (and its bridge token).
 */
export const PRINT_FRAME_SANDBOX = 'allow-same-origin allow-modals';

/**
 * Prints a self-contained HTML document (a card sheet) through the system's
 * print dialog: written into a hidden, sandboxed frame, printed from there,
 * removed after. Resolves once the dialog was opened.
 */
export function printHtml(html: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const frame = document.createElement('iframe');
    frame.setAttribute('sandbox', PRINT_FRAME_SANDBOX);
    frame.setAttribute('aria-hidden', 'true');
    frame.tabIndex = -1;
    frame.className = 'print-frame';
    document.body.append(frame);
    const view = frame.contentWindow;
    const doc = frame.contentDocument ?? view?.document;
    if (!view || !doc) {
      frame.remove();
      reject(new Error('no frame to print from'));
      return;
    }
    doc.open();
    doc.write(html);
    doc.close();
    const go = () => {
      try {
        view.focus();
        view.print();
        resolve();
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      } finally {
        // Printing copies the document; the frame can go once the dialog closed.
        setTimeout(() => frame.remove(), 60_000);
      }
    };
    // Wait for the sheet's fonts so the first page is not printed blank.
    const fonts = doc.fonts?.ready ?? Promise.resolve();
    void fonts.then(go, go);
  });
}

/** Offers bytes (base64) as a file to save, as a browser download. */
export function saveBase64(name: string, mime: string, base64: string): void {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  saveBlob(name, new Blob([bytes], { type: mime }));
}

/** Offers a text as a file to save, as a browser download. */
export function saveText(name: string, mime: string, text: string): void {
  saveBlob(name, new Blob([text], { type: mime }));
}

function saveBlob(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  link.rel = 'noopener';
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
