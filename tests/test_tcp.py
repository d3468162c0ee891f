"""TCP end to end on loopback: a server and a client (separate processes,
Python sockets) make exactly N connections, each sending PAYLOAD bytes,
while `ktape-record -e tcp` runs; then check what tcpconnect, tcpaccept,
tcplife, tcpconnlat, tcpstates and pandas see."""

import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import Recorder, analyze, analyze_json

N = 100
PAYLOAD = 10_000

SERVER = r"""
import socket, sys
n = int(sys.argv[1])
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(256)
print(srv.getsockname()[1], flush=True)
got = []
for _ in range(n):
    c, _ = srv.accept()
    total = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        total += len(b)
    got.append(total)
    c.close()
srv.close()
print(",".join(map(str, got)), flush=True)
"""

CLIENT = r"""
import socket, sys
port, n, size = map(int, sys.argv[1:4])
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"x" * size)
    s.shutdown(socket.SHUT_WR)
    assert s.recv(1) == b""
    s.close()
"""


@pytest.fixture(scope="module")
def loopback(tmp_path_factory):
    """Records `-e tcp` around N loopback connections; returns
    (recording, server pid, client pid, port)."""
    work = tmp_path_factory.mktemp("tcp")
    out = work / "out.parquet"
    rec = Recorder(out, "tcp")
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(N)],
                              stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    client = subprocess.Popen([sys.executable, "-c", CLIENT, str(port), str(N), str(PAYLOAD)],
                              stderr=subprocess.PIPE, text=True)
    _, err = client.communicate(timeout=120)
    assert client.returncode == 0, err
    got = server.stdout.readline().strip()
    assert server.wait(timeout=60) == 0
    # Every connection delivered its payload to the server.
    assert [int(x) for x in got.split(",")] == [PAYLOAD] * N
    time.sleep(0.5)
    rec.stop()
    # The client process has exited, but its pid is what subprocess saw.
    return out, server.pid, client.pid, port


def test_tcpconnect_counts_the_clients_connects(loopback):
    out, server_pid, client_pid, port = loopback
    j = analyze_json("tcpconnect", "-P", port, out)
    mine = [r for r in j["rows"] if r["sk_tgid"] == client_pid]
    assert len(mine) == N
    assert all(r["dport"] == port and r["daddr"] == "127.0.0.1" for r in mine)
    assert all(r["sk_comm"].startswith("python") for r in mine)
    # Local ports come from the socket's next transition: never 0, distinct
    # (the sockets are alive at the same time as the server's).
    sports = [r["connect_sport"] for r in mine]
    assert all(p > 0 for p in sports)
    # No connect to this port came from anyone else.
    assert len(j["rows"]) == N
    text = analyze("tcpconnect", "-P", port, out).stdout.splitlines()
    assert text[0].split() == ["PID", "COMM", "IP", "SADDR", "DADDR", "DPORT"]
    assert sum(1 for l in text[1:] if l.split()[0] == str(client_pid) and l.split()[-1] == str(port)) == N
    counts = analyze_json("tcpconnect", "-c", "-P", port, out)["counts"]
    assert counts == [{"saddr": "127.0.0.1", "sport": None, "daddr": "127.0.0.1", "dport": port, "count": N}]


def test_tcpaccept_counts_the_servers_accepts(loopback):
    out, server_pid, client_pid, port = loopback
    rows = analyze_json("tcpaccept", "-P", port, out)["rows"]
    assert len(rows) == N
    assert all(r["tgid"] == server_pid and r["sport"] == port for r in rows)
    assert all(r["daddr"] == "127.0.0.1" and r["dport"] > 0 for r in rows)


def test_tcplife_bytes_match_both_sides(loopback):
    out, server_pid, client_pid, port = loopback
    # Client side: remote port is the server's. bytes_acked counts the
    # acknowledged SYN and FIN as well: PAYLOAD + 2 sent; received: the
    # server's FIN only.
    client = analyze_json("tcplife", "-D", port, out)["rows"]
    assert len(client) == N
    assert all(r["sk_tgid"] == client_pid for r in client)
    assert [r["tx_bytes"] for r in client] == [PAYLOAD + 2] * N
    assert [r["rx_bytes"] for r in client] == [1] * N
    # Server side: local port is the server's; it received PAYLOAD and the
    # client's FIN, and sent only its FIN.
    server = analyze_json("tcplife", "-L", port, out)["rows"]
    assert len(server) == N
    assert all(r["sk_tgid"] == server_pid for r in server)
    assert [r["rx_bytes"] for r in server] == [PAYLOAD + 1] * N
    assert [r["tx_bytes"] for r in server] == [1] * N
    assert all(0 < r["lifetime_ns"] < 10e9 for r in client + server)
    # The local port of each client connection matches what tcpconnect saw.
    connect_ports = sorted(r["connect_sport"] for r in analyze_json("tcpconnect", "-P", port, out)["rows"])
    assert sorted(r["sport"] for r in client) == connect_ports
    assert sorted(r["dport"] for r in server) == connect_ports
    text = analyze("tcplife", "-D", port, out).stdout.splitlines()
    assert text[0].split() == ["PID", "COMM", "LADDR", "LPORT", "RADDR", "RPORT", "TX_KB", "RX_KB", "MS"]
    assert all(l.split()[6] == f"{(PAYLOAD + 2) / 1024:.2f}" for l in text[1:])


