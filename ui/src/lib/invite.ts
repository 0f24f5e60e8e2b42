// A convoy invite as the lead's screen shows it, in a QR code or as a link to
// pass on: `qafila:enroll?relay=<percent-encoded relay URL>&code=<code>`. The
// joining screen reads it from the camera or from a paste into the code field.

/** What enrollment needs from an invite (the `enroll` command's arguments). */
export interface Invite {
  relay: string;
  code: string;
}

const PREFIX = /^qafila:(?:\/\/)?enroll\?/i;

/** The relay and code of an invite link, or null when `text` is not one. */
export function parseInviteLink(text: string): Invite | null {
  const link = text.trim();
  const prefix = PREFIX.exec(link);
  if (!prefix) return null;
  const params = new URLSearchParams(link.slice(prefix[0].length));
  // A link naming two relays or two codes is ambiguous: take neither.
  if (params.getAll('relay').length !== 1 || params.getAll('code').length !== 1) return null;
  const relay = params.get('relay')!.trim();
  const code = params.get('code')!.trim();
  if (code === '' || /\s/.test(code) || !isRelayUrl(relay)) return null;
  return { relay, code };
}

function isRelayUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.host !== '';
  } catch {
    return false;
  }
}
