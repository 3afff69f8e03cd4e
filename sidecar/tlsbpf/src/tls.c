// SPDX-License-Identifier: GPL-2.0
// Uprobes on the application's TLS library: each SSL_read/SSL_write (or Go
// crypto/tls.(*Conn).Read/Write) that moved bytes becomes ring-buffer
// events carrying its plaintext. The socket of an SSL object is learned
// from the read/write syscalls the library makes while inside those calls
// (a raw tracepoint, since the kernel has no kprobes), so no struct offsets
// of OpenSSL are assumed; Go's is read from the tls.Conn itself (see
// go_socket). Its TCP 4-tuple is read from the kernel's socket right there,
// while the fd is certainly open: looking it up later from user space lost
// connections that closed first.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "kernel.h"

char LICENSE[] SEC("license") = "GPL";

#define CHUNK 16384
#define MAX_CHUNKS 8

enum dir { DIR_WRITE = 0, DIR_READ = 1 };

// Drop counters, indexed by these reasons.
enum loss { LOSS_RING_FULL = 0, LOSS_TRUNCATED = 1, LOSS_READ_FAULT = 2, LOSS_MAX };

// The TCP connection of an SSL object, as the kernel's socket had it when
// the library last used it. family is 0 while unknown; addresses are in
// network order (IPv4 in the first 4 bytes), ports in host order; ino is
// the socket's inode, which names the connection while it is open.
struct sockinfo {
	__u64 ino;
	__s32 fd;
	__u16 family;
	__u16 sport; // the process's end
	__u16 dport;
	__u16 _pad[3];
	__u8 saddr[16];
	__u8 daddr[16];
};

struct event {
	__u64 ts;
	__u64 conn;   // the SSL object's address
	__u32 pid;    // in the configured PID namespace
	__u32 tid;
	__u8 dir;
	__u8 lib;
	__u16 _pad;
	__u32 total;  // bytes the call moved
	__u32 offset; // of this chunk in the call's bytes
	__u32 len;    // bytes of this chunk in data
	struct sockinfo sock; // family 0 until a syscall of the connection was seen
	__u8 data[CHUNK];
};

// Makes the event type part of the object's BTF, for bpf2go's Go type.
const struct event *unused_event __attribute__((unused));

// Makes the socket type part of the object's BTF, for bpf2go's Go type.
const struct sockinfo *unused_sockinfo __attribute__((unused));

// Set by user space before attaching.
volatile const __u64 pidns_dev = 0;
volatile const __u64 pidns_ino = 0;

struct active {
	__u64 conn;
	__u64 buf;
	__u64 ex_len; // size_t* of SSL_*_ex, 0 for the plain calls
	__u8 dir;
	__u8 lib;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); // pid_tgid
	__type(value, struct active);
} active SEC(".maps");

// An SSL object's address is only unique within its process: forked
// servers share heap layouts.
struct conn_key {
	__u64 conn;
	__u32 tgid;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct sockinfo);
} conn_sock SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} losses SEC(".maps");

static __always_inline void lose(__u32 reason)
{
	__u64 *n = bpf_map_lookup_elem(&losses, &reason);
	if (n)
		*n += 1;
}

static __always_inline int ns_pid(__u32 *pid, __u32 *tid)
{
	struct bpf_pidns_info ns = {};
	if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
		return -1;
	*pid = ns.tgid;
	*tid = ns.pid;
	return 0;
}

static __always_inline int enter(struct pt_regs *ctx, __u8 dir, __u8 lib, int ex)
{
	__u32 pid, tid;
	if (ns_pid(&pid, &tid))
		return 0;
	struct active a = {
		.conn = PT_REGS_PARM1(ctx),
		.buf = PT_REGS_PARM2(ctx),
		.ex_len = ex ? PT_REGS_PARM4(ctx) : 0,
		.dir = dir,
		.lib = lib,
	};
	__u64 id = bpf_get_current_pid_tgid();
	bpf_map_update_elem(&active, &id, &a, BPF_ANY);
	return 0;
}

// emit puts the total bytes of one call at buf into the ring, in chunks.
static __always_inline void emit(__u64 conn, __u64 buf, __u8 dir, __u8 lib, __u64 total, __u32 tgid)
{
	__u32 pid, tid;
	if (ns_pid(&pid, &tid))
		return;
	struct sockinfo sock = {.fd = -1};
	struct conn_key ck = {.conn = conn, .tgid = tgid};
	struct sockinfo *known = bpf_map_lookup_elem(&conn_sock, &ck);
	if (known)
		sock = *known;
	__u64 ts = bpf_ktime_get_ns();

	for (int i = 0; i < MAX_CHUNKS; i++) {
		__u64 off = (__u64)i * CHUNK;
		if (off >= total)
			return;
		__u64 n = total - off;
		if (n > CHUNK)
			n = CHUNK;
		struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			lose(LOSS_RING_FULL);
			return;
		}
		e->ts = ts;
		e->conn = conn;
		e->pid = pid;
		e->tid = tid;
		e->sock = sock;
		e->dir = dir;
		e->lib = lib;
		e->total = total;
		e->offset = off;
		e->len = n;
		__u32 len = n;
		if (len > CHUNK)
			len = CHUNK;
		if (bpf_probe_read_user(e->data, len, (void *)(buf + off))) {
			e->len = 0;
			lose(LOSS_READ_FAULT);
		}
		bpf_ringbuf_submit(e, 0);
	}
	if (total > (__u64)MAX_CHUNKS * CHUNK)
		lose(LOSS_TRUNCATED);
}

