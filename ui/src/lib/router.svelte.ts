// A hash router with five places, one per tab: `#/scan`, `#/today`, `#/lead`,
// `#/registrar`, `#/settings`. The hash survives a reload and needs nothing
// from the server (the Tauri shell serves files, not routes).

export const ROUTES = ['scan', 'today', 'lead', 'registrar', 'settings'] as const;
export type Route = (typeof ROUTES)[number];

function parse(hash: string): Route | null {
  const name = hash.replace(/^#\/?/, '');
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : null;
}

export const router: { route: Route | null } = $state({ route: parse(location.hash) });

/** Goes to a screen (and records it in the address, for reloads and Back). */
export function navigate(route: Route): void {
  router.route = route;
  const hash = `#/${route}`;
  if (location.hash !== hash) location.hash = hash;
}

/** Follows Back/Forward and typed addresses; returns the function that stops. */
export function followHash(): () => void {
  const onChange = () => {
    const route = parse(location.hash);
    if (route) router.route = route;
  };
  window.addEventListener('hashchange', onChange);
  return () => window.removeEventListener('hashchange', onChange);
}

/** Re-reads the address (between tests). */
export function reloadRoute(): void {
  router.route = parse(location.hash);
}
