import { describe, expect, test } from 'vitest';
import { parseInviteLink, type Invite } from './invite';

function check(text: string, expected: Invite | null) {
  expect(parseInviteLink(text), JSON.stringify(text)).toEqual(expected);
}

const RELAY = 'https://relay.example:8443';
const CODE = 'K7QF2-M2XD9-TNV6H8';

describe('invite links', () => {
  test('the link the lead shows gives the relay (percent-decoded) and the code', () => {
    check(`qafila:enroll?relay=${encodeURIComponent(RELAY)}&code=${CODE}`, { relay: RELAY, code: CODE });
    check(`qafila:enroll?relay=https%3A%2F%2Frelay.example%2Fq%3Fa%3D1&code=${CODE}`, {
      relay: 'https://relay.example/q?a=1',
      code: CODE,
    });
    check(`qafila:enroll?relay=http%3A%2F%2F127.0.0.1%3A4000&code=${CODE}`, {
      relay: 'http://127.0.0.1:4000',
      code: CODE,
    });
  });

  test('pasted as people paste: spaces around, either order, other case, extra fields', () => {
    check(`  qafila:enroll?relay=${encodeURIComponent(RELAY)}&code=${CODE}\n`, { relay: RELAY, code: CODE });
    check(`qafila:enroll?code=${CODE}&relay=${encodeURIComponent(RELAY)}`, { relay: RELAY, code: CODE });
    check(`QAFILA:ENROLL?relay=${encodeURIComponent(RELAY)}&code=${CODE}`, { relay: RELAY, code: CODE });
    check(`qafila://enroll?relay=${encodeURIComponent(RELAY)}&code=${CODE}&v=1`, { relay: RELAY, code: CODE });
    // An unencoded relay still reads (its "://" and ":" need no escaping in a query).
    check(`qafila:enroll?relay=${RELAY}&code=${CODE}`, { relay: RELAY, code: CODE });
  });

  test('anything else is not an invite', () => {
    const relay = encodeURIComponent(RELAY);
    check('', null);
    check(CODE, null);
    check(RELAY, null);
    // A beneficiary card.
    check('QF104FTN0003QE00000040U4A1JQ74R4VDQ7D5UTVF0MXY038K862RZAX', null);
    check(`https://example.org/enroll?relay=${relay}&code=${CODE}`, null);
    check(`qafila:join?relay=${relay}&code=${CODE}`, null);
    check(`qafila:enroll?relay=${relay}`, null);
    check(`qafila:enroll?code=${CODE}`, null);
    check(`qafila:enroll?relay=&code=${CODE}`, null);
    check(`qafila:enroll?relay=${relay}&code=`, null);
    check(`qafila:enroll?relay=${relay}&code=K7QF2%20M2XD9`, null);
    check(`qafila:enroll?relay=relay.example&code=${CODE}`, null);
    check(`qafila:enroll?relay=${encodeURIComponent('javascript:alert(1)')}&code=${CODE}`, null);
    check(`qafila:enroll?relay=${encodeURIComponent('file:///etc/passwd')}&code=${CODE}`, null);
    // Two relays or two codes: which one was meant is unknown.
    check(`qafila:enroll?relay=${relay}&relay=${relay}&code=${CODE}`, null);
    check(`qafila:enroll?relay=${relay}&code=${CODE}&code=OTHER`, null);
  });
});