static __always_inline int leave(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct active *a = bpf_map_lookup_elem(&active, &id);
	if (!a)
		return 0;
	struct active call = *a;
	bpf_map_delete_elem(&active, &id);

	// Every probed function returns a C int: the upper half of rax is not
	// part of the value, and -1 must not read as 4 GiB moved.
	int ret = (int)PT_REGS_RC(ctx);
	__u64 total = 0;
	if (call.ex_len) {
		if (ret != 1)
			return 0;
		if (bpf_probe_read_user(&total, sizeof(total), (void *)call.ex_len)) {
			lose(LOSS_READ_FAULT);
			return 0;
		}
	} else {
		if (ret <= 0)
			return 0;
		total = ret;
	}
	emit(call.conn, call.buf, call.dir, call.lib, total, id >> 32);
	return 0;
}

#define PROBES(lib, id)                                                             \
	SEC("uprobe") int lib##_write_enter(struct pt_regs *ctx) { return enter(ctx, DIR_WRITE, id, 0); } \
	SEC("uprobe") int lib##_read_enter(struct pt_regs *ctx) { return enter(ctx, DIR_READ, id, 0); }   \
	SEC("uprobe") int lib##_write_ex_enter(struct pt_regs *ctx) { return enter(ctx, DIR_WRITE, id, 1); } \
	SEC("uprobe") int lib##_read_ex_enter(struct pt_regs *ctx) { return enter(ctx, DIR_READ, id, 1); }

PROBES(openssl, 1)
PROBES(boringssl, 2)

SEC("uretprobe") int ssl_leave(struct pt_regs *ctx) { return leave(ctx); }

// tcp_socket fills info with the TCP connection behind fd of the current
// task: task->files->fdt->fd[fd] is a socket file whose private_data is
// its struct socket. It fails for anything that is not a TCP socket over
// IPv4 or IPv6.
static __always_inline int tcp_socket(__s32 fd, struct sockinfo *info)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd < 0 || (__u32)fd >= BPF_CORE_READ(fdt, max_fds))
		return -1;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;
	if (bpf_core_read(&file, sizeof(file), &fds[fd]) || !file)
		return -1;
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	if ((BPF_CORE_READ(inode, i_mode) & S_IFMT) != S_IFSOCK)
		return -1;
	struct socket *sock = BPF_CORE_READ(file, private_data);
	// A socket file's socket points back at it: private_data is a socket.
	if (BPF_CORE_READ(sock, file) != file || BPF_CORE_READ(sock, type) != SOCK_STREAM)
		return -1;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family == AF_INET) {
		__u32 saddr = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 daddr = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(info->saddr, &saddr, 4);
		__builtin_memcpy(info->daddr, &daddr, 4);
	} else if (family == AF_INET6 && bpf_core_field_exists(sk->__sk_common.skc_v6_daddr)) {
		BPF_CORE_READ_INTO(&info->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&info->daddr, sk, __sk_common.skc_v6_daddr);
	} else {
		return -1;
	}
	info->fd = fd;
	info->family = family;
	info->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	info->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	info->ino = BPF_CORE_READ(inode, i_ino);
	return 0;
}

// Syscalls whose first argument is the socket fd the library reads or
// writes: read, write, readv, writev, sendto, recvfrom, sendmsg, recvmsg.
SEC("raw_tracepoint/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	long nr = ctx->args[1];
	switch (nr) {
	case 0: case 1: case 19: case 20: case 44: case 45: case 46: case 47:
		break;
	default:
		return 0;
	}
	__u64 id = bpf_get_current_pid_tgid();
	struct active *a = bpf_map_lookup_elem(&active, &id);
	if (!a)
		return 0;
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	unsigned long di = 0;
	bpf_probe_read_kernel(&di, sizeof(di), &regs->rdi);
	struct sockinfo info = {};
	// Another file (a log, a pipe) written inside an SSL call says
	// nothing about the connection.
	if (tcp_socket((__s32)di, &info))
		return 0;
	struct conn_key ck = {.conn = a->conn, .tgid = id >> 32};
	bpf_map_update_elem(&conn_sock, &ck, &info, BPF_ANY);
	return 0;
}

