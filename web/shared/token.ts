// The bearer token, asked for once per browser tab and kept in sessionStorage (gone when the tab
// closes). Shared by the console and the GraphQL IDE: both are served from the same origin.
const KEY = 'tcpdir.token';

export function storedToken(): string | null {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function storeToken(token: string | null): void {
  if (token) sessionStorage.setItem(KEY, token);
  else sessionStorage.removeItem(KEY);
}

export function authHeader(): Record<string, string> {
  const t = storedToken();
  return t ? { authorization: `Bearer ${t}` } : {};
}
