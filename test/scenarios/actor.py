#!/usr/bin/env python3
"""Socket actor for the tcpdir scenario suite (python3 stdlib only).

Started as `ip netns exec NS python3 actor.py`; reads one JSON command per line on stdin and
answers one JSON line on stdout: {"id": ..., "ok": true, ...} or {"id": ..., "ok": false,
"error": "..."}. Python rather than Node because scenarios need raw control: SO_REUSEADDR /
SO_REUSEPORT clients, bind() before connect(), ports below 1024, listeners that never accept
(children stay in the accept queue), non-blocking connects left in SYN_SENT.

Commands (addresses are text, ports integers):
  listen   {addr, port, backlog=16, reuseaddr=true, reuseport=false, v6only=null, accept=true}
           accept=true: pending children are accepted before every later command.
  connect  {to:[addr,port], bind:[addr,port]|null, reuseaddr, reuseport, nonblocking, timeout}
           nonblocking=true returns at once (EINPROGRESS), for SYN_SENT scenarios.
  accept   {h, expect=0, timeout=2}  accept on listener h until `expect` children in total
           were accepted from it (or nothing is pending when expect=0).
  wait_connected {h, timeout=10}  wait until a non-blocking connect finished; fails on error.
  shutdown {h, how: "rd"|"wr"|"rdwr"}
  close    {h}
  list     {}  every socket made, with its endpoints as recorded when it was made.
  quit     {}
Every socket answer carries {h, kind, local:[addr,port], remote:[addr,port]|null}.
"""
import errno
import json
import select
import socket
import sys
import time

SOCKS = {}      # handle -> socket object
INFO = {}       # handle -> description (kept after close so TIME_WAIT tuples stay known)
AUTO = set()    # listener handles that accept automatically
CHILDREN = {}   # listener handle -> [child handles]
NEXT = [1]


def family_of(addr):
    return socket.AF_INET6 if ':' in addr else socket.AF_INET


def endpoint(sa):
    # getsockname() of AF_INET6 returns (host, port, flowinfo, scope_id).
    return [sa[0], sa[1]]


def register(sock, kind, remote=None, parent=None):
    h = NEXT[0]
    NEXT[0] += 1
    SOCKS[h] = sock
    try:
        local = endpoint(sock.getsockname())
    except OSError:
        local = None
    if remote is None:
        try:
            remote = endpoint(sock.getpeername())
        except OSError:
            remote = None
    INFO[h] = {'h': h, 'kind': kind, 'local': local, 'remote': remote, 'parent': parent, 'closed': False}
    return INFO[h]


def sweep(h):
    """Accept every child pending on listener h; return how many were accepted."""
    lst = SOCKS.get(h)
    if lst is None:
        return 0
    n = 0
    lst.setblocking(False)
    while True:
        try:
            conn, peer = lst.accept()
        except (BlockingIOError, InterruptedError):
            return n
        info = register(conn, 'accepted', endpoint(peer), parent=h)
        CHILDREN.setdefault(h, []).append(info['h'])
        n += 1


def cmd_listen(c):
    addr, port = c['addr'], int(c['port'])
    s = socket.socket(family_of(addr), socket.SOCK_STREAM)
    if c.get('reuseaddr', True):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if c.get('reuseport', False):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family_of(addr) == socket.AF_INET6 and c.get('v6only') is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if c['v6only'] else 0)
    s.bind((addr, port))
    s.listen(int(c.get('backlog', 16)))
    info = register(s, 'listener')
    CHILDREN[info['h']] = []
    if c.get('accept', True):
        AUTO.add(info['h'])
    return info