def test_tcpconnlat_and_tcpstates(loopback):
    out, server_pid, client_pid, port = loopback
    lat = analyze_json("tcpconnlat", out)["rows"]
    mine = [r for r in lat if r["sk_tgid"] == client_pid and r["dport"] == port]
    assert len(mine) == N
    assert all(0 < r["prev_ns"] < 1e9 for r in mine)
    states = pd.read_parquet(out / "tcp_state")
    client = states[(states["sk_tgid"] == client_pid) & (states["dport"] == port)]
    seq = client.groupby("skaddr")["newstate"].apply(lambda s: list(map(str, s)))
    # Socket addresses are reused, so a socket can have several lives.
    for lives in seq:
        assert lives[:2] == ["SYN_SENT", "ESTABLISHED"]
        assert lives.count("SYN_SENT") == lives.count("CLOSE")
    assert sum(l.count("SYN_SENT") for l in seq) == N
    # A connect runs in the caller: the task is the client.
    syn = client[client["newstate"] == "SYN_SENT"]
    assert (syn["tgid"] == client_pid).all()
    # Passive opens run in softirq: no task is claimed for them.
    passive = states[(states["sport"] == port) & (states["newstate"] == "SYN_RECV")]
    assert len(passive) == N and passive["pid"].isna().all()
    text = analyze("tcpstates", "-L", port, out).stdout.splitlines()
    assert text[0].split()[:3] == ["SKADDR", "C-PID", "C-COMM"]


# ---- packet loss made by nftables (this kernel has no sch_netem) --------

NFT_TABLE = "ktape_test_tcp"


@pytest.fixture
def nft():
    """Adds rules to a table of our own, on the output hook (chain "out")
    or the input hook ("in"); removes the table whatever happens."""
    subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True)
    subprocess.run(["nft", "add", "table", "inet", NFT_TABLE], check=True)
    subprocess.run(["nft", "add", "chain", "inet", NFT_TABLE, "out",
                    "{ type filter hook output priority 0 ; }"], check=True)
    subprocess.run(["nft", "add", "chain", "inet", NFT_TABLE, "in",
                    "{ type filter hook input priority 0 ; }"], check=True)

    def add(rule, chain="out"):
        subprocess.run(["nft", "add", "rule", "inet", NFT_TABLE, chain, *rule.split()], check=True)

    try:
        yield add
    finally:
        subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], check=True)
        listed = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert NFT_TABLE not in listed


def retrans_segs():
    lines = open("/proc/net/snmp").read().splitlines()
    tcp = [l.split() for l in lines if l.startswith("Tcp:")]
    return int(tcp[1][tcp[0].index("RetransSegs")])


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port_closed(port, timeout=20.0):
    """Waits until no full socket on PORT is left (TIME_WAIT is not one).
    Under a drop rule a closed connection's last ACK may be lost; its
    LAST_ACK side then closes only after retransmitting its FIN, maybe
    seconds later, and a recording stopped before that lacks its CLOSE."""
    deadline = time.monotonic() + timeout
    while True:
        busy = []
        for name in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(name) as f:
                next(f)
                for line in f:
                    local, remote, st = line.split()[1:4]
                    ports = {int(local.rsplit(":", 1)[1], 16), int(remote.rsplit(":", 1)[1], 16)}
                    if port in ports and st != "06":  # 06: TIME_WAIT
                        busy.append(line.strip())
        if not busy:
            return
        assert time.monotonic() < deadline, f"sockets on port {port} still open: {busy}"
        time.sleep(0.05)


def retransmit_run(tmp_path, nft, attempt):
    """One loaded transfer through a 30 % drop rule, recorded with -e tcp;
    returns (recording, port, the flow's tcpretrans rows, kernel delta).
    The rule drops packets to the server's port: the client retransmits
    data and its FIN, and the server retransmits its FIN when the client's
    last ACK is dropped, so the flow's rows go both ways."""
    port = free_port()
    # Dropped on input, after TCP sent them: a packet dropped on output
    # fails its send and is sent again, which is not a retransmit.
    nft(f"ip daddr 127.0.0.1 tcp dport {port} numgen random mod 10 < 3 drop", chain="in")
    out = tmp_path / f"out{attempt}.parquet"
    rec = Recorder(out, "tcp")
    before = retrans_segs()
    server = subprocess.Popen([sys.executable, "-c", SERVER.replace('("127.0.0.1", 0)', f'("127.0.0.1", {port})'), "5"],
                              stdout=subprocess.PIPE, text=True)
    client = None
    try:
        assert int(server.stdout.readline()) == port
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(port), "5", "200000"],
                                  stderr=subprocess.PIPE, text=True)
        _, err = client.communicate(timeout=120)
        assert client.returncode == 0, err
        assert server.stdout.readline().strip() == ",".join(["200000"] * 5)
        server.wait(timeout=60)
        # A closed socket retransmits its FIN until acknowledged: once none
        # is left, the flow has made all its retransmits.
        wait_port_closed(port)
        after = retrans_segs()
    finally:
        for p in (client, server):
            if p is not None and p.poll() is None:
                p.kill()
        time.sleep(0.3)
        rec.stop()
    rows = analyze_json("tcpretrans", out)["rows"]
    flow = [r for r in rows if r["daddr"] == "127.0.0.1" and port in (r["sport"], r["dport"])]
    for r in flow:
        owner = client.pid if r["dport"] == port else server.pid
        assert r["sk_tgid"] in (owner, None), r
    # The kernel's own counter over the test includes every retransmit on
    # the machine (other tests may be running), so ours is at most the delta.
    sent = [r for r in flow if not r["error"]]
    assert len(sent) <= after - before
    counts = analyze_json("tcpretrans", "-c", out)["counts"]
    mine = [c for c in counts if port in (c["sport"], c["dport"])]
    assert sum(c["count"] for c in mine) == len(flow)
    return out, port, flow, after - before


