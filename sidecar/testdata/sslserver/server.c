/*
 * An HTTP/1.1 server over TLS and over plaintext, for TLS capture's tests.
 * Built statically against Debian's OpenSSL (libssl.a, libcrypto.a), its
 * executable, not a mapped libssl.so, holds SSL_read and SSL_write: what
 * discovery finds by the symbol table. It answers every GET with
 * {"path":"PATH","n":"N"} (N from the query's n=), as the nginx of the
 * same tests does, on keep-alive connections served one at a time.
 *
 *	sslserver CERT KEY TLS_PORT PLAIN_PORT
 */
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*io_fn)(void *conn, char *buf, int n);

static int tls_read(void *c, char *b, int n) { return SSL_read(c, b, n); }
static int tls_write(void *c, char *b, int n) { return SSL_write(c, b, n); }
static int plain_read(void *c, char *b, int n) { return (int)read(*(int *)c, b, (size_t)n); }
static int plain_write(void *c, char *b, int n) { return (int)write(*(int *)c, b, (size_t)n); }

static int listen_on(int port) {
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr.s_addr = htonl(INADDR_ANY)};
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 16) < 0) {
		perror("listen");
		exit(1);
	}
	return fd;
}

/* serve answers the requests of one connection until the client closes it. */
static void serve(void *c, io_fn rd, io_fn wr) {
	char buf[8192];
	int have = 0;
	for (;;) {
		char *end;
		buf[have] = 0;
		while (!(end = strstr(buf, "\r\n\r\n"))) {
			if (have >= (int)sizeof buf - 1)
				return;
			int n = rd(c, buf + have, (int)sizeof buf - 1 - have);
			if (n <= 0)
				return;
			have += n;
			buf[have] = 0;
		}
		char target[512] = "", n[64] = "", body[640], resp[1024];
		if (sscanf(buf, "GET %511s", target) != 1)
			return;
		char *q = strchr(target, '?');
		if (q) {
			*q++ = 0;
			char *arg = strncmp(q, "n=", 2) == 0 ? q : strstr(q, "&n=");
			if (arg)
				sscanf(arg + (*arg == '&' ? 3 : 2), "%63[^&]", n);
		}
		int bl = snprintf(body, sizeof body, "{\"path\":\"%s\",\"n\":\"%s\"}", target, n);
		int rl = snprintf(resp, sizeof resp, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", bl, body);
		if (wr(c, resp, rl) != rl)
			return;
		int used = (int)(end + 4 - buf);
		memmove(buf, buf + used, (size_t)(have - used + 1));
		have -= used;
	}
}

int main(int argc, char **argv) {
	if (argc != 5) {
		fprintf(stderr, "usage: %s CERT KEY TLS_PORT PLAIN_PORT\n", argv[0]);
		return 2;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || SSL_CTX_use_certificate_file(ctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1) {
		ERR_print_errors_fp(stderr);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	int tl = listen_on(atoi(argv[3])), pl = listen_on(atoi(argv[4]));
	for (;;) {
		fd_set fds;
		FD_ZERO(&fds);
		FD_SET(tl, &fds);
		FD_SET(pl, &fds);
		if (select((tl > pl ? tl : pl) + 1, &fds, NULL, NULL, NULL) < 0)
			continue;
		if (FD_ISSET(pl, &fds)) {
			int c = accept(pl, NULL, NULL);
			if (c >= 0) {
				serve(&c, plain_read, plain_write);
				close(c);
			}
		}
		if (FD_ISSET(tl, &fds)) {
			int c = accept(tl, NULL, NULL);
			if (c < 0)
				continue;
			SSL *s = SSL_new(ctx);
			SSL_set_fd(s, c);
			if (SSL_accept(s) == 1) {
				serve(s, tls_read, tls_write);
				SSL_shutdown(s);
			} else {
				ERR_print_errors_fp(stderr);
			}
			SSL_free(s);
			close(c);
		}
	}
}
