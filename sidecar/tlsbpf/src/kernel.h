// SPDX-License-Identifier: GPL-2.0
// The few kernel types tls.c reads, each with only the fields it uses.
// preserve_access_index makes every access a CO-RE relocation: the loader
// finds each field's offset in the running kernel's BTF
// (/sys/kernel/btf/vmlinux) by name, so no vmlinux.h of one kernel build is
// needed and the layout here need not match any kernel's.
#ifndef PODTAP_KERNEL_H
#define PODTAP_KERNEL_H

#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define SOCK_STREAM 1
#define AF_INET 2
#define AF_INET6 10

struct in6_addr___podtap {
	__u8 s6_addr[16];
} __attribute__((preserve_access_index));

// In the kernel, the address and port pairs sit in anonymous unions;
// CO-RE looks through anonymous members when matching names.
struct sock_common {
	__u32 skc_daddr;
	__u32 skc_rcv_saddr;
	__u16 skc_dport; // network order
	__u16 skc_num;   // host order
	unsigned short skc_family;
	struct in6_addr___podtap skc_v6_daddr;
	struct in6_addr___podtap skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct file;

struct socket {
	short type;
	struct file *file;
	struct sock *sk;
} __attribute__((preserve_access_index));

struct inode {
	unsigned short i_mode;
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct task_struct {
	struct files_struct *files;
} __attribute__((preserve_access_index));

#endif
