// SPDX-License-Identifier: GPL-2.0
// Uprobes on the application's TLS library: each SSL_read/SSL_write that
// moved bytes becomes ring-buffer events carrying its plaintext. The socket
// fd of an SSL object is learned from the read/write syscalls the library
// makes while inside those calls (a raw tracepoint, since the kernel has no
// kprobes), so no struct offsets of OpenSSL are assumed.
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define CHUNK 16384
#define MAX_CHUNKS 8

enum dir { DIR_WRITE = 0, DIR_READ = 1 };

// Drop counters, indexed by these reasons.
enum loss { LOSS_RING_FULL = 0, LOSS_TRUNCATED = 1, LOSS_READ_FAULT = 2, LOSS_MAX };

struct event {
	__u64 ts;
	__u64 conn;   // the SSL object's address
	__u32 pid;    // in the configured PID namespace
	__u32 tid;
	__s32 fd;     // -1 until a syscall of the connection was seen
	__u8 dir;
	__u8 lib;
	__u16 _pad;
	__u32 total;  // bytes the call moved
	__u32 offset; // of this chunk in the call's bytes
	__u32 len;    // bytes of this chunk in data
	__u32 _pad2;
	__u8 data[CHUNK];
};

// Makes the event type part of the object's BTF, for bpf2go's Go type.
const struct event *unused_event __attribute__((unused));

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
	__type(value, __s32);
} conn_fd SEC(".maps");

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
	__u32 pid, tid;
	if (ns_pid(&pid, &tid))
		return 0;
	__s32 fd = -1;
	struct conn_key ck = {.conn = call.conn, .tgid = id >> 32};
	__s32 *known = bpf_map_lookup_elem(&conn_fd, &ck);
	if (known)
		fd = *known;
	__u64 ts = bpf_ktime_get_ns();

	for (int i = 0; i < MAX_CHUNKS; i++) {
		__u64 off = (__u64)i * CHUNK;
		if (off >= total)
			return 0;
		__u64 n = total - off;
		if (n > CHUNK)
			n = CHUNK;
		struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			lose(LOSS_RING_FULL);
			return 0;
		}
		e->ts = ts;
		e->conn = call.conn;
		e->pid = pid;
		e->tid = tid;
		e->fd = fd;
		e->dir = call.dir;
		e->lib = call.lib;
		e->total = total;
		e->offset = off;
		e->len = n;
		__u32 len = n;
		if (len > CHUNK)
			len = CHUNK;
		if (bpf_probe_read_user(e->data, len, (void *)(call.buf + off))) {
			e->len = 0;
			lose(LOSS_READ_FAULT);
		}
		bpf_ringbuf_submit(e, 0);
	}
	if (total > (__u64)MAX_CHUNKS * CHUNK)
		lose(LOSS_TRUNCATED);
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
	__s32 fd = (__s32)di;
	struct conn_key ck = {.conn = a->conn, .tgid = id >> 32};
	bpf_map_update_elem(&conn_fd, &ck, &fd, BPF_ANY);
	return 0;
}