def test_tcpretrans_sees_dropped_packets(tmp_path, nft):
    # The input-hook rule drops about 30 % of some 35 packets: the kernel
    # retransmits (13 to 23 times in 5 runs here), and every retransmit of
    # the flow is a row.
    _, _, flow, delta = retransmit_run(tmp_path, nft, 0)
    assert delta >= 3, f"the drop rule made the kernel retransmit only {delta} times"
    assert len(flow) > 0, delta


def test_tcpconnlat_sees_a_lost_syn(tmp_path, nft):
    port = free_port()
    # Drop only the first SYN to the port: the kernel retransmits it ~1 s later.
    nft(f"ip daddr 127.0.0.1 tcp dport {port} tcp flags & (syn|ack) == syn limit rate 1/hour burst 1 packets drop")
    out = tmp_path / "out.parquet"
    rec = Recorder(out, "tcp")
    server = subprocess.Popen([sys.executable, "-c", SERVER.replace('("127.0.0.1", 0)', f'("127.0.0.1", {port})'), "4"],
                              stdout=subprocess.PIPE, text=True)
    client = None
    try:
        assert int(server.stdout.readline()) == port
        client = subprocess.Popen([sys.executable, "-c", CLIENT, str(port), "4", "100"],
                                  stderr=subprocess.PIPE, text=True)
        _, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
        server.wait(timeout=30)
    finally:
        for p in (client, server):
            if p is not None and p.poll() is None:
                p.kill()
        time.sleep(0.3)
        rec.stop()
    rows = [r for r in analyze_json("tcpconnlat", out)["rows"] if r["dport"] == port]
    assert len(rows) == 4 and all(r["sk_tgid"] == client.pid for r in rows)
    lat_ms = [r["prev_ns"] / 1e6 for r in rows]
    assert lat_ms[0] >= 900, lat_ms
    assert all(l < 100 for l in lat_ms[1:]), lat_ms
    slow = analyze_json("tcpconnlat", "--min", "900", out)["rows"]
    assert [r["dport"] for r in slow if r["dport"] == port] == [port]


# ---- uid: tcpconnect -U / -u --------------------------------------------

NOBODY = 65534


def test_tcpconnect_shows_the_clients_uid(tmp_path):
    """The client runs as nobody (uid 65534), the server as root: -U shows
    the connecting task's uid, -u keeps only that user's connects, and
    tcp_accept records the accepter's uid (root)."""
    out = tmp_path / "out.parquet"
    rec = Recorder(out, "tcp")
    server = subprocess.Popen([sys.executable, "-c", SERVER, "3"], stdout=subprocess.PIPE, text=True)
    client = None
    try:
        port = int(server.stdout.readline())
        client = subprocess.Popen(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                                   sys.executable, "-c", CLIENT, str(port), "3", "100"],
                                  stderr=subprocess.PIPE, text=True)
        _, err = client.communicate(timeout=30)
        assert client.returncode == 0, err
        assert server.wait(timeout=30) == 0
    finally:
        for p in (client, server):
            if p is not None and p.poll() is None:
                p.kill()
        time.sleep(0.3)
        rec.stop()
    rows = analyze_json("tcpconnect", "-P", port, out)["rows"]
    assert len(rows) == 3 and all(r["uid"] == NOBODY and r["sk_tgid"] == client.pid for r in rows)
    text = analyze("tcpconnect", "-U", "-P", port, out).stdout.splitlines()
    assert text[0].split()[:2] == ["UID", "PID"]
    assert [l.split()[:2] for l in text[1:]] == [[str(NOBODY), str(client.pid)]] * 3
    assert len(analyze_json("tcpconnect", "-u", NOBODY, "-P", port, out)["rows"]) == 3
    assert analyze_json("tcpconnect", "-u", 0, "-P", port, out)["rows"] == []
    accepts = analyze_json("tcpaccept", "-P", port, out)["rows"]
    assert len(accepts) == 3 and all(r["uid"] == 0 and r["tgid"] == server.pid for r in accepts)
