// Which process is which, read from Linux /proc (proc(5)): the children a
// supervisor started, and the TCP sockets a process holds, so suites can tell
// which process owns a port and whether two services really talk over TCP.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export interface ProcessInfo {
  pid: number;
  /** The command line, arguments joined by spaces. */
  cmd: string;
}

/** The direct children of `pid`. */
export function childrenOf(pid: number): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const ppid = /^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${name}/status`, "utf8"))?.[1];
      if (Number(ppid) === pid) out.push({ pid: Number(name), cmd: readFileSync(`/proc/${name}/cmdline`, "utf8").replaceAll("\0", " ").trim() });
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

export interface TcpSocket {
  localPort: number;
  remotePort: number;
  /** "LISTEN", "ESTABLISHED" or another state of include/net/tcp_states.h, by its number. */
  state: string;
  inode: string;
}

const STATES: Record<string, string> = { "01": "ESTABLISHED", "0A": "LISTEN" };

/** Every TCP socket of the machine (IPv4 and IPv6), from /proc/net/tcp{,6}. */
function tcpSockets(): TcpSocket[] {
  return ["/proc/net/tcp", "/proc/net/tcp6"].flatMap((file) =>
    readFileSync(file, "utf8")
      .split("\n")
      .slice(1)
      .map((line) => line.trim().split(/\s+/))
      .filter((cols) => cols.length > 9)
      .map((cols) => ({
        localPort: parseInt(cols[1].split(":")[1], 16),
        remotePort: parseInt(cols[2].split(":")[1], 16),
        state: STATES[cols[3]] ?? cols[3],
        inode: cols[9],
      })),
  );
}

/** The TCP sockets process `pid` has open. */
export function tcpSocketsOf(pid: number): TcpSocket[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch {
      /* closed meanwhile */
    }
  }
  return tcpSockets().filter((s) => inodes.has(s.inode));
}