// Go's crypto/tls. Go has no stable C ABI: these follow ABIInternal on
// amd64 (Go 1.17 on), where a method's receiver and arguments are passed
// in rax, rbx, rcx, rdi, ..., its results come back in rax, rbx, ..., and
// r14 holds the running goroutine (g). User space puts the entry probes
// just past the functions' stack check, which a call that grows its stack
// runs twice.
//
// A Write is emitted at its entry, all of b: at its RET the peer may have
// answered already and another goroutine read the answer, which would then
// come first (a client's response before its request). Go's Write writes
// all of b or breaks the connection for good.
//
// A Read is emitted at its RET: Go moves stacks, which breaks uretprobes,
// so go_leave sits on every RET instruction of the function. A goroutine
// blocked in Read may resume on another thread, so the call in flight is
// keyed by its goroutine, not its thread.

#define LIB_GO 3

// Offsets in Go's runtime and standard library, the same from Go 1.17
// through 1.26: a runtime itab is inter, _type, hash (padded to 8), then
// fun[]; poll.FD is an fdMutex (state uint64, rsema and wsema uint32)
// followed by Sysfd.
#define GO_ITAB_FUN0 24
#define GO_POLLFD_SYSFD 16

struct go_key {
	__u64 g;
	__u32 tgid;
	__u32 _pad;
};

struct go_read {
	__u64 conn; // the *tls.Conn
	__u64 buf;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct go_read);
} go_active SEC(".maps");

// go_socket notes the TCP connection under the tls.Conn at conn. Its first
// field is the net.Conn it encrypts, an interface (itab, data). Only when
// that is a *net.TCPConn is data a pointer to a *netFD, whose poll.FD holds
// the fd: any other conn (one wrapped by the application, a pipe) is left
// unmapped rather than read with the wrong layout. The probe's cookie is
// the link-time distance from the probed instruction to
// net.(*TCPConn).Close, 0 when the binary has none; added to the probe's
// address it gives that method's running address, PIE or not. net.Conn's
// methods sorted by name start with Close, so fun[0] of the itab is it
// exactly when the conn is a *net.TCPConn.
static __always_inline void go_socket(struct pt_regs *ctx, __u64 conn, __u32 tgid)
{
	struct conn_key ck = {.conn = conn, .tgid = tgid};
	struct sockinfo info = {};
	__u64 delta = bpf_get_attach_cookie(ctx);
	__u64 iface[2] = {};
	__u64 fun0 = 0, netfd = 0;
	__s64 sysfd = -1;
	if (!delta || bpf_probe_read_user(iface, sizeof(iface), (void *)conn) || !iface[0] ||
	    bpf_probe_read_user(&fun0, sizeof(fun0), (void *)(iface[0] + GO_ITAB_FUN0)) ||
	    fun0 != PT_REGS_IP(ctx) + delta ||
	    bpf_probe_read_user(&netfd, sizeof(netfd), (void *)iface[1]) || !netfd ||
	    bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + GO_POLLFD_SYSFD)) ||
	    sysfd < 0 || sysfd > 0x7fffffff || tcp_socket((__s32)sysfd, &info)) {
		// The garbage collector reuses a freed tls.Conn's address: what
		// an earlier conn there was mapped to must not carry over.
		bpf_map_delete_elem(&conn_sock, &ck);
		return;
	}
	bpf_map_update_elem(&conn_sock, &ck, &info, BPF_ANY);
}

// On crypto/tls.(*Conn).Write, func (c *Conn) Write(b []byte) (int, error):
// c in rax, b's pointer and length in rbx and rcx.
SEC("uprobe") int go_write_enter(struct pt_regs *ctx)
{
	__u32 pid, tid;
	if (ns_pid(&pid, &tid))
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 conn = ctx->rax;
	go_socket(ctx, conn, tgid);
	__s64 n = ctx->rcx;
	if (n > 0)
		emit(conn, ctx->rbx, DIR_WRITE, LIB_GO, n, tgid);
	return 0;
}

// On crypto/tls.(*Conn).Read, the same signature.
SEC("uprobe") int go_read_enter(struct pt_regs *ctx)
{
	__u32 pid, tid;
	if (ns_pid(&pid, &tid))
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_key k = {.g = ctx->r14, .tgid = tgid};
	struct go_read r = {.conn = ctx->rax, .buf = ctx->rbx};
	bpf_map_update_elem(&go_active, &k, &r, BPF_ANY);
	go_socket(ctx, r.conn, tgid);
	return 0;
}

// On every RET of Read: rax is the byte count returned.
SEC("uprobe") int go_leave(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct go_key k = {.g = ctx->r14, .tgid = tgid};
	struct go_read *r = bpf_map_lookup_elem(&go_active, &k);
	if (!r)
		return 0;
	struct go_read call = *r;
	bpf_map_delete_elem(&go_active, &k);
	__s64 n = ctx->rax;
	if (n <= 0)
		return 0;
	emit(call.conn, call.buf, DIR_READ, LIB_GO, n, tgid);
	return 0;
}
