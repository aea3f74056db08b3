import type { WebSocket } from 'ws';
import type { ConsoleHub, LiveClient } from './hub.ts';
import type { Session, SessionStore, UserStore } from './users.ts';

/** setTimeout's longest delay; a later expiry is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * One console's live websocket. It lives only as long as the session it was opened with: it is
 * closed (4401) at once on log-out, on the session's idle or hard expiry and when the user's
 * role, department or password changes or the user is removed, so it never keeps a role the user
 * no longer has. Its pings do not renew the session: only requests, which a person makes, do.
 */
export function attachLiveSocket(socket: WebSocket, session: Session, o: { hub: ConsoleHub; sessions: SessionStore; users: UserStore; since: number | undefined }): void {
  const { hub, sessions, users } = o;
  const client: LiveClient = {
    actor: session.actor,
    send(text) {
      if (socket.readyState !== 1) return true;
      if (socket.bufferedAmount > 8 * 1024 * 1024) return false;
      socket.send(text);
      return true;
    },
    close(code, reason) { socket.close(code, reason); },
  };
  let timer: NodeJS.Timeout | null = null;
  const end = (reason: string) => {
    if (socket.readyState === 0 || socket.readyState === 1) socket.close(4401, reason);
  };
  // Wakes at the session's expiry; a request meanwhile has moved it, so it checks again then.
  const watchExpiry = () => {
    const s = sessions.peek(session.id);
    if (!s) return end('session expired');
    timer = setTimeout(watchExpiry, Math.min(Math.max(s.expiresAt - Date.now(), 0) + 5, MAX_TIMER_MS));
  };
  const stopEnd = sessions.onEnd(session.id, () => end('session ended'));
  const stopUsers = users.onChange((name) => {
    if (name !== session.actor.username) return;
    const now = users.actor(name);
    if (!now || now.role !== session.actor.role || now.department !== session.actor.department) end('your role changed; log in again');
  });
  hub.attach(client, o.since);
  watchExpiry();
  socket.on('message', (data: Buffer) => {
    // The only message a console sends is a ping; anything else is refused, never acted on.
    let msg: { type?: string };
    try { msg = JSON.parse(String(data)); } catch { msg = {}; }
    if (!sessions.peek(session.id)) return end('session expired');
    if (msg.type === 'ping') socket.send(JSON.stringify({ type: 'pong', seq: hub.seq }));
    else socket.send(JSON.stringify({ type: 'error', code: 'CONSOLE_FORBIDDEN', message: 'this socket only takes pings' }));
  });
  socket.on('close', () => {
    if (timer) clearTimeout(timer);
    stopEnd();
    stopUsers();
    hub.detach(client);
  });
}