def cmd_connect(c):
    to = (c['to'][0], int(c['to'][1]))
    s = socket.socket(family_of(to[0]), socket.SOCK_STREAM)
    if c.get('reuseaddr'):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if c.get('reuseport'):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if c.get('bind'):
        s.bind((c['bind'][0], int(c['bind'][1])))
    if c.get('nonblocking'):
        s.setblocking(False)
        rc = s.connect_ex(to)
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            raise OSError(rc, 'connect to %s:%d: %s' % (to[0], to[1], errno.errorcode.get(rc, rc)))
    else:
        s.settimeout(float(c.get('timeout', 5)))
        try:
            s.connect(to)
        except OSError:
            s.close()
            raise
        s.settimeout(None)
    return register(s, 'connected', [to[0], to[1]])


def cmd_accept(c):
    h = int(c['h'])
    if h not in CHILDREN:
        raise ValueError('handle %d is not a listener' % h)
    expect = int(c.get('expect', 0))
    deadline = time.monotonic() + float(c.get('timeout', 2))
    sweep(h)
    while len(CHILDREN[h]) < expect:
        if time.monotonic() > deadline:
            raise TimeoutError('listener %d: accepted %d of %d expected children' % (h, len(CHILDREN[h]), expect))
        time.sleep(0.005)
        sweep(h)
    return {'children': [INFO[k] for k in CHILDREN[h]]}


def cmd_wait_connected(c):
    h = int(c['h'])
    s = SOCKS[h]
    _, w, _ = select.select([], [s], [], float(c.get('timeout', 10)))
    if not w:
        raise TimeoutError('handle %d: connect did not finish' % h)
    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        raise OSError(err, 'handle %d: connect failed: %s' % (h, errno.errorcode.get(err, err)))
    return INFO[h]


def cmd_shutdown(c):
    how = {'rd': socket.SHUT_RD, 'wr': socket.SHUT_WR, 'rdwr': socket.SHUT_RDWR}[c.get('how', 'wr')]
    SOCKS[int(c['h'])].shutdown(how)
    return INFO[int(c['h'])]


def cmd_close(c):
    h = int(c['h'])
    s = SOCKS.pop(h, None)
    if s is None:
        raise ValueError('no open socket with handle %d' % h)
    s.close()
    AUTO.discard(h)
    INFO[h]['closed'] = True
    return INFO[h]


def cmd_send(c):
    s = SOCKS[int(c['h'])]
    s.setblocking(True)
    s.sendall(c.get('data', 'x').encode())
    return INFO[int(c['h'])]


def cmd_recv(c):
    """Reads what has arrived (waiting up to timeout seconds for the first byte)."""
    s = SOCKS[int(c['h'])]
    s.settimeout(float(c.get('timeout', 5)))
    data = s.recv(65536)
    return {'data': data.decode(errors='replace')}


def cmd_list(c):
    return {'sockets': list(INFO.values())}


HANDLERS = {
    'listen': cmd_listen, 'connect': cmd_connect, 'accept': cmd_accept,
    'wait_connected': cmd_wait_connected, 'shutdown': cmd_shutdown, 'close': cmd_close, 'list': cmd_list,
    'send': cmd_send, 'recv': cmd_recv,
}


def main():
    out = sys.stdout
    out.write(json.dumps({'ready': True}) + '\n')
    out.flush()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        cid = None
        try:
            c = json.loads(line)
            cid = c.get('id')
            for h in list(AUTO):
                sweep(h)
            if c.get('op') == 'quit':
                out.write(json.dumps({'id': cid, 'ok': True}) + '\n')
                out.flush()
                break
            fn = HANDLERS.get(c.get('op'))
            if fn is None:
                raise ValueError('unknown op %r' % c.get('op'))
            res = dict(fn(c))
            res['id'] = cid
            res['ok'] = True
        except Exception as e:  # every failure goes back to the harness, which names the scenario
            res = {'id': cid, 'ok': False, 'error': '%s: %s' % (type(e).__name__, e)}
        out.write(json.dumps(res) + '\n')
        out.flush()
    for s in SOCKS.values():
        s.close()


if __name__ == '__main__':
    main()
