// The `qafila ui serve` bridge's token (SECURITY.md, "Local surfaces"). The
// bridge prints the address to open as `http://ADDR/#token=…`: a fragment,
// which the browser sends neither to the server nor in `Referer`. The page
// takes the token from there once, at start-up, removes it from the address
// bar (and so from history, bookmarks and screenshots), keeps it in memory
// and in this tab's session storage (so a reload keeps working, and no other
// tab or later session sees it), and `api.ts` sends it with every command.
// The Tauri shell calls through IPC and has no token.

const STORAGE_KEY = 'qafila.bridge-token';
const FRAGMENT = /^#token=([0-9a-f]{64})$/;

let token: string | null | undefined;

/**
 * Takes the token from the address's fragment, if it carries one, and
 * removes it from the address bar. Called once before the app mounts, so
 * the router never sees it; a later call finds nothing to take.
 */
export function adoptBridgeToken(): void {
  const match = FRAGMENT.exec(location.hash);
  if (!match) return;
  token = match[1];
  try {
    sessionStorage.setItem(STORAGE_KEY, token);
  } catch {
    // Storage refused (a private window's quota): memory alone lasts until a reload.
  }
  history.replaceState(history.state, '', `${location.pathname}${location.search}`);
}

/** The token to send, or null when this page was opened without one. */
export function bridgeToken(): string | null {
  if (token === undefined) {
    try {
      token = sessionStorage.getItem(STORAGE_KEY);
    } catch {
      token = null;
    }
  }
  return token;
}

/** Forgets the token (between tests). */
export function forgetBridgeToken(): void {
  token = undefined;
  try {
    sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored.
  }
}
