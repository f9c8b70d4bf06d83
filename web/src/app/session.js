// The signed-in person: token, role and id in sessionStorage only (gone when
// the tab closes; never localStorage, never a URL, never logged).
const KEYS = { token: 'rxd.token', role: 'rxd.role', id: 'rxd.id' };

// The page each role works on.
export const ROLE_PAGE = {
  pharmacy: '/pharmacy/', courier: '/courier/',
  operator: '/console/', desk: '/console/', auditor: '/console/',
};

export function session() {
  const token = sessionStorage.getItem(KEYS.token);
  if (!token) return null;
  return { token, role: sessionStorage.getItem(KEYS.role) || '', id: sessionStorage.getItem(KEYS.id) || '' };
}

export function signIn(token, role, id) {
  sessionStorage.setItem(KEYS.token, token);
  sessionStorage.setItem(KEYS.role, role);
  sessionStorage.setItem(KEYS.id, id);
}

export function signOut() {
  for (const k of Object.values(KEYS)) sessionStorage.removeItem(k);
}

// A page without a token goes to the login page.
export function requireSession() {
  const s = session();
  if (!s) {
    location.replace('/login/');
    throw new Error('not signed in');
  }
  return s;
}

// role and id from a token's readable payload (rxd1.<b64url(role:id:exp)>.<sig>),
// for a pasted token; the gateways still check the signature.
export function tokenClaims(token) {
  const parts = token.trim().split('.');
  if (parts.length !== 3 || parts[0] !== 'rxd1') return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const [role, id, exp] = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)).split(':');
    if (!role || !id) return null;
    return { role, id, exp: Number(exp) };
  } catch (e) {
    return null;
  }
}
